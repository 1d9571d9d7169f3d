"""The PostgreSQL recorder: events and side rows in one transaction, several writers, snapshots."""

from __future__ import annotations

import contextlib
import threading
from datetime import datetime
from typing import Any
from uuid import uuid4

import psycopg
import psycopg.sql
import pytest

from adapters.recorders import SiyuPostgresRecorder
from application.app import Siyu
from domain.customer import Customer
from domain.ingestion import EventItem
from siyu.bootstrap import build_application
from tests.conftest import SECRET, count_stored_events_read

pytestmark = pytest.mark.integration

WHO = ("wx_unionid", "o-shared-customer")


def test_two_processes_appending_to_one_customer_lose_nothing(
    pg_app: Siyu, pg_url: str, now: datetime
) -> None:
    # Given two application instances (as in two API processes) with their own caches
    other = build_application(pg_url, SECRET)
    try:
        # When they take turns appending to the same customer
        for n in range(20):
            app = pg_app if n % 2 else other
            result = app.ingestion.record_batch(
                [EventItem(f"t{n}", "CONTENT_VIEWED", WHO, now, content_id=f"c{n}")], "s:t")
            assert result.outcomes[0].status == "accepted"
    finally:
        other.close()
    # Then every append is stored, versions are contiguous
    customer_id = pg_app.ingestion.record_batch(
        [EventItem("final", "TAGGED", WHO, now, tag="x")], "s:t").outcomes[0].customer_id
    assert customer_id is not None
    events = pg_app.recorder.select_events(customer_id)
    assert [e.originator_version for e in events] == list(range(1, len(events) + 1))
    assert len(events) == 2 + 20 + 1  # Registered, IdentityLinked, 20 views, Tagged


def test_concurrent_first_sight_of_one_identity_creates_one_customer(
    pg_url: str, now: datetime
) -> None:
    apps = [build_application(pg_url, SECRET) for _ in range(4)]
    results: list[object] = []
    barrier = threading.Barrier(len(apps))

    def write(app: Siyu, n: int) -> None:
        barrier.wait()
        outcome = app.ingestion.record_batch(
            [EventItem(f"first-{n}", "TAGGED", ("phone", "13700137000"), now, tag=f"t{n}")],
            "s:t").outcomes[0]
        results.append(outcome.customer_id)

    threads = [threading.Thread(target=write, args=(app, n)) for n, app in enumerate(apps)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for app in apps:
        app.close()
    assert len(results) == 4 and len(set(results)) == 1
    with psycopg.connect(pg_url) as conn:
        registered = conn.execute(
            "SELECT count(*) FROM siyu_events WHERE topic LIKE %s",
            ("%Customer.Registered",)).fetchone()
    assert registered == (1,)


def test_a_fresh_process_appends_after_reading_a_snapshot_not_the_whole_stream(
    pg_app: Siyu, pg_url: str, now: datetime
) -> None:
    # Given a customer with 1,050 events
    for b in range(3):
        pg_app.ingestion.record_batch([EventItem(f"h{b}-{i}", "CONTENT_VIEWED", WHO, now, content_id="c")
                             for i in range(350)], "s:t")
    fresh = build_application(pg_url, SECRET)
    read = count_stored_events_read(fresh)
    try:
        # When a process with an empty cache appends one more
        result = fresh.ingestion.record_batch([EventItem("x", "TAGGED", WHO, now, tag="x")], "s:t")
    finally:
        fresh.close()
    # Then it read fewer than 100 stored events (the snapshot did the rest)
    assert result.outcomes[0].status == "accepted"
    assert sum(read) < 100


def test_the_batch_position_is_the_last_stored_notification(
    pg_app: Siyu, now: datetime
) -> None:
    result = pg_app.ingestion.record_batch(
        [EventItem(f"p{i}", "TAGGED", ("mall_member", f"m{i}"), now, tag="t") for i in range(50)],
        "s:t")
    assert result.last_position == pg_app.recorder.max_notification_id()
    stored = pg_app.recorder.select_notifications(start=1, limit=1000)
    assert [n.id for n in stored] == sorted(n.id for n in stored)
    assert all(isinstance(pg_app.mapper.to_domain_event(n), Customer.Event) for n in stored)


def test_events_and_their_side_rows_are_written_together(
    pg_app: Siyu, pg_url: str, now: datetime
) -> None:
    pg_app.ingestion.record_batch([EventItem("s1", "PROFILE_UPDATED", ("phone", "13600136000"), now,
                                   nickname="赵六")], "s:t")
    with psycopg.connect(pg_url) as conn:
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM siyu_identity), (SELECT count(*) FROM siyu_event_key),"
            " (SELECT count(*) FROM siyu_vault_key), (SELECT count(*) FROM siyu_vault_value),"
            " (SELECT count(*) FROM siyu_events)").fetchone()
        dump = conn.execute("SELECT string_agg(encode(state, 'escape'), '') FROM siyu_events"
                            ).fetchone()
    assert counts == (1, 1, 1, 2, 3)
    assert dump is not None and "13600136000" not in dump[0] and "赵六" not in dump[0]


def _rows_read(conn: psycopg.Connection[Any], statement: psycopg.sql.Composable,
               params: tuple[object, ...]) -> int:
    """Rows the scans of ``statement`` returned from the events table (EXPLAIN ANALYZE)."""
    row = conn.execute(psycopg.sql.SQL("EXPLAIN (ANALYZE, FORMAT JSON) ") + statement,
                       params).fetchone()
    assert row is not None

    def walk(node: dict[str, Any]) -> int:
        own = node["Actual Rows"] * node.get("Actual Loops", 1) \
            if node.get("Relation Name") == "siyu_events" else 0
        return int(own) + sum(walk(child) for child in node.get("Plans", []))

    return walk(row[0][0]["Plan"])


def test_stream_look_ups_cost_the_same_however_long_the_stream(
    pg_app: Siyu, pg_url: str, now: datetime
) -> None:
    # Given a customer with 1,052 events and one with 3
    long_id = pg_app.ingestion.record_batch(
        [EventItem(f"l{i}", "CONTENT_VIEWED", WHO, now, content_id="c") for i in range(1050)],
        "s:t").outcomes[0].customer_id
    short_id = pg_app.ingestion.record_batch(
        [EventItem("s", "TAGGED", ("mall_member", "m1"), now, tag="t")], "s:t").outcomes[0].customer_id
    missing = uuid4()
    recorder = pg_app.recorder
    assert isinstance(recorder, SiyuPostgresRecorder) and long_id and short_id
    # Then versions and short streams are right, an unknown stream absent from both
    assert recorder.stream_versions([long_id, short_id, missing]) == {long_id: 1052, short_id: 3}
    short = recorder.short_streams([long_id, short_id, missing], 100)
    assert list(short) == [short_id]
    assert [e.originator_version for e in short[short_id]] == [1, 2, 3]
    # And the look-ups read one index entry per stream, not the stream (every append pays them)
    with psycopg.connect(pg_url) as conn:
        assert _rows_read(conn, recorder._select_versions, ([long_id, short_id],)) <= 2
        assert _rows_read(conn, recorder._select_short_streams, ([long_id], 100)) <= 1


def test_ids_never_stored_bare_skip_the_source_look_up(pg_app: Siyu, now: datetime) -> None:
    # The source look-up (must not run here), planned for a whole batch, cost ~100 ms of JIT.
    recorder = pg_app.recorder
    assert isinstance(recorder, SiyuPostgresRecorder)
    pg_app.ingestion.record_batch([EventItem("e1", "TAGGED", WHO, now, tag="t")], "s:t")
    recorder._select_legacy_event_keys = psycopg.sql.Composed([psycopg.sql.SQL("SELECT 1 / 0")])
    assert recorder.legacy_event_keys([f"new-{i}" for i in range(1000)]) == {}


def test_a_fresh_process_rebuilds_a_long_stream_from_its_last_snapshot_in_one_read(
    pg_app: Siyu, pg_url: str, now: datetime
) -> None:
    # Given a customer with 1,052 events (snapshots every 100: the last at 1,000)
    customer_id = pg_app.ingestion.record_batch(
        [EventItem(f"t{i}", "TAGGED", WHO, now, tag=f"t{i}") for i in range(7)]
        + [EventItem(f"l{i}", "CONTENT_VIEWED", WHO, now, content_id="c") for i in range(1043)],
        "s:t").outcomes[0].customer_id
    assert customer_id is not None
    fresh = build_application(pg_url, SECRET)
    try:
        recorder = fresh.recorder
        assert isinstance(recorder, SiyuPostgresRecorder)
        # When a fresh process reads what rebuilds it
        tail = recorder.stream_tail(customer_id)
        # Then it is the latest snapshot, then the events after it, in order
        assert tail[0].topic == "eventsourcing.domain:Snapshot"
        assert [e.originator_version for e in tail] == list(range(1000, 1053))
        assert recorder.stream_tail(uuid4()) == []
        # And the customer it rebuilds is the one the writer holds
        found = fresh.find(customer_id, Customer)
        held = pg_app.find(customer_id, Customer)
        assert found is not None and held is not None
        assert (found.version, found.tags) == (1052, held.tags) and len(found.tags) == 7
    finally:
        fresh.close()


def test_the_events_after_a_snapshot_are_read_by_index_when_the_customer_holds_the_table(
    pg_app: Siyu, now: datetime
) -> None:
    # Given one customer holding every stored event (1,052 of them, a snapshot at 1,000),
    # the table's statistics up to date
    result = pg_app.ingestion.record_batch(
        [EventItem(f"h{i}", "CONTENT_VIEWED", WHO, now, content_id="c") for i in range(1050)],
        "s:t")
    customer_id = result.outcomes[0].customer_id
    recorder = pg_app.recorder
    assert customer_id is not None and isinstance(recorder, SiyuPostgresRecorder)
    with recorder.datastore.get_connection() as conn:
        conn.execute("ANALYZE siyu_events")
        blind = conn.execute("SELECT blind_index FROM siyu_identity WHERE customer_id = %s",
                             (customer_id,)).fetchone()
        assert blind is not None
        # When the statements that rebuild a cold customer are planned
        plans = ["\n".join(r["QUERY PLAN"] for r in conn.execute(
            "EXPLAIN " + statement.as_string(conn).replace("%b", "%s"), params).fetchall())
            for statement, params in ((recorder._select_tail, {"id": customer_id}),
                                      (recorder._select_tails, ([blind["blind_index"]],)))]
    # Then they read the index range after the snapshot, never the whole table
    for plan in plans:
        assert "Seq Scan on siyu_events" not in plan, plan
        assert "Index Scan using siyu_events_pkey on siyu_events" in plan, plan


def test_a_fresh_process_has_read_the_write_tables_on_every_kept_connection(
        pg_url: str) -> None:
    # Given a fresh process (its pool keeps 5 connections, and may have opened one more
    # while the store set itself up)
    app = build_application(pg_url, SECRET)
    try:
        recorder = app.recorder
        assert isinstance(recorder, SiyuPostgresRecorder)
        pool = recorder.datastore.pool
        held = pool.get_stats()["pool_size"]
        assert held >= 5 and pool.get_stats()["pool_available"] == held
        # When every connection it holds is borrowed at once
        with contextlib.ExitStack() as borrowed:
            pids = [borrowed.enter_context(recorder.datastore.get_connection()).info.backend_pid
                    for _ in range(held)]
            with psycopg.connect(pg_url, autocommit=True) as conn:
                last: dict[int, str] = dict(conn.execute(
                    "SELECT pid, query FROM pg_stat_activity WHERE pid = ANY(%s)",
                    (pids,)).fetchall())
        # Then each one's backend has run a write's inserts already (the first command
        # meets no cold backend), and warming them again borrows each once more
        assert len(set(pids)) == held
        assert all(last[pid].startswith('INSERT INTO "public"."siyu_event_chain"')
                   for pid in pids), last
        assert recorder.warm_connections() == held
    finally:
        app.close()
