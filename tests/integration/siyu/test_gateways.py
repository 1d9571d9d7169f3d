"""siyu.gateways: without WECOM_API_BASE the clients use the local fake, with its extensions."""

from __future__ import annotations

from pathlib import Path

from adapters.campaign_gateway import Delivery
from fakes.wecom import RunningFakeWeCom
from siyu.gateways import campaign_gateway_for, fake_wecom_for
from siyu.settings import Settings


def settings_for(**values: object) -> Settings:
    return Settings(database_url=None, broker_url=None, data_dir=Path("."), secret=b"s",
                    **values)  # type: ignore[arg-type]


def test_the_wired_client_uses_the_faithful_fake_when_no_wecom_is_set(
        fake_wecom: RunningFakeWeCom) -> None:
    # Given settings without WECOM_API_BASE, pointing at the running fake's port
    settings = settings_for(fake_gateway_port=fake_wecom.port)
    fake_wecom.state.campaigns.grant_subscription("o-1", "tpl")
    # When a mass send and a direct message go through the wired client
    with campaign_gateway_for(settings) as gateway:
        created = gateway.create_mass_send("alice", ["c1"], "hi", "k")
        direct = gateway.send_direct("mini_program", "o-1", "tpl", {}, "d")
    # Then both reach the fake, which knows no dedupe key (as WeCom)
    assert created.delivery is direct.delivery is Delivery.ACCEPTED
    body = fake_wecom.state.campaigns.tasks()
    assert [t["state"] for t in body] == ["pending"]
    assert fake_wecom.state.campaigns.dedupe_extension is False


def test_the_wired_client_has_no_direct_channel_against_real_wecom_without_an_app_id() -> None:
    # Given a real WeCom base but no mini-program credentials
    settings = settings_for(wecom_api_base="http://127.0.0.1:9", wecom_corp_id="ww",
                            wecom_corp_secret="s")
    # When / Then direct messages are refused at once, never sent to a fake that is not there
    with campaign_gateway_for(settings) as gateway:
        result = gateway.send_direct("mini_program", "o-1", "tpl", {}, "d")
    assert (result.delivery, result.reason) == (Delivery.REFUSED, "direct channel not configured")


def test_the_workers_fake_confirms_tasks_only_when_configured_to() -> None:
    # Given / When the worker's fake is built from settings / Then it waits for a member
    assert fake_wecom_for(settings_for()).campaigns.auto_confirm_after is None
    assert fake_wecom_for(settings_for(fake_auto_confirm_seconds=30.0)).campaigns \
        .auto_confirm_after == 30.0
