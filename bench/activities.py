"""Activity benchmarks: the KPI tree query over a year of journey facts, and the projection.

``activity_tree_p99``: p99 ms of reading one activity's figures (the grouping of its
attributed facts behind ``Activity.figures``; the attribution, kept by the projection, is
derived once when the plan is inserted) over ``customer_journey`` holding 1M facts (quick:
200k) of 100k customers spread over 12 months, for a one-month activity with a channel, a
linked campaign and products. The facts are written with COPY: the measure is the read.

``activity_projection``: events/s the ``activity``/``customer_journey`` read model projects
alone, from a log of journey events recorded through the application.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import psycopg

from api.read_models import open_pool
from bench.common import SECRET, Measure, fresh_database, measure, p99
from domain.activity import ActivityPlan
from domain.items import EventItem, OrderItem
from projections.activities import ActivityView, queries
from projections.activities.view import attribute
from projections.runner import BatchRunner, Tracker
from siyu.bootstrap import build_application

YEAR_START = datetime(2025, 12, 1, tzinfo=UTC)
CHANNELS = ["qr:store-01", "qr:store-02", "h5:ad", "mini_program", "wecom"]
STEPS = [("touch", "Customer.FriendAdded"), ("visit", "Customer.ProductViewed"),
         ("visit", "Customer.ContentViewed"), ("cart", "Customer.AddedToCart"),
         ("order", "Customer.OrderPlaced"), ("pay", "Customer.OrderPaid"),
         ("refund", "Customer.OrderRefunded")]


def _facts(total: int, campaign: UUID) -> list[tuple[object, ...]]:
    rng = random.Random(5)
    customers = [uuid4() for _ in range(100_000)]
    rows: list[tuple[object, ...]] = []
    for position in range(1, total + 1):
        step, kind = rng.choices(STEPS, weights=[10, 20, 10, 6, 4, 3, 1])[0]
        at = YEAR_START + timedelta(seconds=rng.uniform(0, 365 * 86400))
        order = f"o{rng.randint(1, total // 5)}" if step in ("order", "pay", "refund") else None
        rows.append((position, rng.choice(customers), at, step, kind,
                     rng.choice(CHANNELS) if step != "refund" else None,
                     campaign if step == "touch" and rng.random() < 0.05 else None, None,
                     order, rng.randint(10, 900) * 100 if order else None,
                     [rng.choice("ABCDEFGH")] if step in ("visit", "cart", "order", "pay")
                     else []))
    return rows


def activity_tree_p99(quick: bool) -> list[Measure]:
    url = fresh_database()
    app = build_application(url, SECRET)
    tracker = Tracker(app.factory.datastore)  # type: ignore[attr-defined]
    BatchRunner(app, ActivityView(), tracker)  # creates the tables
    total = 200_000 if quick else 1_000_000
    campaign = uuid4()
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy("COPY customer_journey FROM STDIN") as copy:
            for row in _facts(total, campaign):
                copy.write_row(row)
        start = YEAR_START + timedelta(days=180)
        cur.execute("INSERT INTO activity VALUES (%s, 'bench', 'promotion', %s, %s, "
                    "ARRAY['qr'], ARRAY[%s]::uuid[], ARRAY['A', 'B'], "
                    "ARRAY['reach', 'visit', 'cart', 'order', 'pay'], 100000000, 5000, 20000, "
                    "'bench', %s, NULL, NULL, NULL, NULL, 1, 1)",
                    (activity_id := uuid4(), start, start + timedelta(days=30), campaign, start))
        attribute(cur, activities=[activity_id])  # as the projection does on the plan
        cur.execute("ANALYZE customer_journey")
        cur.execute("ANALYZE siyu_activity_fact")
    app.close()

    async def run() -> list[float]:
        times: list[float] = []
        async with open_pool(url, max_size=1) as pool:
            for _ in range(30 if quick else 100):
                began = time.perf_counter()
                await queries.figures(pool, activity_id)
                times.append((time.perf_counter() - began) * 1000)
        return times

    return [measure("activity_tree_p99", p99(asyncio.run(run())), "ms")]


def activity_projection(quick: bool) -> list[Measure]:
    url = fresh_database()
    app = build_application(url, SECRET)
    at = datetime.now(UTC) - timedelta(days=3)
    app.activities.plan(ActivityPlan("bench", "promotion", at, at + timedelta(days=2),
                                     channels=("qr",), target_gmv_fen=1_000_000), "bench", at)
    total = 20_000 if quick else 100_000
    rng = random.Random(3)
    for start in range(0, total, 1000):
        items = []
        for n in range(start, start + 1000):
            who = ("mall_member", f"m{n % 5000}")
            kind = rng.choice(["PRODUCT_VIEWED", "ADDED_TO_CART", "ORDER_PAID", "FRIEND_ADDED"])
            fields: dict[str, object] = {"channel": rng.choice(CHANNELS)}
            if kind in ("PRODUCT_VIEWED", "ADDED_TO_CART"):
                fields.update(sku="A", quantity=1)
            elif kind == "ORDER_PAID":
                fields.update(order_id=f"o{n}", amount_fen=1000,
                              items=[OrderItem("A", 1, 1000)])
            else:
                fields.update(staff_id="wecom_user:s1")
            items.append(EventItem(f"e{n}", kind, who, at, **fields))  # type: ignore[arg-type]
        app.ingestion.record_batch(items, "service:bench")
    tracker = Tracker(app.factory.datastore)  # type: ignore[attr-defined]
    runner = BatchRunner(app, ActivityView(), tracker)
    last = app.recorder.max_notification_id() or 0
    began = time.perf_counter()
    runner.catch_up()
    rate = last / (time.perf_counter() - began)
    app.close()
    return [measure("activity_projection", rate, "events/s")]


BENCHMARKS: dict[str, Callable[[bool], list[Measure]]] = {
    "activity_tree_p99": activity_tree_p99, "activity_projection": activity_projection}
