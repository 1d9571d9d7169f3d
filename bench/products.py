"""The product library's read model: ``product_projection`` (events/s through the read
model ``product`` — the library and its order lines — alone: paid orders of three lines,
refunds, the library itself) and
``product_sales_p99`` (ms, a month's sales by top-level category over about 100k order lines
— 36k lines with --quick —, 5 clients)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from api.read_models import open_pool
from bench.common import SECRET, Measure, fresh_database, measure, percentile
from domain.items import EventItem, OrderItem
from domain.product import ProductSpec
from projections.products import ProductLibraryView
from projections.products import queries as product_queries
from projections.runner import BatchRunner, Tracker
from siyu.bootstrap import build_application

SKUS = [f"S-{n:04d}" for n in range(400)]


def _library(app: object, at: datetime) -> None:
    products = app.products  # type: ignore[attr-defined]
    for top in ("tea", "ware", "snack"):
        products.define_category(top, top, "bench", at)
        for sub in range(4):
            products.define_category(f"{top}:{sub}", f"{top} {sub}", "bench", at)
    for n, sku in enumerate(SKUS[:300]):  # the last 100 SKUs are sold but never listed
        products.put(ProductSpec(sku, sku, f"{('tea', 'ware', 'snack')[n % 3]}:{n % 4}",
                                 100 + n), "bench", at)


def _orders(app: object, total: int, at: datetime) -> None:
    rng = random.Random(5)
    for start in range(0, total, 1000):
        items = []
        for n in range(start, start + 1000):
            who = ("mall_member", f"m{n % 5000}")
            paid_at = at + timedelta(minutes=n % 40_000)
            if n % 10 == 9:  # a refund of the order before, by its customer
                who = ("mall_member", f"m{(n - 1) % 5000}")
                items.append(EventItem(f"r{n}", "ORDER_REFUNDED", who, paid_at,
                                       order_id=f"o{n - 1}", amount_fen=100))
                continue
            lines = [OrderItem(sku, rng.randint(1, 3), rng.randint(0, 5000))
                     for sku in rng.sample(SKUS, 3)]
            items.append(EventItem(f"e{n}", "ORDER_PAID", who, paid_at, order_id=f"o{n}",
                                   amount_fen=rng.randint(100, 50_000), items=lines,
                                   channel="mini_program"))
        app.ingestion.record_batch(items, "service:bench")  # type: ignore[attr-defined]


def product_projection(quick: bool) -> list[Measure]:
    url = fresh_database()
    app = build_application(url, SECRET)
    at = datetime.now(UTC) - timedelta(days=40)
    _library(app, at)
    _orders(app, 20_000 if quick else 100_000, at)
    tracker = Tracker(app.factory.datastore)  # type: ignore[attr-defined]
    runner = BatchRunner(app, ProductLibraryView(), tracker)
    last = app.recorder.max_notification_id() or 0
    began = time.perf_counter()
    runner.catch_up()
    rate = last / (time.perf_counter() - began)
    app.close()
    return [measure("product_projection", rate, "events/s")]


def product_sales_p99(quick: bool) -> list[Measure]:
    url = fresh_database()
    app = build_application(url, SECRET)
    at = datetime.now(UTC) - timedelta(days=40)
    _library(app, at)
    _orders(app, 12_000 if quick else 36_000, at)  # about 3 lines per order
    BatchRunner(app, ProductLibraryView(),
                Tracker(app.factory.datastore)).catch_up()  # type: ignore[attr-defined]
    with app.factory.datastore.transaction() as curs:  # type: ignore[attr-defined]
        curs.execute("ANALYZE order_line; ANALYZE order_refund; ANALYZE product")
    app.close()

    async def run() -> list[float]:
        pool = open_pool(url)
        await pool.open()
        latencies: list[float] = []

        async def client() -> None:
            for _ in range(20 if quick else 40):
                began = time.perf_counter()
                await product_queries.sales(pool, by="category", starts_at=at,
                                            ends_at=at + timedelta(days=30), level=1)
                latencies.append(time.perf_counter() - began)

        await asyncio.gather(*(client() for _ in range(5)))
        await pool.close()
        return latencies

    latencies = asyncio.run(run())
    return [measure("product_sales_p99", percentile(latencies, 0.99) * 1000, "ms")]


BENCHMARKS: dict[str, Callable[[bool], list[Measure]]] = {
    "product_projection": product_projection, "product_sales_p99": product_sales_p99}
