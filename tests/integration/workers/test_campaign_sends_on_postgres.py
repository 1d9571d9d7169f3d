"""Campaign sends on PostgreSQL: dispatch in chunks, each send once, outcomes once, retries."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

import psycopg
import pytest

from adapters.campaign_gateway import BatchRecipient, Delivery, DirectResult, MassSendTask, TaskResult
from application.app import Siyu
from application.campaign_launch import launch
from domain.ingestion import EventItem
from projections.runner import Tracker
from tests.integration.workers.support import NoTaskFollowUps
from tests.support.read_models import grouped_runners
from workers.campaign_sending import CampaignDeps, RetryLater, send_chunk
from workers.campaign_store import CampaignStore
from workers.campaigns import CampaignDispatcher

pytestmark = pytest.mark.integration

APP_ID = "wxa1b2c3"


@dataclass

class RecordingGateway(NoTaskFollowUps):
    """A test double of the campaign gateway: dedupes by key, counts receipts, can fail."""

    receipts: Counter[str] = field(default_factory=Counter)
    answers: dict[str, DirectResult] = field(default_factory=dict)
    fail_after: int | None = None  # transient failures once this many were sent
    calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send_direct(self, channel: str, recipient: str, template_id: str,
                    data: dict[str, str], dedupe_key: str) -> DirectResult:
        with self.lock:
            self.calls += 1
            if dedupe_key in self.answers:
                return DirectResult(Delivery.DUPLICATE, "duplicate",
                                    self.answers[dedupe_key].message_id)
            if self.fail_after is not None and sum(self.receipts.values()) >= self.fail_after:
                return DirectResult(Delivery.TRANSIENT, "errcode -1")
            self.receipts[recipient] += 1
            answer = DirectResult(Delivery.ACCEPTED, "ok", f"m{len(self.answers)}")
            self.answers[dedupe_key] = answer
            return answer

    def send_direct_batch(self, channel: str, recipients: Sequence[BatchRecipient],
                          template_id: str, dedupe_key: str) -> list[DirectResult]:
        return [self.send_direct(channel, r.address, template_id, {"text": r.params[0]}, r.key)
                for r in recipients]

    def create_mass_send(self, sender: str, recipients: Sequence[str], text: str,
                         dedupe_key: str, chat_type: str = "single") -> MassSendTask:
        raise NotImplementedError

    def mass_send_result(self, task_id: str, sender: str) -> TaskResult:
        raise NotImplementedError


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


def launched(app: Siyu, tracker: Tracker, customers: int) -> UUID:
    now = datetime.now(UTC) - timedelta(minutes=1)
    items = [EventItem(f"o{n}", "ORDER_PAID", (f"wx_openid:{APP_ID}", f"oUser{n:05d}"), now,
                       order_id=f"{n}", amount_fen=100) for n in range(customers)]
    app.ingestion.record_batch(items, "service:test")
    segment_id, _ = app.segments.define("buyers", "", {"ordered": {"atLeast": 1}}, "staff:m",
                                       now)
    campaign_id, _ = app.campaigns.draft("test", "staff:m", "mini_program", segment_id,
                                        [{"variant_id": "a", "text": "您有 {points_balance} 积分",
                                          "template_id": "tpl-1"}], "staff:m", now)
    # quiet hours would defer the sends: plan at noon Shanghai time
    noon = datetime.now(UTC).replace(hour=4, minute=0) - timedelta(days=1)
    assert tracker.wait("customer_profile", app.recorder.max_notification_id() or 0, 10)
    position, result = launch(app, tracker, campaign_id, "staff:m", noon)
    assert position is not None and len(result.included) == customers
    return campaign_id


def statuses(url: str, campaign_id: UUID) -> Counter[str]:
    with psycopg.connect(url) as conn:
        return Counter(s for (s,) in conn.execute(
            "SELECT status FROM campaign_send WHERE campaign_id = %s", (campaign_id,)))


def test_a_campaign_is_dispatched_in_chunks_and_each_customer_gets_one_message(
        pg_app: Siyu, pg_url: str, running: Tracker) -> None:
    # Given a launched campaign to 450 customers
    campaign_id = launched(pg_app, running, 450)
    store = CampaignStore.connect(pg_url)
    gateway = RecordingGateway()
    deps = CampaignDeps(app=pg_app, store=store, gateway=gateway)
    messages: list[tuple[str, int, list[str]]] = []
    dispatcher = CampaignDispatcher(store, lambda c, s, ids: messages.append((c, s, ids)))
    try:
        # When the dispatcher runs twice and every message is delivered twice
        assert dispatcher.run_once() == 450
        assert dispatcher.run_once() == 0  # already enqueued: not again until stale
        assert [len(ids) for _, _, ids in messages] == [200, 200, 50]
        for campaign, step, ids in messages * 2:
            send_chunk(deps, UUID(campaign), step, [UUID(i) for i in ids])
    finally:
        store.close()
    # Then every customer got exactly one message, with its variables filled in
    assert len(gateway.receipts) == 450 and set(gateway.receipts.values()) == {1}
    assert running.wait("campaign", pg_app.recorder.max_notification_id() or 0, 10)
    assert statuses(pg_url, campaign_id) == {"sent": 450}


def test_a_transient_failure_records_what_was_sent_and_the_retry_sends_the_rest(
        pg_app: Siyu, pg_url: str, running: Tracker) -> None:
    campaign_id = launched(pg_app, running, 120)
    store = CampaignStore.connect(pg_url)
    gateway = RecordingGateway(fail_after=70)
    deps = CampaignDeps(app=pg_app, store=store, gateway=gateway)
    messages: list[tuple[str, int, list[str]]] = []
    try:
        CampaignDispatcher(store, lambda c, s, ids: messages.append((c, s, ids))).run_once()
        [(campaign, step, ids)] = messages
        with pytest.raises(RetryLater):
            send_chunk(deps, UUID(campaign), step, [UUID(i) for i in ids])
        assert running.wait("campaign", pg_app.recorder.max_notification_id() or 0, 10)
        assert statuses(pg_url, campaign_id) == {"sent": 70, "planned": 50}
        gateway.fail_after = None
        assert send_chunk(deps, UUID(campaign), step, [UUID(i) for i in ids]) == 50
    finally:
        store.close()
    assert len(gateway.receipts) == 120 and set(gateway.receipts.values()) == {1}


def test_a_send_made_but_not_recorded_is_answered_as_a_duplicate_on_redelivery(
        pg_app: Siyu, pg_url: str, running: Tracker) -> None:
    # Given sends the gateway accepted but whose outcomes were never recorded (a crash)
    campaign_id = launched(pg_app, running, 30)
    store = CampaignStore.connect(pg_url)
    gateway = RecordingGateway()
    lost = CampaignDeps(app=pg_app, store=store, gateway=gateway)
    messages: list[tuple[str, int, list[str]]] = []
    try:
        CampaignDispatcher(store, lambda c, s, ids: messages.append((c, s, ids))).run_once()
        [(campaign, step, ids)] = messages
        original = pg_app.campaigns.record_send_outcomes
        pg_app.campaigns.record_send_outcomes = lambda *a, **k: 0  # type: ignore[method-assign]
        send_chunk(lost, UUID(campaign), step, [UUID(i) for i in ids])
        pg_app.campaigns.record_send_outcomes = original  # type: ignore[method-assign]
        # When the message is redelivered
        send_chunk(lost, UUID(campaign), step, [UUID(i) for i in ids])
    finally:
        store.close()
    # Then nobody got a second message, and every outcome is recorded
    assert set(gateway.receipts.values()) == {1} and len(gateway.receipts) == 30
    assert running.wait("campaign", pg_app.recorder.max_notification_id() or 0, 10)
    assert statuses(pg_url, campaign_id) == {"sent": 30}


def test_the_report_compares_recipients_with_the_holdout_on_conversion_and_harm(
        pg_app: Siyu, pg_url: str, running: Tracker) -> None:
    # Given a campaign to 200 buyers with a 30% holdout, sent
    now = datetime.now(UTC) - timedelta(hours=1)
    who = [(f"wx_openid:{APP_ID}", f"oUser{n:05d}") for n in range(200)]
    pg_app.ingestion.record_batch([EventItem(f"o{n}", "ORDER_PAID", w, now - timedelta(days=30),
                                   order_id=f"{n}", amount_fen=100)
                         for n, w in enumerate(who)], "service:test")
    segment_id, _ = pg_app.segments.define("buyers", "", {"ordered": {"atLeast": 1}},
                                          "staff:m", now)
    campaign_id, _ = pg_app.campaigns.draft("r", "staff:m", "mini_program", segment_id,
                                           [{"variant_id": "a", "text": "hi"}], "staff:m", now,
                                           holdout_percent=30, cost_fen=10_000)
    assert running.wait("customer_profile", pg_app.recorder.max_notification_id() or 0, 10)
    noon = datetime.now(UTC).replace(hour=4, minute=0) - timedelta(days=1)
    launch(pg_app, running, campaign_id, "staff:m", noon)
    with psycopg.connect(pg_url) as conn:
        held = {r[0] for r in conn.execute("SELECT customer_id FROM campaign_exclusion "
                                           "WHERE reason = 'HOLDOUT'")}
    assert 40 < len(held) < 80
    store = CampaignStore.connect(pg_url)
    messages: list[tuple[str, int, list[str]]] = []
    gateway = RecordingGateway()
    try:
        CampaignDispatcher(store, lambda c, s, i: messages.append((c, s, i))).run_once()
        for c, s, i in messages:
            send_chunk(CampaignDeps(app=pg_app, store=store, gateway=gateway), UUID(c), s,
                       [UUID(x) for x in i])
    finally:
        store.close()
    # When every tenth customer pays 500 fen after receipt and every fifth sets DND
    later = datetime.now(UTC) + timedelta(seconds=1)
    items: list[EventItem] = []
    for n, w in enumerate(who):
        if n % 10 == 0:
            items.append(EventItem(f"p{n}", "ORDER_PAID", w, later, order_id=f"late-{n}",
                                   amount_fen=500))
        if n % 5 == 0:
            items.append(EventItem(f"d{n}", "DND_SET", w, later))
    pg_app.ingestion.record_batch(items, "service:test")
    last = pg_app.recorder.max_notification_id() or 0
    assert running.wait("campaign", last, 10) and running.wait("customer_profile", last, 10)

    async def read() -> tuple[dict[str, dict[str, object]], list[dict[str, object]]]:
        from psycopg import AsyncConnection
        from psycopg.rows import dict_row

        from projections.campaigns.report import report
        async with await AsyncConnection.connect(pg_url, row_factory=dict_row) as conn:
            return await report(conn, campaign_id)

    import asyncio
    groups, _ = asyncio.run(read())
    # Then both groups have their own counts, and they add up to the buyers
    assert set(gateway.receipts.values()) == {1} and len(gateway.receipts) == 200 - len(held)
    recipients, holdout = groups["recipient"], groups["holdout"]
    assert int(recipients["customers"]) + int(holdout["customers"]) == 200  # type: ignore[call-overload]
    assert int(recipients["converted"]) + int(holdout["converted"]) == 20  # type: ignore[call-overload]
    assert int(recipients["opted_out"]) + int(holdout["opted_out"]) == 40  # type: ignore[call-overload]
    assert int(recipients["gmv_fen"]) == 500 * int(recipients["converted"])  # type: ignore[call-overload]


@dataclass
class MassSendGateway(RecordingGateway):
    """Tasks per sender; the test confirms them and chooses final statuses."""

    tasks: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    confirmed: set[str] = field(default_factory=set)
    not_friends: set[str] = field(default_factory=set)

    def create_mass_send(self, sender: str, recipients: Sequence[str], text: str,
                         dedupe_key: str, chat_type: str = "single") -> MassSendTask:
        with self.lock:
            for task_id, (key_sender, _) in self.tasks.items():
                if task_id == dedupe_key and key_sender == sender:
                    return MassSendTask(Delivery.DUPLICATE, "duplicate", task_id)
            self.tasks[dedupe_key] = (sender, list(recipients))
            return MassSendTask(Delivery.ACCEPTED, "ok", dedupe_key)

    def mass_send_result(self, task_id: str, sender: str) -> TaskResult:
        from adapters.campaign_gateway import RecipientStatus
        _, recipients = self.tasks[task_id]
        confirmed = task_id in self.confirmed
        statuses = {r: (RecipientStatus.NOT_FRIEND if r in self.not_friends
                        else RecipientStatus.SENT) if confirmed else RecipientStatus.PENDING
                    for r in recipients}
        return TaskResult(task_id, confirmed, statuses)


def test_a_wecom_mass_send_creates_tasks_per_staff_and_syncs_final_statuses(
        pg_app: Siyu, pg_url: str, running: Tracker) -> None:
    from workers.mass_send_lifecycle import MassSendLifecycle
    # Given 30 friends of two staff members and a WeCom mass-send campaign to them
    now = datetime.now(UTC) - timedelta(minutes=1)
    items = [EventItem(f"f{n}", "FRIEND_ADDED", ("wecom_external:ww1", f"wmC{n:03d}"), now,
                       channel="qr", staff_id=f"wecom_user:s{n % 2}") for n in range(30)]
    pg_app.ingestion.record_batch(items, "service:test")
    segment_id, _ = pg_app.segments.define("friends", "", {"isFriend": True}, "staff:m", now)
    campaign_id, _ = pg_app.campaigns.draft("m", "staff:m", "wecom_mass", segment_id,
                                           [{"variant_id": "a", "text": "hi"}], "staff:m", now)
    assert running.wait("customer_profile", pg_app.recorder.max_notification_id() or 0, 10)
    launch(pg_app, running, campaign_id, "staff:m",
           datetime.now(UTC).replace(hour=4, minute=0) - timedelta(days=1))
    store = CampaignStore.connect(pg_url)
    gateway = MassSendGateway()
    deps = CampaignDeps(app=pg_app, store=store, gateway=gateway)
    messages: list[tuple[str, int, list[str]]] = []
    try:
        CampaignDispatcher(store, lambda c, s, i: messages.append((c, s, i))).run_once()
        for c, s, i in messages * 2:  # redelivered: the same tasks
            send_chunk(deps, UUID(c), s, [UUID(x) for x in i])
        # Then one task per sender holds its friends
        assert sorted(len(r) for _, r in gateway.tasks.values()) == [15, 15]
        assert sorted(s for s, _ in gateway.tasks.values()) == ["s0", "s1"]
        assert running.wait("campaign", pg_app.recorder.max_notification_id() or 0, 10)
        sync = MassSendLifecycle(deps)
        assert sync.run_once() == 0  # nobody confirmed yet
        # When staff s0 confirms, and one of its customers is no longer a friend
        first = next(k for k, (s, _) in gateway.tasks.items() if s == "s0")
        gateway.confirmed.add(first)
        gateway.not_friends.add(gateway.tasks[first][1][0])
        assert sync.run_once() == 15
        assert sync.run_once() == 0
    finally:
        store.close()
    assert running.wait("campaign", pg_app.recorder.max_notification_id() or 0, 10)
    with psycopg.connect(pg_url) as conn:
        tasks = conn.execute("SELECT sender, recipients, sent, not_friend, confirmed, finished "
                             "FROM campaign_task_view ORDER BY sender").fetchall()
        delivered = conn.execute("SELECT delivered FROM campaign WHERE campaign_id = %s",
                                 (campaign_id,)).fetchone()
    assert tasks == [("wecom_user:s0", 15, 14, 1, True, True),
                     ("wecom_user:s1", 15, 0, 0, False, False)]
    assert delivered == (14,)
