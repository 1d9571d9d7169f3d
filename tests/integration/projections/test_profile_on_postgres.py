"""customer_profile on real PostgreSQL: batches, exactly-once under failure, rebuild equality."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from datetime import datetime, timedelta

import psycopg
import pytest

from application.app import Siyu
from domain.customer import Customer
from domain.ingestion import EventItem
from projections.postgres_views import CustomerProfileView
from projections.runner import BatchRunner, Tracker

pytestmark = pytest.mark.integration

COLUMNS = ("customer_id, first_channel, tags, groups, current_staff_ids, order_count, gmv_fen, "
           "refund_count, refunded_fen, content_views, event_count, stream_versions, "
           "last_interaction_at, staff_relations, identities")


def generate(app: Siyu, now: datetime, customers: int, events: int,
             seed: int = 7) -> None:
    rng = random.Random(seed)
    items: list[EventItem] = []
    for n in range(events):
        who = ("wx_unionid", f"u{rng.randrange(customers)}")
        at = now - timedelta(minutes=rng.randrange(60 * 24 * 40))
        kind = rng.random()
        if kind < 0.25:
            item = EventItem(f"g{n}", "FRIEND_ADDED", who, at, channel="qr", staff_id=f"wecom_user:s{n % 5}")
        elif kind < 0.35:
            item = EventItem(f"g{n}", "FRIEND_DELETED", who, at, staff_id=f"wecom_user:s{n % 5}",
                             deleted_by=rng.choice(["customer", "staff"]))
        elif kind < 0.55:
            item = EventItem(f"g{n}", "TAGGED", who, at, tag=rng.choice(["vip", "宝妈", "价格敏感"]))
        elif kind < 0.65:
            item = EventItem(f"g{n}", "GROUP_JOINED", who, at, group_id=f"grp{n % 3}")
        elif kind < 0.85:
            item = EventItem(f"g{n}", "CONTENT_VIEWED", who, at, content_id=f"c{n % 9}")
        else:
            item = EventItem(f"g{n}", "ORDER_PAID", who, at, order_id=f"o{n}",
                             amount_fen=rng.randrange(100, 100_000))
        items.append(item)
        if len(items) == 500:
            app.ingestion.record_batch(items, "service:test")
            items = []
    if items:
        app.ingestion.record_batch(items, "service:test")


def snapshot(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            f"SELECT {COLUMNS} FROM customer_profile ORDER BY customer_id").fetchall()


def truth(app: Siyu) -> dict[str, Counter[str]]:
    """Independent recomputation straight from the event log."""
    out: dict[str, Counter[str]] = {}
    for n in app.recorder.select_notifications(start=1, limit=1_000_000):
        event = app.mapper.to_domain_event(n)
        if not isinstance(event, Customer.Event):
            continue
        c = out.setdefault(str(event.originator_id), Counter())
        c["events"] += 1
        if isinstance(event, Customer.OrderPaid):
            c["orders"] += 1
            c["gmv"] += event.amount_fen
        if isinstance(event, Customer.ContentViewed):
            c["views"] += 1
    return out


def test_the_profile_equals_an_independent_count_of_the_events(
    pg_app: Siyu, pg_url: str, now: datetime
) -> None:
    # Given 3,000 events about 300 customers, projected in small pages
    generate(pg_app, now, customers=300, events=3_000)
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    BatchRunner(pg_app, CustomerProfileView(), tracker, page_size=137).catch_up()
    # Then every customer's counters equal a count made straight from the log
    expected = truth(pg_app)
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT customer_id, event_count, order_count, gmv_fen, content_views "
                            "FROM customer_profile").fetchall()
    got = {str(r[0]): Counter(events=r[1], orders=r[2], gmv=r[3], views=r[4]) for r in rows}
    assert got == expected  # Counters: a missing key counts as zero
    assert tracker.position("customer_profile") == pg_app.recorder.max_notification_id()


def test_a_rebuild_equals_the_live_projection(
    pg_app: Siyu, pg_url: str, now: datetime
) -> None:
    # Given a live projection that followed the log page by page while events arrived
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    live = BatchRunner(pg_app, CustomerProfileView(), tracker, page_size=250)
    for seed in range(4):
        generate(pg_app, now, customers=200, events=700, seed=seed)
        live.catch_up()
    before = snapshot(pg_url)
    # When it is dropped and rebuilt from the event log in one go
    live.rebuild()
    # Then the rebuilt rows equal the live ones
    assert snapshot(pg_url) == before
    assert len(before) > 100


def test_a_page_that_fails_midway_leaves_rows_and_tracking_untouched(
    pg_app: Siyu, pg_url: str, now: datetime
) -> None:
    generate(pg_app, now, customers=50, events=400)
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]

    class Exploding(CustomerProfileView):
        def apply_page(self, curs, events):  # type: ignore[no-untyped-def]
            super().apply_page(curs, events)  # rows written...
            raise RuntimeError("crash before tracking")  # ...then the process dies

    with pytest.raises(RuntimeError):
        BatchRunner(pg_app, Exploding(), tracker).run_once()
    assert tracker.position("customer_profile") == 0
    assert snapshot(pg_url) == []
    # A healthy runner then applies everything exactly once
    BatchRunner(pg_app, CustomerProfileView(), tracker).catch_up()
    with psycopg.connect(pg_url) as conn:
        total = conn.execute("SELECT sum(event_count) FROM customer_profile").fetchone()
    assert total is not None and total[0] == pg_app.recorder.max_notification_id()


RUNNER = textwrap.dedent("""
    import sys
    from siyu.bootstrap import build_application
    from projections.runner import BatchRunner, Tracker
    from projections.postgres_views import CustomerProfileView
    app = build_application(sys.argv[1], b"x" * 32)
    runner = BatchRunner(app, CustomerProfileView(), Tracker(app.factory.datastore),
                         page_size=10)
    print("ready", flush=True)
    runner.run_forever()
""")


def test_kill_9_during_projection_neither_loses_nor_double_counts(
    pg_app: Siyu, pg_url: str, now: datetime
) -> None:
    # Given 6,000 events waiting to be projected
    generate(pg_app, now, customers=400, events=6_000)
    last = pg_app.recorder.max_notification_id()
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    # When a projection process is killed with SIGKILL three times mid-way
    for _ in range(3):
        before = tracker.position("customer_profile")
        with subprocess.Popen([sys.executable, "-c", RUNNER, pg_url], stdout=subprocess.PIPE,
                              env={**os.environ}) as proc:
            assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
            deadline = time.monotonic() + 30
            while tracker.position("customer_profile") == before and time.monotonic() < deadline:
                time.sleep(0.01)  # kill it once it has committed something, whatever the load
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    partial = tracker.position("customer_profile")
    assert last is not None and 0 < partial < last, "the kills should land mid-way"
    # and a final runner finishes the job
    BatchRunner(pg_app, CustomerProfileView(), tracker).catch_up()
    # Then every event was applied exactly once
    assert tracker.position("customer_profile") == last
    with psycopg.connect(pg_url) as conn:
        total = conn.execute("SELECT sum(event_count) FROM customer_profile").fetchone()
    assert total is not None and total[0] == last
    expected = truth(pg_app)
    with psycopg.connect(pg_url) as conn:
        gmv: dict[str, int] = dict(
            conn.execute("SELECT customer_id::text, gmv_fen FROM customer_profile").fetchall())
    assert gmv == {k: v["gmv"] for k, v in expected.items()}
