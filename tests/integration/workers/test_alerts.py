"""Staff alerts end to end on PostgreSQL: detected from the log and the clock, raised once
per cause, sent to the right staff through the (fake) WeCom gateway by a Dramatiq actor."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from psycopg_pool import ConnectionPool

from adapters.wecom_client import WeComGateway
from application.app import Siyu
from domain.ingestion import EventItem
from domain.staff_alert import StaffAlert, alert_id
from domain.working_time import SHANGHAI
from fakes.wecom import FAKE_CORP_ID, FAKE_CORP_SECRET, RunningFakeWeCom
from projections.runner import BatchRunner, Tracker
from siyu.processes import read_model_views
from workers.alerts import AlertDeps, AlertOutboxView, AlertStore, declare_alert_actor
from workers.welcome import RetryPolicy

pytestmark = pytest.mark.integration

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
RETRY = RetryPolicy(max_retries=3, min_backoff=50, max_backoff=200, time_limit=20_000)


class World:
    def __init__(self, app: Siyu, url: str, fake: RunningFakeWeCom) -> None:
        self.app = app
        self.pool: ConnectionPool[Any] = ConnectionPool(url, min_size=1, max_size=4, open=True)
        self.store = AlertStore(self.pool)
        self.store.create()
        self.fake = fake
        self.gateway = WeComGateway(fake.url, FAKE_CORP_ID, FAKE_CORP_SECRET)
        tracker = Tracker(app.factory.datastore)  # type: ignore[attr-defined]
        self.runners = [BatchRunner(app, v, tracker) for v in read_model_views()]
        self.runners.append(BatchRunner(app, AlertOutboxView(), tracker))
        self.broker = StubBroker()
        self.actor = declare_alert_actor(
            self.broker, AlertDeps(app=app, store=self.store, gateway=self.gateway, retry=RETRY),
            queue_name="alerts")

    def catch_up(self) -> None:
        for runner in self.runners:
            runner.catch_up()

    def deliver_all(self, *, twice: bool = True) -> int:
        """Dispatch the due rows (each key enqueued twice: a redelivery), run the worker."""
        keys: list[str] = []
        self.store.enqueue_due(keys.append, stale_after=timedelta(minutes=5))
        worker = dramatiq.Worker(self.broker, worker_threads=2, worker_timeout=100)
        worker.start()
        try:
            for key in keys * (2 if twice else 1):
                self.actor.send(key)
            self.broker.join(self.actor.queue_name, fail_fast=True)
            worker.join()
        finally:
            worker.stop()
        self.catch_up()
        return len(keys)

    def item(self, n: int, kind: str, external: str, staff: str, at: datetime,
             **fields: Any) -> UUID:
        result = self.app.ingestion.record_batch([EventItem(
            event_id=f"{external}-{n}", type=kind, identity=("wecom_external:ww7788", external),
            occurred_at=at, staff_id=staff, **fields)], "service:test")
        outcome = result.outcomes[0]
        assert outcome.status == "accepted", outcome
        assert outcome.customer_id is not None
        return outcome.customer_id

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with self.pool.connection() as conn:
            return list(conn.execute(sql, params).fetchall())

    def close(self) -> None:
        self.gateway.close()
        self.broker.close()
        self.pool.close()


@pytest.fixture
def world(pg_app: Siyu, pg_url: str, fake_wecom: RunningFakeWeCom
          ) -> Iterator[World]:
    w = World(pg_app, pg_url, fake_wecom)
    yield w
    w.close()


def hire(app: Siyu, role: str, department: str, wecom: str | None = None) -> str:
    return str(app.staff.hire(role, department, "名字", "service:test", T0, wecom))


def test_a_customer_deleting_a_staff_member_gives_that_member_one_win_back_task(
        world: World) -> None:
    # Given a salesperson with a WeCom account and a customer who added them
    sales = hire(world.app, "sales", "front_office", "zhangsan")
    customer = world.item(1, "FRIEND_ADDED", "wmA", sales, T0)
    # When the customer deletes them, and the alert's message is delivered twice
    world.item(2, "FRIEND_DELETED", "wmA", sales, T0 + timedelta(hours=1),
               deleted_by="customer")
    world.catch_up()
    assert world.deliver_all() == 1
    # Then one alert was recorded and sent once, to the salesperson's WeCom user
    key = f"win_back:{customer}:5"
    alert: Any = world.app.repository.get(alert_id(key))
    assert isinstance(alert, StaffAlert) and alert.kind == "win_back"
    assert alert.recipients == [sales] and alert.outcomes == {sales: "delivered"}
    sent = world.fake.state.app_messages_snapshot()
    assert [m.touser for m in sent] == ["zhangsan"]
    row = world.rows("SELECT kind, status, delivered_to FROM staff_alert")
    assert row == [("win_back", "open", [sales])]


def test_a_staff_member_deleting_a_customer_raises_nothing(world: World) -> None:
    sales = hire(world.app, "sales", "front_office")
    world.item(1, "FRIEND_ADDED", "wmB", sales, T0)
    world.item(2, "FRIEND_DELETED", "wmB", sales, T0 + timedelta(minutes=5), deleted_by="staff")
    world.catch_up()
    assert world.deliver_all() == 0


def test_an_unanswered_message_alerts_the_staff_member_then_the_departments_manager(
        world: World) -> None:
    # Given a salesperson, a manager of the same department and one elsewhere
    sales = hire(world.app, "sales", "front_office")
    boss = hire(world.app, "private_domain_manager", "front_office")
    hire(world.app, "private_domain_manager", "middle_office")
    # And two customers writing to the salesperson; one gets an answer
    waiting = world.item(1, "MESSAGE_RECEIVED", "wmC", sales, T0, message_kind="text")
    world.item(1, "MESSAGE_RECEIVED", "wmD", sales, T0, message_kind="text")
    world.item(2, "MESSAGE_SENT", "wmD", sales, T0 + timedelta(minutes=10), message_kind="text")
    world.catch_up()
    first, second = timedelta(minutes=30), timedelta(hours=2)
    # When the checks run (twice each) 31 minutes, then 2 hours 1 minute after the message
    assert world.store.check_timeouts(T0 + timedelta(minutes=31), first, second) == 1
    assert world.store.check_timeouts(T0 + timedelta(minutes=32), first, second) == 0
    world.deliver_all()
    assert world.store.check_timeouts(T0 + timedelta(hours=2, minutes=1), first, second) == 1
    assert world.store.check_timeouts(T0 + timedelta(hours=2, minutes=2), first, second) == 0
    world.deliver_all()
    # Then the salesperson got the first alert and the department's manager the second
    rows = world.rows("SELECT kind, customer_id, recipients FROM staff_alert ORDER BY position")
    assert rows == [("chat_timeout", waiting, [sales]),
                    ("chat_timeout_escalated", waiting, [boss])]
    assert sorted(m.touser for m in world.fake.state.app_messages_snapshot()) == sorted(
        [sales, boss])


def test_a_message_after_hours_is_late_only_once_working_time_has_passed(world: World) -> None:
    # Given working hours 09:00-18:00 every day, and a customer writing at 20:00 (Shanghai)
    days = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    evening = (datetime.now(SHANGHAI) - timedelta(days=3)).replace(
        hour=20, minute=0, second=0, microsecond=0)
    world.app.working_hours.set({d: [("09:00", "18:00")] for d in days}, "staff:boss",
                                evening - timedelta(days=1))
    sales = hire(world.app, "sales", "front_office")
    hire(world.app, "private_domain_manager", "front_office")
    world.item(1, "MESSAGE_RECEIVED", "wmH", sales, evening, message_kind="text")
    world.catch_up()
    first, second = timedelta(minutes=30), timedelta(hours=2)
    morning = evening + timedelta(hours=13)  # 09:00 next day
    # When the checks run overnight and early in the morning, nothing is due
    assert world.store.check_timeouts(evening + timedelta(hours=3), first, second) == 0
    assert world.store.check_timeouts(morning + timedelta(minutes=29), first, second) == 0
    # Then 30 working minutes after 09:00 the staff member is alerted, after two hours the
    # manager
    assert world.store.check_timeouts(morning + timedelta(minutes=31), first, second) == 1
    assert world.store.check_timeouts(morning + timedelta(minutes=119), first, second) == 0
    assert world.store.check_timeouts(morning + timedelta(minutes=121), first, second) == 1
    assert world.store.check_timeouts(morning + timedelta(hours=5), first, second) == 0


def test_a_sensitive_word_alerts_the_managers_with_context_and_never_the_text(
        world: World) -> None:
    # Given a lexicon term and a salesperson in a department without a manager
    world.app.supervision.add_terms("private_order", ["私单"], "staff:boss", T0)
    sales = hire(world.app, "sales", "front_office")
    boss = hire(world.app, "private_domain_manager", "middle_office")
    # When the salesperson's message hits it
    customer = world.item(1, "MESSAGE_SENT", "wmE", sales, T0, message_kind="text",
                          text="我们私单吧, 便宜")
    world.catch_up()
    world.deliver_all()
    # Then every manager (none in the department) gets the alert with its context
    rows = world.rows("SELECT kind, staff_id, customer_id, recipients, categories, term_ids, "
                      "message_ref FROM staff_alert")
    assert rows == [("sensitive_word", sales, customer, [boss], ["private_order"], ["t1"],
                     "message:3")]
    sent = world.fake.state.app_messages_snapshot()
    assert len(sent) == 1 and "private_order/t1" in sent[0].content
    assert "便宜" not in sent[0].content
    # And the text is only in the vault, sealed
    assert world.app.customers.personal_data(customer)["message:3"] == "我们私单吧, 便宜"


def test_a_transient_gateway_failure_is_retried_and_still_sends_once(world: World) -> None:
    sales = hire(world.app, "sales", "front_office")
    world.item(1, "FRIEND_ADDED", "wmF", sales, T0)
    world.item(2, "FRIEND_DELETED", "wmF", sales, T0, deleted_by="customer")
    world.catch_up()
    world.fake.state.inject("busy", 1)
    world.deliver_all(twice=False)
    assert len(world.fake.state.app_messages_snapshot()) == 1
    assert world.rows("SELECT status FROM staff_alert_outbox") == [("done",)]
