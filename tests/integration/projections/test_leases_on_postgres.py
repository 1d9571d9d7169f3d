"""Leader election per read model: one process applies, a standby takes over within
seconds when the leader's session dies, and no event is ever applied twice."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from eventsourcing.application import Application
from psycopg import Cursor
from psycopg.rows import DictRow

from application.app import Siyu
from domain.items import EventItem
from projections.leases import Leases, Superseded, lock_key
from projections.runner import BatchRunner, Tracker

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


class CountingView:
    """Appends a row per event applied: a double application shows as a repeat."""

    name = "test_applied"
    version = 1

    def bind(self, app: Application[Any]) -> None:
        pass

    def create(self, curs: Cursor[DictRow]) -> None:
        curs.execute("CREATE TABLE IF NOT EXISTS test_applied (position bigint NOT NULL)")

    def drop(self, curs: Cursor[DictRow]) -> None:
        curs.execute("DROP TABLE IF EXISTS test_applied")

    def clear(self, curs: Cursor[DictRow]) -> None:
        curs.execute("DELETE FROM test_applied")

    def apply_page(self, curs: Cursor[DictRow], events: Sequence[tuple[int, Any]]) -> None:
        for position, _ in events:
            curs.execute("INSERT INTO test_applied VALUES (%s)", (position,))


def record(app: Siyu, first: int, count: int) -> None:
    app.ingestion.record_batch([EventItem(f"lease-{n}", "ORDER_PAID", ("phone", f"1390000{n:04d}"),
                                          NOW, order_id=str(n), amount_fen=100)
                                for n in range(first, first + count)], "service:test")


def applied(url: str) -> tuple[int, int]:
    """(rows, distinct positions) of the counting view."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*), count(DISTINCT position) FROM test_applied"
                           ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def caught_up(app: Siyu, tracker: Tracker, seconds: float) -> bool:
    return tracker.wait("test_applied", app.recorder.max_notification_id() or 0, seconds)


class Process:
    """What one ``siyu projections`` process runs for the read model: its lease
    connection and its runner thread."""

    def __init__(self, app: Siyu, url: str, tracker: Tracker) -> None:
        self.leases = Leases(url, getattr(app.recorder, "channel_name", None), retry=0.5)
        self.runner = BatchRunner(app, CountingView(), tracker, poll_interval=0.2,
                                  lease=self.leases.lease("test_applied"))
        self.thread = threading.Thread(target=self.runner.run_forever, daemon=True)

    def start(self) -> Process:
        self.leases.start()
        self.thread.start()
        return self

    def stop(self) -> None:
        self.runner.stop()
        self.thread.join(10)
        self.leases.stop()

    @property
    def leads(self) -> bool:
        return self.leases.led() == ["test_applied"]


@pytest.fixture
def tracker(pg_app: Siyu) -> Tracker:
    return Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]


@pytest.fixture
def two(pg_app: Siyu, pg_url: str, tracker: Tracker) -> Iterator[list[Process]]:
    processes = [Process(pg_app, pg_url, tracker) for _ in range(2)]
    for process in processes:
        process.start()
    yield processes
    for process in processes:
        process.stop()


def wait_for(check: Any, seconds: float) -> float:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds, f"not within {seconds} s"
        time.sleep(0.05)
    return time.monotonic() - started


def test_one_process_leads_and_a_standby_takes_over_when_its_session_dies(
        pg_app: Siyu, pg_url: str, tracker: Tracker, two: list[Process]) -> None:
    # Given two processes for the same read model: exactly one leads
    wait_for(lambda: any(p.leads for p in two), 5)
    time.sleep(1.2)  # the standby has tried the lock again meanwhile
    assert sorted(p.leads for p in two) == [False, True]
    leader = next(p for p in two if p.leads)
    standby = next(p for p in two if not p.leads)
    record(pg_app, 0, 300)
    assert caught_up(pg_app, tracker, 20)
    # When the leader's session dies mid-stream (as with kill -9 of its process), while
    # events keep arriving
    writer = threading.Thread(target=record, args=(pg_app, 300, 600))
    writer.start()
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (leader.leases.backend_pid,))
    # Then another process leads within 5 s (here: whichever takes the lock first)
    took = wait_for(lambda: standby.leads or leader.leads, 5)
    assert took < 5
    writer.join(60)
    # And every event is applied exactly once
    assert caught_up(pg_app, tracker, 30)
    with psycopg.connect(pg_url) as conn:
        stored = conn.execute("SELECT count(*) FROM siyu_events").fetchone()
    assert stored is not None and applied(pg_url) == (stored[0], stored[0])


def test_a_page_whose_events_another_runner_applied_meanwhile_is_refused_at_commit(
        pg_app: Siyu, pg_url: str, tracker: Tracker) -> None:
    # Given two runners of one read model that both read the log from the same position
    # (one lost its lock after reading: it still holds its page)
    record(pg_app, 0, 50)
    late = BatchRunner(pg_app, CountingView(), tracker)
    page = late._decode(pg_app.recorder.select_notifications(start=0, limit=2000,
                                                             inclusive_of_start=False))
    # When the other applies first
    assert BatchRunner(pg_app, CountingView(), tracker).run_once() == len(page)
    # Then the late one's commit is refused, and nothing is applied twice
    with pytest.raises(Superseded):
        late._commit(page)
    assert applied(pg_url) == (len(page), len(page))


def test_a_group_is_led_whole_by_one_process_or_not_at_all(pg_url: str) -> None:
    # Given two processes wanting the group (a, b), while someone else holds b's lock
    processes = [Leases(pg_url, None, retry=0.2) for _ in range(2)]
    leases = [p.lease("group", ("test_a", "test_b")) for p in processes]
    with psycopg.connect(pg_url, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (lock_key("test_b"),))
        for process in processes:
            process.start()
        try:
            time.sleep(1.0)
            # Then neither leads, and neither keeps a's lock while it waits
            assert not any(lease.held.is_set() for lease in leases)
            # (a try may meet one of their brief attempts: a few tries)
            wait_for(lambda: other.execute("SELECT pg_try_advisory_lock(%s)",
                                           (lock_key("test_a"),)).fetchone() == (True,), 2)
            other.execute("SELECT pg_advisory_unlock_all()")
            # When b is free, exactly one process leads the whole group
            wait_for(lambda: any(lease.held.is_set() for lease in leases), 5)
            time.sleep(0.6)
            assert sorted(lease.held.is_set() for lease in leases) == [False, True]
        finally:
            for process in processes:
                process.stop()


def test_a_stop_wakes_the_lease_connection_waiting_for_a_notify(pg_url: str) -> None:
    # Given a process leading a read model, its lease connection listening for new events
    # with a long wait between tries of the locks
    process = Leases(pg_url, "test_lease_wake", retry=30.0)
    lease = process.lease("test_applied")
    process.start()
    try:
        wait_for(lease.held.is_set, 5)
        # and a NOTIFY still wakes its read models
        lease.wake.clear()
        with psycopg.connect(pg_url, autocommit=True) as other:
            other.execute("NOTIFY test_lease_wake")
        wait_for(lease.wake.is_set, 5)
        time.sleep(0.2)  # back to waiting
    finally:
        # When it stops
        started = time.monotonic()
        process.stop()
        stopped = time.monotonic() - started
    # Then it stops at once, not after its wait, and has given its lock up
    assert stopped < 2.0
    assert process._thread is not None and not process._thread.is_alive()
    assert not lease.held.is_set()
    process.stop()  # a second stop is harmless
