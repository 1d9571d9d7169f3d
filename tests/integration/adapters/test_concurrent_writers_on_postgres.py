"""Two application instances (two API processes) writing the same customers at once:
every conflict is decided again after a jittered pause, every item is stored once,
and what cannot be completed is a typed answer, never an unexpected error."""

from __future__ import annotations

import contextlib
import random
import threading
from collections import Counter
from datetime import datetime, timedelta

import psycopg
import pytest

from application.app import Siyu
from application.unit_of_work import WriteConflict
from domain.ingestion import EventItem
from siyu.bootstrap import build_application
from tests.conftest import SECRET

pytestmark = pytest.mark.integration

THREADS, BATCHES, ITEMS = 8, 25, 20


def batch(rng: random.Random, b: int, now: datetime) -> list[EventItem]:
    """Views by 25 customers, new ones (first seen in this batch) included; event ids
    shared by the threads that use the same seed, so both instances send them."""
    return [EventItem(f"e{b}-{i}", "CONTENT_VIEWED", ("phone", f"138{b % 5:04d}{rng.randrange(25):04d}"),
                      now - timedelta(minutes=rng.randrange(1000)), content_id=f"c{i}")
            for i in range(ITEMS)]


def test_two_instances_writing_the_same_customers_store_each_item_once(
        pg_url: str, now: datetime) -> None:
    # Given two application instances with their own pools and caches
    apps = [build_application(pg_url, SECRET) for _ in range(2)]
    accepted: Counter[str] = Counter()
    errors: list[BaseException] = []
    conflicts: list[WriteConflict] = []
    lock = threading.Lock()

    def write(app: Siyu, seed: int) -> None:
        rng = random.Random(seed)
        for b in range(BATCHES):
            try:
                result = app.ingestion.record_batch(batch(rng, b, now), "service:test")
            except WriteConflict as conflict:  # typed: nothing stored, the client retries
                conflicts.append(conflict)
                continue
            except BaseException as error:
                errors.append(error)
                return
            with lock:
                accepted.update(o.event_id for o in result.outcomes if o.status == "accepted")

    # When eight threads, four per instance, send the same batches at the same time
    try:
        threads = [threading.Thread(target=write, args=(apps[n % 2], n // 2))
                   for n in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
    finally:
        for app in apps:
            app.close()
    # Then nothing failed unexpectedly, and every stored view was accepted exactly once
    assert errors == []
    assert all(n == 1 for n in accepted.values()), accepted.most_common(3)
    with psycopg.connect(pg_url) as conn:
        stored = conn.execute("SELECT count(*) FROM siyu_events "
                              "WHERE topic LIKE %s", ("%ContentViewed",)).fetchone()
        keys = conn.execute("SELECT count(*) FROM siyu_event_key").fetchone()
    assert stored == (sum(accepted.values()),)
    assert keys is not None and keys[0] >= sum(accepted.values())
    assert len(conflicts) <= THREADS * BATCHES // 10  # rare, and typed when they happen


def _forget_prepared_statements_behind_psycopgs_back(app: Siyu) -> int:
    """Drop every prepared statement server-side on each pooled connection, as a
    pipeline aborted at the wrong moment could leave one: psycopg still believes them
    prepared."""
    pool = app.factory.datastore.pool  # type: ignore[attr-defined]
    with contextlib.ExitStack() as stack:
        conns = [stack.enter_context(pool.connection()) for _ in range(pool.get_stats().get(
            "pool_size", 1))]
        for conn in conns:
            conn.pgconn.exec_(b"DEALLOCATE ALL")
        return len(conns)


def test_a_connection_whose_prepared_statements_vanished_is_retried(
        pg_app: Siyu, now: datetime) -> None:
    # Given a customer written (and its statements prepared on the pooled connections)
    who = ("phone", "13900000001")
    for n in range(8):
        result = pg_app.ingestion.record_batch(
            [EventItem(f"p{n}", "CONTENT_VIEWED", who, now, content_id="c")], "s:t")
        customer = result.outcomes[0].customer_id
        assert customer is not None
        pg_app.evict([customer])  # read from the store again: its statements are prepared
    # When the server forgets them behind psycopg's back
    assert _forget_prepared_statements_behind_psycopgs_back(pg_app) >= 1
    # Then the next writes succeed (decided again on the stale statement) instead of failing
    for n in range(3):
        result = pg_app.ingestion.record_batch(
            [EventItem(f"q{n}", "CONTENT_VIEWED", who, now, content_id="c")], "s:t")
        assert [o.status for o in result.outcomes] == ["accepted"]
