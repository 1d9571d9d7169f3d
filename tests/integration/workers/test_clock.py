"""The clock job: one tick per slot, whatever the schedulers and redeliveries, and
time-window segments that change when it ticks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dramatiq
import psycopg
import pytest
from dramatiq.brokers.stub import StubBroker

from application.app import Siyu
from domain.clock import Tick, slot_start
from domain.ingestion import EventItem
from projections.postgres_views import CustomerProfileView
from projections.runner import BatchRunner, Tracker
from workers.clock import ClockScheduler, declare_clock_actor


def test_slots_are_aligned_on_utc_midnight() -> None:
    at = datetime(2026, 12, 1, 20, 47, 13, tzinfo=UTC)
    assert slot_start(at, 60) == datetime(2026, 12, 1, 20, 0, tzinfo=UTC)
    assert slot_start(at, 15) == datetime(2026, 12, 1, 20, 45, tzinfo=UTC)
    assert slot_start(at, 1440) == datetime(2026, 12, 1, tzinfo=UTC)


def test_the_scheduler_enqueues_each_slot_once() -> None:
    # Given a scheduler of hourly slots and a clock we move by hand
    now = [datetime(2026, 12, 1, 20, 5, tzinfo=UTC)]
    sent: list[str] = []
    scheduler = ClockScheduler(sent.append, 60, clock=lambda: now[0])
    # When it polls several times within a slot, then in the next one
    assert scheduler.run_once() is True
    now[0] += timedelta(minutes=30)
    assert scheduler.run_once() is False
    now[0] += timedelta(minutes=30)
    assert scheduler.run_once() is True
    # Then each slot was enqueued once
    assert sent == ["2026-12-01T20:00:00+00:00", "2026-12-01T21:00:00+00:00"]


def test_a_tick_recorded_twice_is_stored_once(memory_app: Siyu) -> None:
    at = datetime(2026, 12, 1, 20, tzinfo=UTC)
    assert memory_app.segments.record_tick(at) is not None
    assert memory_app.segments.record_tick(at) is None
    tick: object = memory_app.repository.get(Tick.create_id(at))
    assert isinstance(tick, Tick) and tick.at == at


def test_two_schedulers_and_redeliveries_through_dramatiq_record_one_tick(
        memory_app: Siyu) -> None:
    # Given the actor on a stub broker and two schedulers on the same clock
    broker = StubBroker()
    actor = declare_clock_actor(broker, memory_app, queue_name="clock")
    now = datetime(2026, 12, 1, 20, 5, tzinfo=UTC)

    def enqueue(slot: str) -> None:
        actor.send(slot)

    schedulers = [ClockScheduler(enqueue, 60, clock=lambda: now) for _ in range(2)]
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        # When both enqueue the slot, and the message is delivered once more
        for scheduler in schedulers:
            scheduler.run_once()
        actor.send(slot_start(now, 60).isoformat())
        broker.join(actor.queue_name, fail_fast=True)
        worker.join()
    finally:
        worker.stop()
        broker.close()
    # Then the log holds one tick for the slot
    ticks = [n for n in memory_app.recorder.select_notifications(start=0, limit=100)
             if n.topic.endswith("Tick.Struck")]
    assert len(ticks) == 1


@pytest.mark.integration
def test_a_customer_leaves_an_active_segment_at_the_first_tick_after_going_silent(
        pg_app: Siyu, pg_url: str) -> None:
    # Given a customer who interacted 25 days ago and a segment "active within 30 days"
    now = datetime.now(UTC)
    pg_app.ingestion.record_batch([EventItem("v1", "CONTENT_VIEWED", ("wx_unionid", "u1"),
                                   now - timedelta(days=25), content_id="c1")], "service:test")
    segment_id, _ = pg_app.segments.define("active", "", {"activeWithinDays": 30}, "staff:m", now)
    runner = BatchRunner(pg_app, CustomerProfileView(), Tracker(pg_app.factory.datastore))  # type: ignore[attr-defined]
    runner.catch_up()

    def members() -> int:
        with psycopg.connect(pg_url) as conn:
            row = conn.execute("SELECT count(*) FROM segment_membership WHERE segment_id = %s",
                               (segment_id,)).fetchone()
        assert row is not None
        return int(row[0])

    assert members() == 1
    # When the clock ticks 4 days later, nothing is due yet; at 6 days later, it is
    pg_app.segments.record_tick(now + timedelta(days=4))
    runner.catch_up()
    assert members() == 1
    pg_app.segments.record_tick(now + timedelta(days=6))
    runner.catch_up()
    # Then the customer left, because of the tick
    assert members() == 0
    with psycopg.connect(pg_url) as conn:
        last = conn.execute("SELECT change, cause, cause_event FROM segment_ledger "
                            "WHERE segment_id = %s ORDER BY entry_id DESC LIMIT 1",
                            (segment_id,)).fetchone()
    assert last == ("EXITED", "TICK", "Tick.Struck")
