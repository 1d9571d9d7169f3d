"""The daily report job: yesterday's numbers per staff member and manager, with the change
from the day before, built and sent once per day whatever the schedulers and redeliveries."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from psycopg_pool import ConnectionPool

from adapters.wecom_client import WeComGateway
from application.app import Siyu
from domain.daily_report import DailyReport, report_id
from domain.ingestion import EventItem, OrderItem
from fakes.wecom import FAKE_CORP_ID, FAKE_CORP_SECRET, RunningFakeWeCom
from projections.daily_report import SHANGHAI
from projections.runner import BatchRunner, Tracker
from siyu.processes import read_model_views
from workers.daily_report import (
    DailyReportScheduler,
    ReportDeps,
    ReportStore,
    declare_report_actor,
    report_day,
)

DAY = datetime.now(SHANGHAI).date() - timedelta(days=2)


def at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), SHANGHAI)


def test_the_report_day_is_yesterday_in_shanghai_once_past_the_hour() -> None:
    # 2026-12-01 23:30 UTC is 2026-12-02 07:30 in Shanghai: before 08:00, nothing yet
    assert report_day(datetime(2026, 12, 1, 23, 30, tzinfo=UTC), 8) is None
    assert report_day(datetime(2026, 12, 2, 0, 30, tzinfo=UTC), 8) == date(2026, 12, 1)


def test_a_scheduler_enqueues_each_day_once() -> None:
    now = [at(date(2026, 12, 2), 9)]
    sent: list[str] = []
    scheduler = DailyReportScheduler(sent.append, hour=8, clock=lambda: now[0])
    assert scheduler.run_once() and not scheduler.run_once()
    now[0] += timedelta(days=1)
    assert scheduler.run_once()
    assert sent == ["2026-12-01", "2026-12-02"]


@pytest.fixture
def pool(pg_url: str) -> Iterator[ConnectionPool[Any]]:
    with ConnectionPool(pg_url, min_size=1, max_size=4) as p:
        yield p


def record(app: Siyu, n: int, kind: str, external: str, staff: str,
           when: datetime, **fields: Any) -> None:
    result = app.ingestion.record_batch([EventItem(
        event_id=f"r{n}", type=kind, identity=("wecom_external:ww7788", external),
        occurred_at=when, staff_id=staff, **fields)], "service:test")
    assert result.outcomes[0].status == "accepted", result.outcomes[0]


@pytest.mark.integration
def test_two_schedulers_and_a_redelivery_build_and_send_each_report_once(
        pg_app: Siyu, pool: ConnectionPool[Any],
        fake_wecom: RunningFakeWeCom) -> None:
    # Given two salespeople and a manager, and two days of activity
    hired = at(DAY - timedelta(days=5), 9)
    li = str(pg_app.staff.hire("sales", "front_office", "李", "service:t", hired, "lisi"))
    wang = str(pg_app.staff.hire("sales", "front_office", "王", "service:t", hired))
    boss = str(pg_app.staff.hire("private_domain_manager", "middle_office", "张", "service:t",
                                 hired, "boss"))
    before = DAY - timedelta(days=1)
    record(pg_app, 1, "FRIEND_ADDED", "wmA", li, at(before, 10))
    record(pg_app, 2, "FRIEND_ADDED", "wmB", li, at(DAY, 10))
    record(pg_app, 3, "FRIEND_ADDED", "wmC", li, at(DAY, 11))
    record(pg_app, 4, "FRIEND_ADDED", "wmD", wang, at(DAY, 12))
    record(pg_app, 5, "FRIEND_DELETED", "wmA", li, at(DAY, 13), deleted_by="customer")
    record(pg_app, 6, "MESSAGE_RECEIVED", "wmB", li, at(DAY, 14), message_kind="text")
    record(pg_app, 7, "MESSAGE_SENT", "wmB", li, at(DAY, 14), message_kind="text")
    # wmB is owned by li: its order counts for li (late in the day, 23:30 Shanghai)
    record(pg_app, 8, "ORDER_PAID", "wmB", li, at(DAY, 23) + timedelta(minutes=30),
           order_id="o1", amount_fen=12900, items=[OrderItem("milk", 1, 12900)])
    record(pg_app, 9, "ORDER_PAID", "wmD", wang, at(DAY + timedelta(days=1), 0),
           order_id="o2", amount_fen=500)  # the next day in Shanghai
    # and li's month target of 4 new friends, on trial (graded, not ranked)
    pg_app.targets.set("staff", li, "month", DAY, "friends_new", 4, "service:t", hired,
                      trial=True)
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    runners = [BatchRunner(pg_app, v, tracker) for v in read_model_views()]
    for runner in runners:
        runner.catch_up()
    # When two schedulers enqueue the day at 09:00 the next morning, and it is redelivered
    broker = StubBroker()
    gateway = WeComGateway(fake_wecom.url, FAKE_CORP_ID, FAKE_CORP_SECRET)
    actor = declare_report_actor(broker, ReportDeps(app=pg_app, store=ReportStore(pool),
                                                    gateway=gateway), queue_name="reports")
    clock = at(DAY + timedelta(days=1), 9)

    def enqueue(day: str) -> None:
        actor.send(day)

    schedulers = [DailyReportScheduler(enqueue, clock=lambda: clock) for _ in range(2)]
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        for scheduler in schedulers:
            scheduler.run_once()
        actor.send(DAY.isoformat())
        broker.join(actor.queue_name, fail_fast=True)
        worker.join()
    finally:
        worker.stop()
        broker.close()
        gateway.close()
    # Then each member has one report, sent once
    reports: dict[str, Any] = {s: pg_app.repository.get(report_id(s, DAY))
                               for s in (li, wang, boss)}
    assert all(isinstance(r, DailyReport) and r.outcome == "sent" for r in reports.values())
    assert reports[li].figures == {"new_friends": 2, "deleted_by_customer": 1,
                                   "deleted_by_staff": 0, "messages_received": 1,
                                   "messages_sent": 1, "orders": 1, "gmv_fen": 12900}
    assert reports[li].previous["new_friends"] == 1
    assert reports[wang].figures["new_friends"] == 1 and reports[wang].figures["orders"] == 0
    # li's target progress up to the day: friends added this month so far, of 4
    so_far = 2 + (1 if before.month == DAY.month else 0)
    [progress] = reports[li].targets
    assert (progress["kpi"], progress["target"], progress["actual"], progress["trial"]) == (
        "friends_new", "4", str(so_far), True)
    assert progress["grade"] == "missed" and reports[wang].targets == []
    assert reports[boss].scope == "manager"
    assert reports[boss].figures["new_friends"] == 3 and reports[boss].figures["gmv_fen"] == 12900
    # and the manager's report breaks the team's figures down per front-line member
    assert {m["staff_id"]: (m["figures"]["new_friends"], m["previous"]["new_friends"],
                            m["figures"]["gmv_fen"]) for m in reports[boss].members} == {
        li: (2, 1, 12900), wang: (1, 0, 0)}
    assert reports[li].members == []
    messages = fake_wecom.state.app_messages_snapshot()
    assert sorted(m.touser for m in messages) == sorted(["lisi", wang, "boss"])
    text = next(m.content for m in messages if m.touser == "lisi")
    assert f"目标 friends_new {so_far}/4 ({so_far * 25}% 未达成 试行)" in text
    mine = next(m.content for m in messages if m.touser == "lisi")
    assert "新增好友 2 (+1)" in mine and DAY.isoformat() in mine
    # And the read model shows them; a rebuild of the activity gives the same numbers
    for runner in runners:
        runner.catch_up()
    with pool.connection() as conn:
        live = conn.execute("SELECT * FROM daily_report_activity ORDER BY staff_id, day"
                            ).fetchall()
        statuses = conn.execute("SELECT status, count(*) FROM daily_report GROUP BY status"
                                ).fetchall()
    assert statuses == [("sent", 3)]
    daily = next(r for r in runners if r.view.name == "daily_report")
    daily.rebuild()
    with pool.connection() as conn:
        rebuilt = conn.execute("SELECT * FROM daily_report_activity ORDER BY staff_id, day"
                               ).fetchall()
    assert rebuilt == live
