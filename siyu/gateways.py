"""Which outbound clients a process talks to: the configured services, else the local fakes.

Without ``WECOM_API_BASE`` (``SMS_API_BASE``) the clients point at the local fake WeCom
(its ``/sms``) on ``SIYU_FAKE_GATEWAY_PORT`` with the fake's credentials. The fake behaves
as the real services do (no dedupe extension; tasks wait for the member's confirmation
unless ``SIYU_FAKE_AUTO_CONFIRM_SECONDS`` is set, a demo's convenience). This is wiring: it is the one place
outside the tests and the benchmarks that knows the fakes (:mod:`fakes`).
"""

from __future__ import annotations

from adapters.campaign_client import WeComCampaignGateway
from adapters.contact_ways import WeComContactWays
from adapters.corp_tags import WeComCorpTags
from adapters.group_chats import WeComGroupChats
from adapters.moment_client import WeComMoments
from adapters.sms_client import TencentSms
from adapters.wechat_login import WeChatLogin
from adapters.wecom_client import WeComGateway
from fakes.campaigns import FakeCampaigns
from fakes.sms import FAKE_SMS_APP_ID, FAKE_SMS_SECRET_ID, FAKE_SMS_SECRET_KEY
from fakes.wecom import (
    FAKE_APP_ID,
    FAKE_APP_SECRET,
    FAKE_CORP_ID,
    FAKE_CORP_SECRET,
    FakeWeCom,
    RunningFakeWeCom,
    run_fake_wecom,
)
from siyu.settings import Settings


def gateway_for(settings: Settings) -> WeComGateway:
    """The WeCom client: ``WECOM_API_BASE``, else the local fake on its port."""
    base = settings.wecom_api_base or f"http://127.0.0.1:{settings.fake_gateway_port}"
    corp_id = settings.wecom_corp_id or FAKE_CORP_ID
    corp_secret = settings.wecom_corp_secret or FAKE_CORP_SECRET
    return WeComGateway(base, str(corp_id), str(corp_secret))


def contact_ways_for(settings: Settings) -> WeComContactWays:
    """The 「联系我」 contact-way client: ``WECOM_API_BASE``, else the local fake."""
    base = settings.wecom_api_base or f"http://127.0.0.1:{settings.fake_gateway_port}"
    return WeComContactWays(base, str(settings.wecom_corp_id or FAKE_CORP_ID),
                            str(settings.wecom_corp_secret or FAKE_CORP_SECRET))


def corp_id_of(settings: Settings) -> str:
    """The WeCom corp the platform serves: ``WECOM_CORP_ID``, else the local fake's."""
    return str(settings.wecom_corp_id or FAKE_CORP_ID)


def corp_tags_for(settings: Settings) -> WeComCorpTags:
    """The corp-tag client: ``WECOM_API_BASE``, else the local fake."""
    base = settings.wecom_api_base or f"http://127.0.0.1:{settings.fake_gateway_port}"
    return WeComCorpTags(base, str(settings.wecom_corp_id or FAKE_CORP_ID),
                         str(settings.wecom_corp_secret or FAKE_CORP_SECRET))


def moments_for(settings: Settings) -> WeComMoments:
    """The enterprise moments client: ``WECOM_API_BASE``, else the local fake."""
    base = settings.wecom_api_base or f"http://127.0.0.1:{settings.fake_gateway_port}"
    return WeComMoments(base, str(settings.wecom_corp_id or FAKE_CORP_ID),
                        str(settings.wecom_corp_secret or FAKE_CORP_SECRET))


def group_chats_for(settings: Settings) -> WeComGroupChats:
    """The customer-group directory client (``groupchat/list`` / ``get``): ``WECOM_API_BASE``,
    else the local fake."""
    base = settings.wecom_api_base or f"http://127.0.0.1:{settings.fake_gateway_port}"
    return WeComGroupChats(base, str(settings.wecom_corp_id or FAKE_CORP_ID),
                           str(settings.wecom_corp_secret or FAKE_CORP_SECRET))


def campaign_gateway_for(settings: Settings) -> WeComCampaignGateway:
    """The campaign client: ``WECOM_API_BASE`` (and the mini-program settings for direct
    messages), else the local fake for both."""
    fake = f"http://127.0.0.1:{settings.fake_gateway_port}"
    on_fake = settings.wecom_api_base is None
    app_id, app_secret = settings.miniprogram_app_id, settings.miniprogram_app_secret
    direct_base = settings.miniprogram_api_base
    if on_fake and not app_id:
        app_id, app_secret, direct_base = FAKE_APP_ID, FAKE_APP_SECRET, fake
    return WeComCampaignGateway(
        settings.wecom_api_base or fake, str(settings.wecom_corp_id or FAKE_CORP_ID),
        str(settings.wecom_corp_secret or FAKE_CORP_SECRET), app_id=app_id,
        app_secret=app_secret, direct_base_url=direct_base, sms=sms_for(settings))


def wechat_login_for(settings: Settings) -> WeChatLogin | None:
    """``code2session`` for the mini-program (``MINIPROGRAM_APP_ID``/``_SECRET`` at
    ``MINIPROGRAM_API_BASE``), else the local fake's when no real gateway is configured."""
    if settings.miniprogram_app_id and settings.miniprogram_app_secret:
        return WeChatLogin(settings.miniprogram_api_base, settings.miniprogram_app_id,
                           settings.miniprogram_app_secret)
    if settings.wecom_api_base is None:
        return WeChatLogin(f"http://127.0.0.1:{settings.fake_gateway_port}", FAKE_APP_ID,
                           FAKE_APP_SECRET)
    return None


def sms_for(settings: Settings) -> TencentSms:
    """Tencent Cloud SMS at ``SMS_API_BASE``, else the local fake's ``/sms``."""
    if settings.sms_api_base is None:
        return TencentSms(f"http://127.0.0.1:{settings.fake_gateway_port}/sms",
                          FAKE_SMS_SECRET_ID, FAKE_SMS_SECRET_KEY, FAKE_SMS_APP_ID, "siyu")
    return TencentSms(settings.sms_api_base, str(settings.sms_secret_id),
                      str(settings.sms_secret_key), str(settings.sms_sdk_app_id),
                      str(settings.sms_sign_name), region=settings.sms_region)


def fake_wecom_for(settings: Settings) -> FakeWeCom:
    """The fake's state for the worker and the demo: tasks confirm themselves only when
    ``SIYU_FAKE_AUTO_CONFIRM_SECONDS`` is set."""
    return FakeWeCom(campaigns=FakeCampaigns(
        auto_confirm_after=settings.fake_auto_confirm_seconds))


def serve_fake_gateway(settings: Settings) -> RunningFakeWeCom:
    """Serve the local fake WeCom (campaign and SMS APIs included) on its port; ``stop()`` it."""
    return run_fake_wecom(settings.fake_gateway_port, state=fake_wecom_for(settings))
