"""Welcome messages per channel code, never after the welcome code's 20-second lifetime, and
none for history (a demo's month-old friend adds)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import cast
from uuid import UUID

import pytest
from eventsourcing.postgres import PostgresDatastore

from adapters.wecom_client import WeComGateway
from application.app import Siyu
from domain.customer import Customer
from domain.ingestion import EventItem
from fakes.wecom import FAKE_CORP_ID, FAKE_CORP_SECRET, RunningFakeWeCom
from projections.runner import BatchRunner, Tracker
from tests.integration.workers.support import TEST_RETRY, friend_added_key, welcome_outcomes
from workers.outbox import EXPIRED_BEFORE_DISPATCH, OutboxStore, WelcomeOutboxView
from workers.welcome import TEMPLATES, WELCOME_CODE_EXPIRED, WelcomeDeps, send_welcome

pytestmark = pytest.mark.integration


@pytest.fixture
def deps(pg_app: Siyu, pg_url: str, fake_wecom: RunningFakeWeCom) -> Iterator[WelcomeDeps]:
    store = OutboxStore.connect(pg_url)
    gateway = WeComGateway(fake_wecom.url, FAKE_CORP_ID, FAKE_CORP_SECRET)
    yield WelcomeDeps(app=pg_app, store=store, gateway=gateway, retry=TEST_RETRY)
    gateway.close()
    store.close()


def added(deps: WelcomeDeps, at: datetime, *, channel: str = "wecom",
          state: str | None = None, code: str = "WC-1") -> tuple[UUID, str]:
    """A WeCom add (as the callback records it), projected into the outbox."""
    result = deps.app.ingestion.record_batch([EventItem(
        event_id=f"cb-{uuid.uuid4().hex}", type="FRIEND_ADDED",
        identity=("wecom_external:ww7788", f"wm{uuid.uuid4().hex[:16]}"), occurred_at=at,
        channel=channel, staff_id="wecom_user:staff-li", state=state, welcome_code=code)],
        "service:wecom")
    customer_id = result.outcomes[0].customer_id
    assert customer_id is not None
    datastore = cast(PostgresDatastore, deps.app.factory.datastore)  # type: ignore[attr-defined]
    BatchRunner(deps.app, WelcomeOutboxView(), Tracker(datastore)).catch_up()
    return customer_id, friend_added_key(deps.app, customer_id)


def code_state(app: Siyu, now: datetime, welcome_text: str | None) -> str:
    staff = str(app.staff.hire("sales", "front_office", "李四", "system", now,
                               wecom_user_id="lisi"))
    code_id, _ = app.channel_codes.create("上海一店", "qr:store-shanghai-01", {"lisi": staff},
                                          welcome_text, [], True, "staff:m", now)
    return app.channel_codes.get(code_id).state


def test_an_add_through_a_channel_code_gets_the_codes_welcome_text(
        deps: WelcomeDeps, fake_wecom: RunningFakeWeCom, now: datetime) -> None:
    # Given a code with its own welcome text, and an add through it just now
    state = code_state(deps.app, now, "欢迎来到上海一店")
    customer_id, key = added(deps, now, state=state)
    # When the actor handles it
    send_welcome(deps, key)
    # Then WeCom got the code's text, and the outcome names the code's text
    assert [s.text for s in fake_wecom.state.sent] == ["欢迎来到上海一店"]
    [event] = welcome_outcomes(deps.app, customer_id)
    assert isinstance(event, Customer.WelcomeMessageSent)
    assert event.template_id.startswith("channel-code:")


def test_a_code_without_text_gets_the_text_of_the_channel_it_is_under(
        deps: WelcomeDeps, fake_wecom: RunningFakeWeCom, now: datetime) -> None:
    # Given a code of qr:store-shanghai-01 with no text of its own
    state = code_state(deps.app, now, None)
    _, key = added(deps, now, state=state)
    send_welcome(deps, key)
    # Then the qr text applies (qr:store-shanghai-01 is under qr)
    assert [s.text for s in fake_wecom.state.sent] == [TEMPLATES["qr"].text]


def test_no_call_is_made_once_the_welcome_code_has_expired(
        deps: WelcomeDeps, fake_wecom: RunningFakeWeCom, now: datetime) -> None:
    # Given an add projected while its code was valid
    customer_id, key = added(deps, now)
    # When the actor first handles it 21 seconds after the add (a queue that was behind)
    late = WelcomeDeps(app=deps.app, store=deps.store, gateway=deps.gateway, retry=TEST_RETRY,
                       clock=lambda: now + timedelta(seconds=21))
    send_welcome(late, key)
    # Then WeCom was not called and the customer's outcome says why
    assert fake_wecom.state.send_calls == 0
    [event] = welcome_outcomes(deps.app, customer_id)
    assert isinstance(event, Customer.WelcomeMessageFailed)
    assert event.reason == WELCOME_CODE_EXPIRED


def test_history_gets_no_welcome_message(deps: WelcomeDeps, fake_wecom: RunningFakeWeCom,
                                         now: datetime) -> None:
    # Given friend adds a month old recorded now (a demo start, an import)
    keys = [added(deps, now - timedelta(days=30, minutes=n), code=f"WC-old-{n}")[1]
            for n in range(3)]
    # Then their rows are failed before any dispatch, and nothing is due to be sent
    rows = [deps.store.get(k) for k in keys]
    assert {(r.status, r.failure) for r in rows if r} == {("failed", EXPIRED_BEFORE_DISPATCH)}
    enqueued: list[str] = []
    deps.store.enqueue_due(enqueued.append, stale_after=timedelta(minutes=5))
    assert not set(keys) & set(enqueued)
    assert fake_wecom.state.send_calls == 0
