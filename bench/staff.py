"""Staff KPI benchmarks: ``staff_projection_throughput`` (events/s through the
staff-performance view; target ≥ 10,000), ``staff_projection_throughput_shuffled`` (the
same events in random order: the late-event path on every page) and ``kpi_query_p99`` (ms
for a department-month ``staff_kpi_rollup``; target < 20).

The workload: 50 staff in two departments, customers added as friends over a
month, chats both ways, orders and refunds (every event is one the view reads).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import psycopg

from application.app import Siyu
from bench.common import SECRET, Measure, fresh_database, measure
from domain.ingestion import EventItem
from projections.organisation import StaffAssignmentView
from projections.runner import BatchRunner, Tracker
from projections.staff_performance import StaffPerformanceView
from siyu.bootstrap import build_application

START = datetime(2025, 11, 1, tzinfo=UTC)
STAFF = 50
LATE_SHARE = 0.02  # events delivered late in the live-order workload


def kpi_items(staff: list[UUID], events: int, customers: int, seed: int = 7, *,
              late_share: float | None = LATE_SHARE) -> list[EventItem]:
    """A month of friend adds, then a day of chats and orders.

    ``late_share`` None: every event in random order (each chat's messages arrive shuffled:
    the worst case, where nearly every page re-derives its chats). Otherwise events arrive
    in time order, as live callbacks do, except that this share of them arrives late (up to
    two hours after later events: resyncs, retried callbacks)."""
    items = _kpi_items(staff, events, customers, seed)
    if late_share is None:
        return items
    rng = random.Random(seed + 1)
    delivered = [item.occurred_at + (timedelta(seconds=rng.uniform(0, 7200))
                                     if rng.random() < late_share else timedelta(0))
                 for item in items]
    order = sorted(range(len(items)), key=lambda i: delivered[i])
    return [items[i] for i in order]


def _kpi_items(staff: list[UUID], events: int, customers: int, seed: int) -> list[EventItem]:
    rng = random.Random(seed)
    items: list[EventItem] = []
    for c in range(customers):
        at = START + timedelta(seconds=rng.uniform(0, 27 * 86400))
        items.append(EventItem(f"k{len(items)}", "FRIEND_ADDED", ("wx_unionid", f"k{c}"), at,
                               staff_id=str(rng.choice(staff)), channel="qr:store-1"))
    while len(items) < events:
        c = rng.randrange(customers)
        at = START + timedelta(seconds=rng.uniform(28 * 86400, 29 * 86400 - 60))
        kind = rng.random()
        sid = str(staff[c % len(staff)])
        if kind < 0.45:
            items.append(EventItem(f"k{len(items)}", "MESSAGE_RECEIVED", ("wx_unionid", f"k{c}"),
                                   at, staff_id=sid, message_kind="text"))
        elif kind < 0.9:
            items.append(EventItem(f"k{len(items)}", "MESSAGE_SENT", ("wx_unionid", f"k{c}"),
                                   at, staff_id=sid, message_kind="text"))
        else:
            items.append(EventItem(f"k{len(items)}", "ORDER_PAID", ("wx_unionid", f"k{c}"), at,
                                   order_id=f"o{len(items)}", amount_fen=rng.randrange(100, 9999)))
    return items


def _prepared(events: int, customers: int, late_share: float | None
              ) -> tuple[Siyu, Tracker, str]:
    url = fresh_database()
    app = build_application(url, SECRET)
    app.clock = lambda: START + timedelta(days=60)
    staff = [app.staff.hire("sales", "front_office" if s % 2 else "middle_office", f"s{s}",
                            "staff:bench", START - timedelta(days=1)) for s in range(STAFF)]
    items = kpi_items(staff, events, customers, late_share=late_share)
    for start in range(0, len(items), 1000):
        app.ingestion.record_batch(items[start:start + 1000], "service:bench")
    tracker = Tracker(app.factory.datastore)  # type: ignore[attr-defined]
    BatchRunner(app, StaffAssignmentView(), tracker).catch_up()
    return app, tracker, url


def _throughput(app: Siyu, tracker: Tracker, url: str) -> float:
    """KPI events per second through the view, from an empty read model."""
    runner = BatchRunner(app, StaffPerformanceView(), tracker, page_size=5000)
    started = time.perf_counter()
    runner.catch_up()
    elapsed = time.perf_counter() - started
    with psycopg.connect(url) as conn:
        stored = conn.execute("SELECT count(*) FROM staff_kpi_ledger").fetchone()
    return (int(stored[0]) if stored else 0) / elapsed


def _kpi_query_p99(url: str) -> float:
    timings: list[float] = []
    with psycopg.connect(url) as conn:
        for n in range(220):
            t0 = time.perf_counter()
            conn.execute("SELECT * FROM staff_kpi_rollup(NULL, %s, %s, %s)",
                         ("front_office" if n % 2 else "middle_office",
                          date(2025, 11, 1), date(2025, 11, 30))).fetchone()
            if n >= 20:  # warm-up
                timings.append((time.perf_counter() - t0) * 1000)
    timings.sort()
    return timings[int(0.99 * len(timings)) - 1]


def staff_benchmarks(quick: bool) -> list[Measure]:
    events, customers = (20_000, 4_000) if quick else (100_000, 10_000)
    app, tracker, url = _prepared(events, customers, None)
    try:
        shuffled = _throughput(app, tracker, url)
    finally:
        app.close()
    app, tracker, url = _prepared(events, customers, LATE_SHARE)
    try:
        live = _throughput(app, tracker, url)
        p99 = _kpi_query_p99(url)
    finally:
        app.close()
    return [measure("staff_projection_throughput", live, "events/s", 10_000),
            measure("staff_projection_throughput_shuffled", shuffled, "events/s", 10_000),
            measure("kpi_query_p99", p99, "ms", 20)]


BENCHMARKS: dict[str, Callable[[bool], list[Measure]]] = {
    "staff_kpis": staff_benchmarks,
}
