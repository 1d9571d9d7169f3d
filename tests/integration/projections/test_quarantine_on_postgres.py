"""A read model never dies on one event: it quarantines the event and goes on.

Before this, a page that failed stopped the runner (and under ``siyu run`` the whole process
tree), and every restart and rebuild met the same event again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from eventsourcing.application import Application
from psycopg import Cursor
from psycopg.rows import DictRow

from application.app import Siyu
from domain.items import EventItem
from projections import quarantine
from projections.postgres_views import CustomerProfileView
from projections.runner import BatchRunner, Tracker
from siyu.bootstrap import build_application
from tests.conftest import SECRET

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


class SeenView:
    """Records which notifications it applied; fails on the ones listed in ``poison``."""

    name = "test_seen"
    version = 1

    def __init__(self, poison: set[int]) -> None:
        self.poison = poison

    def bind(self, app: Application[Any]) -> None:
        pass

    def create(self, curs: Cursor[DictRow]) -> None:
        curs.execute("CREATE TABLE IF NOT EXISTS test_seen (id bigint PRIMARY KEY)")

    def drop(self, curs: Cursor[DictRow]) -> None:
        curs.execute("DROP TABLE IF EXISTS test_seen")

    def clear(self, curs: Cursor[DictRow]) -> None:
        curs.execute("DELETE FROM test_seen")

    def apply_page(self, curs: Cursor[DictRow], events: Sequence[tuple[int, Any]]) -> None:
        for position, _ in events:
            # Insert first, fail after: the failed transaction must leave nothing behind.
            curs.execute("INSERT INTO test_seen VALUES (%s)", (position,))
            if position in self.poison:
                raise ValueError(f"cannot apply {position}")


def tagged(n: int) -> EventItem:
    return EventItem(event_id=f"q-{n}", type="TAGGED", identity=("mall_member", f"m-{n % 7}"),
                     occurred_at=NOW + timedelta(seconds=n), tag=f"VIP{n}")


def record(app: Siyu, count: int, start: int = 0) -> list[int]:
    """Record ``count`` tags (a new customer's first also records its creation); returns
    the position of every event in the log so far."""
    result = app.ingestion.record_batch([tagged(n) for n in range(start, start + count)], "service:tests")
    assert result.count("accepted") == count
    return [n.id for n in app.recorder.select_notifications(start=1, limit=10_000)]


def tag_positions(app: Siyu) -> list[int]:
    return [n.id for n in app.recorder.select_notifications(start=1, limit=10_000)
            if n.topic.endswith("Customer.Tagged")]


def seen(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM test_seen ORDER BY id")]


def open_quarantine(app: Siyu, name: str) -> list[quarantine.Quarantined]:
    with app.factory.datastore.transaction(commit=False) as curs:  # type: ignore[attr-defined]
        return quarantine.open_entries(curs, name)


def test_a_failing_event_is_quarantined_and_every_other_one_applied(
        pg_app: Siyu, pg_url: str) -> None:
    # Given 50 events, three of which the view cannot apply (two of them adjacent)
    positions = record(pg_app, 50)
    poison = {positions[6], positions[22], positions[23]}
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    runner = BatchRunner(pg_app, SeenView(poison), tracker, page_size=20)
    # When it catches up
    runner.catch_up()
    # Then everything else is applied, the position is at the end, the three are set aside
    assert seen(pg_url) == [p for p in positions if p not in poison]
    assert tracker.position("test_seen") == positions[-1]
    entries = open_quarantine(pg_app, "test_seen")
    assert [e.notification_id for e in entries] == sorted(poison)
    assert {e.error_class for e in entries} == {"ValueError"}
    assert all(e.topic.endswith("Customer.Tagged") for e in entries)


def test_a_rebuild_skips_the_same_events_and_a_retry_after_the_fix_applies_them(
        pg_app: Siyu, pg_url: str) -> None:
    positions = record(pg_app, 30)
    view = SeenView({positions[3], positions[17]})
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    runner = BatchRunner(pg_app, view, tracker, page_size=8)
    runner.catch_up()
    # A rebuild meets them again and skips them the same way
    runner.rebuild()
    assert len(seen(pg_url)) == len(positions) - 2 and len(open_quarantine(pg_app, "test_seen")) == 2
    # A retry while one is still broken resolves the other only
    view.poison = {positions[17]}
    assert runner.retry_quarantined() == (1, 1)
    # After the fix, the retry applies the rest: the read model equals a clean rebuild
    view.poison = set()
    assert runner.retry_quarantined() == (1, 0)
    assert seen(pg_url) == positions
    assert open_quarantine(pg_app, "test_seen") == []
    assert runner.retry_quarantined() == (0, 0)


def test_text_no_table_can_hold_is_quarantined_by_the_profile_view_which_goes_on(
        pg_app: Siyu, pg_url: str) -> None:
    # Given a NUL smuggled into a stored event by hand (the write side refuses it now)
    record(pg_app, 10)
    positions = tag_positions(pg_app)
    table = pg_app.recorder.events_table_name  # type: ignore[attr-defined]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        state = conn.execute(f"SELECT state FROM {table} WHERE notification_id = %s",
                             (positions[4],)).fetchone()
        assert state is not None and b"VIP" in state[0]
        conn.execute(f"UPDATE {table} SET state = %s WHERE notification_id = %s",
                     (state[0].replace(b"VIP", b"V\\u0000IP"), positions[4]))
        # and a stored event that no longer decodes
        conn.execute(f"UPDATE {table} SET state = %s WHERE notification_id = %s",
                     (b'{"not": "what the class takes"', positions[7]))
    runner = BatchRunner(pg_app, CustomerProfileView(),
                         Tracker(pg_app.factory.datastore))  # type: ignore[attr-defined]
    # When the profile projection catches up
    runner.catch_up()
    # Then both are quarantined, and the profiles hold every other tag
    entries = open_quarantine(pg_app, "customer_profile")
    assert [e.notification_id for e in entries] == [positions[4], positions[7]]
    assert "\x00" not in entries[0].error
    with psycopg.connect(pg_url) as conn:
        profiles = conn.execute("SELECT count(*) FROM customer_profile").fetchone()
    assert profiles is not None and profiles[0] == 7


def test_a_tailing_runner_reconnects_after_its_connections_are_killed(
        pg_app: Siyu, pg_url: str) -> None:
    # Given a runner tailing the log
    record(pg_app, 5)
    runner = BatchRunner(pg_app, SeenView(set()), Tracker(
        pg_app.factory.datastore), poll_interval=0.05)  # type: ignore[attr-defined]
    thread = threading.Thread(target=runner.run_forever, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not seen(pg_url) and time.monotonic() < deadline:
            time.sleep(0.05)
        before = len(seen(pg_url))
        # When every other connection to the database is killed (as a restart would)
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        # and more events arrive (through a new application: the old pool is stale too)
        writer = build_application(pg_url, SECRET)
        try:
            record(writer, 5, start=100)
        finally:
            writer.close()
        # Then the runner, still alive, applies them
        deadline = time.monotonic() + 30
        total = len(pg_app.recorder.select_notifications(start=1, limit=10_000))
        while len(seen(pg_url)) < total and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(seen(pg_url)) == total > before
        assert thread.is_alive()
    finally:
        runner.stop()
        thread.join(15)


def test_a_view_that_fails_on_every_event_is_reported_not_quarantined_wholesale(
        pg_app: Siyu, pg_url: str) -> None:
    # Given a view broken for every event (a bug, not a bad event)
    positions = record(pg_app, 12)
    runner = BatchRunner(pg_app, SeenView(set(positions)), Tracker(
        pg_app.factory.datastore), page_size=5)  # type: ignore[attr-defined]
    # When it runs, the failure is raised and nothing is set aside or applied
    with pytest.raises(ValueError, match="cannot apply"):
        runner.catch_up()
    assert open_quarantine(pg_app, "test_seen") == [] and seen(pg_url) == []


def test_each_quarantined_event_alerts_the_managers_once_across_restarts_and_rebuilds(
        pg_app: Siyu, pg_url: str) -> None:
    from psycopg_pool import ConnectionPool

    from projections.staff_alerts import outbox
    from siyu.processes import read_model_views
    from tests.integration.api.test_alerts_http import FakeStaffGateway
    from tests.support.directory import hire_as
    from workers.alerts import AlertDeps, AlertStore, deliver_staff_alert

    # Given a company manager in the directory and the alert outbox in place
    manager = "0a6f0000-0000-4000-8000-0000000000aa"
    hire_as(pg_app, manager, "private_domain_manager", "middle_office", wait=False)
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    directory = next(v for v in read_model_views() if v.name == "staff_directory")
    BatchRunner(pg_app, directory, tracker).catch_up()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        outbox.create_tables(conn.cursor())
    # When a read model quarantines an event, is restarted, and rebuilt (meeting it again)
    positions = record(pg_app, 20)
    poisoned = positions[-5]
    BatchRunner(pg_app, SeenView({poisoned}), tracker, page_size=8).catch_up()
    restarted = BatchRunner(pg_app, SeenView({poisoned}), tracker, page_size=8)
    restarted.catch_up()
    restarted.rebuild()
    # Then there is one alert for it, to be delivered
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT alert_key, kind, staff_id FROM staff_alert_outbox").fetchall()
    assert rows == [(f"quarantine:test_seen:{poisoned}", "projection_quarantined", "system")]
    # And delivering it (twice: a redelivered message) messages the manager once
    gateway = FakeStaffGateway()
    with ConnectionPool(pg_url, min_size=1, max_size=2) as pool:
        store = AlertStore(pool)
        for _ in range(2):
            deliver_staff_alert(AlertDeps(app=pg_app, store=store, gateway=gateway), rows[0][0])
    assert len(gateway.sent) == 1
    to, text = gateway.sent[0]
    assert to == manager and f"view test_seen position {poisoned} (ValueError)" in text
