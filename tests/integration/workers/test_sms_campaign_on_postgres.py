"""An SMS campaign on PostgreSQL through the fake SendSms: batches of a chunk, phone numbers
from the vault, refusals per number recorded as failures, nothing sent twice on redelivery."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import psycopg
import pytest

from adapters.campaign_client import WeComCampaignGateway
from adapters.sms_client import TencentSms
from application.app import Siyu
from application.campaign_launch import launch
from domain.ingestion import EventItem
from fakes.sms import FAKE_SMS_APP_ID, FAKE_SMS_SECRET_ID, FAKE_SMS_SECRET_KEY
from fakes.wecom import FAKE_CORP_ID, FAKE_CORP_SECRET, RunningFakeWeCom, run_fake_wecom
from projections.runner import Tracker
from tests.support.read_models import grouped_runners
from workers.campaign_sending import CampaignDeps, RetryLater, send_chunk
from workers.campaign_store import CampaignStore
from workers.campaigns import CampaignDispatcher

pytestmark = pytest.mark.integration


def phone(n: int) -> str:
    return f"+86139{n:08d}"


@pytest.fixture
def running(pg_app: Siyu) -> Iterator[Tracker]:
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    runners = grouped_runners(pg_app, tracker)
    threads = [threading.Thread(target=r.run_forever, daemon=True) for r in runners]
    for thread in threads:
        thread.start()
    yield tracker
    for runner in runners:
        runner.stop()
    for thread in threads:
        thread.join(timeout=5)


OPEN: list[WeComCampaignGateway] = []


@pytest.fixture
def fake() -> Iterator[RunningFakeWeCom]:
    with run_fake_wecom() as running_fake:
        yield running_fake
        while OPEN:
            OPEN.pop().close()


def launched(app: Siyu, tracker: Tracker, customers: int) -> UUID:
    now = datetime.now(UTC) - timedelta(minutes=1)
    app.ingestion.record_batch([EventItem(f"o{n}", "ORDER_PAID", ("phone", phone(n)), now,
                                order_id=f"{n}", amount_fen=100) for n in range(customers)],
                     "service:test")
    segment_id, _ = app.segments.define("buyers", "", {"ordered": {"atLeast": 1}}, "staff:m", now)
    campaign_id, _ = app.campaigns.draft("sms", "staff:m", "sms", segment_id,
                                        [{"variant_id": "a", "text": "您有 {points_balance} 积分",
                                          "template_id": "1234567"}], "staff:m", now)
    noon = datetime.now(UTC).replace(hour=4, minute=0) - timedelta(days=1)
    assert tracker.wait("customer_profile", app.recorder.max_notification_id() or 0, 10)
    _, result = launch(app, tracker, campaign_id, "staff:m", noon)
    assert len(result.included) == customers
    return campaign_id


def sends(url: str, campaign_id: UUID) -> list[tuple[str, str | None]]:
    with psycopg.connect(url) as conn:
        return [(s, d) for s, d in conn.execute(
            "SELECT status, detail FROM campaign_send WHERE campaign_id = %s", (campaign_id,))]


def deps_for(app: Siyu, store: CampaignStore, fake: RunningFakeWeCom
             ) -> CampaignDeps:
    sms = TencentSms(f"{fake.url}/sms", FAKE_SMS_SECRET_ID, FAKE_SMS_SECRET_KEY,
                     FAKE_SMS_APP_ID, "思域")
    gateway = WeComCampaignGateway(fake.url, FAKE_CORP_ID, FAKE_CORP_SECRET, sms=sms)
    OPEN.append(gateway)
    return CampaignDeps(app=app, store=store, gateway=gateway)


def dispatch(store: CampaignStore) -> list[tuple[UUID, int, list[UUID]]]:
    messages: list[tuple[UUID, int, list[UUID]]] = []
    CampaignDispatcher(store, lambda c, s, ids: messages.append(
        (UUID(c), s, [UUID(i) for i in ids]))).run_once()
    return messages


def test_an_sms_campaign_sends_a_request_per_chunk_and_records_refused_numbers_as_failures(
        pg_app: Siyu, pg_url: str, running: Tracker,
        fake: RunningFakeWeCom) -> None:
    # Given a launched SMS campaign to 250 customers, one blocked, one at its daily limit
    campaign_id = launched(pg_app, running, 250)
    fake.state.sms.blocked = {phone(3)}
    fake.state.sms.daily_limit = 1
    store = CampaignStore.connect(pg_url)
    deps = deps_for(pg_app, store, fake)
    assert deps.gateway.send_direct("sms", phone(4), "1", {"text": "早"}, "earlier").reason == "ok"
    try:
        # When the chunks are dispatched and every message is delivered twice
        messages = dispatch(store)
        assert [len(ids) for _, _, ids in messages] == [200, 50]
        for campaign, step, ids in messages * 2:
            send_chunk(deps, campaign, step, ids)
    finally:
        store.close()
    # Then one SendSms request went out per chunk and every other number got one message
    assert fake.state.sms.calls == 3  # with the earlier one
    got = Counter(r.number for r in fake.state.sms.received(f"campaign:{campaign_id}"))
    assert len(got) == 248 and set(got.values()) == {1}
    assert phone(3) not in got and phone(4) not in got
    assert {r.params for r in fake.state.sms.received(f"campaign:{campaign_id}")} == \
        {("您有 0 积分",)}  # the filled text (no points yet: 0), one template param
    # and the refusals are recorded as failures with the provider's code
    assert running.wait("campaign", pg_app.recorder.max_notification_id() or 0, 10)
    recorded = sends(pg_url, campaign_id)
    assert Counter(s for s, _ in recorded) == {"sent": 248, "failed": 2}
    assert sorted(d or "" for s, d in recorded if s == "failed") == [
        "sms: FailedOperation.PhoneNumberInBlacklist", "sms: LimitExceeded.PhoneNumberDailyLimit"]


def test_a_lost_reply_is_recorded_unknown_never_retried_and_nobody_gets_a_second_sms(
        pg_app: Siyu, pg_url: str, running: Tracker,
        fake: RunningFakeWeCom) -> None:
    # Given an SMS chunk whose SendSms reply was lost after the fake (no dedupe) sent it
    campaign_id = launched(pg_app, running, 120)
    store = CampaignStore.connect(pg_url)
    deps = deps_for(pg_app, store, fake)
    fake.state.sms.inject("lost_reply")
    try:
        [(campaign, step, ids)] = dispatch(store)
        # When the chunk is sent, then delivered again to a fresh worker
        assert send_chunk(deps, campaign, step, ids) == 120
        assert send_chunk(deps_for(pg_app, store, fake), campaign, step, ids) == 0
    finally:
        store.close()
    # Then one SMS each, and every send recorded failed UNKNOWN (SendSms cannot be listed)
    got = Counter(r.number for r in fake.state.sms.received())
    assert len(got) == 120 and set(got.values()) == {1}
    assert running.wait("campaign", pg_app.recorder.max_notification_id() or 0, 10)
    assert Counter(sends(pg_url, campaign_id)) == {("failed", "UNKNOWN"): 120}


def test_a_rate_limited_request_is_retried_later_and_sends_the_rest_once(
        pg_app: Siyu, pg_url: str, running: Tracker,
        fake: RunningFakeWeCom) -> None:
    campaign_id = launched(pg_app, running, 30)
    store = CampaignStore.connect(pg_url)
    deps = deps_for(pg_app, store, fake)
    fake.state.sms.inject("rate_limit")
    try:
        [(campaign, step, ids)] = dispatch(store)
        with pytest.raises(RetryLater, match="RequestLimitExceeded"):
            send_chunk(deps, campaign, step, ids)
        assert fake.state.sms.received() == []
        assert send_chunk(deps, campaign, step, ids) == 30
    finally:
        store.close()
    assert len(fake.state.sms.received()) == 30
    assert running.wait("campaign", pg_app.recorder.max_notification_id() or 0, 10)
    assert Counter(s for s, _ in sends(pg_url, campaign_id)) == {"sent": 30}
