"""Content's read model: ``content_projection`` (events/s through ``content`` alone: views,
forwards, comments, friend adds, follows, paid orders over 200 registered pieces) and
``content_figures_p99`` (ms, a month's figures per piece, 5 clients)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from api.read_models import open_pool
from bench.common import SECRET, Measure, fresh_database, measure, percentile
from domain.content import ContentSpec
from domain.items import EventItem, OrderItem
from projections.content import ContentView
from projections.content import queries as content_queries
from projections.runner import BatchRunner, Tracker
from siyu.bootstrap import build_application

KINDS = ("CONTENT_VIEWED", "CONTENT_VIEWED", "CONTENT_VIEWED", "CONTENT_FORWARDED",
         "CONTENT_COMMENTED", "FRIEND_ADDED", "OFFICIAL_ACCOUNT_FOLLOWED", "ORDER_PAID")


def _world(total: int, at: datetime) -> str:
    url = fresh_database()
    app = build_application(url, SECRET)
    author = app.staff.hire("copywriter", "middle_office", "bench", "system:bench", at)
    for n in range(200):
        app.contents.publish(f"c{n}", "article", ContentSpec(f"t{n}", str(author)),
                             at, "bench", datetime.now(UTC))
    rng = random.Random(7)
    for start in range(0, total, 1000):
        items = []
        for n in range(start, start + 1000):
            who = ("mall_member", f"m{n % 5000}")
            when = at + timedelta(minutes=n % 40_000)
            kind = rng.choice(KINDS)
            fields: dict[str, object] = {}
            if kind.startswith("CONTENT"):
                fields.update(content_id=f"c{rng.randrange(250)}", channel="h5")
                if kind == "CONTENT_VIEWED":
                    fields["seconds"] = rng.randint(1, 300)
            elif kind == "FRIEND_ADDED":
                fields.update(staff_id="wecom_user:s1", channel="h5")
            elif kind == "OFFICIAL_ACCOUNT_FOLLOWED":
                fields["account_id"] = "gh_brand"
            else:
                fields.update(order_id=str(uuid4()), amount_fen=1000, channel="h5",
                              items=[OrderItem("A", 1, 1000)])
            items.append(EventItem(f"e{n}", kind, who, when, **fields))  # type: ignore[arg-type]
        app.ingestion.record_batch(items, "service:bench")
    app.close()
    return url


def content_projection(quick: bool) -> list[Measure]:
    at = datetime.now(UTC) - timedelta(days=40)
    url = _world(20_000 if quick else 100_000, at)
    app = build_application(url, SECRET)
    runner = BatchRunner(app, ContentView(), Tracker(app.factory.datastore))  # type: ignore[attr-defined]
    last = app.recorder.max_notification_id() or 0
    began = time.perf_counter()
    runner.catch_up()
    rate = last / (time.perf_counter() - began)
    app.close()
    return [measure("content_projection", rate, "events/s")]


def content_figures_p99(quick: bool) -> list[Measure]:
    at = datetime.now(UTC) - timedelta(days=40)
    url = _world(20_000 if quick else 100_000, at)
    app = build_application(url, SECRET)
    BatchRunner(app, ContentView(), Tracker(app.factory.datastore)).catch_up()  # type: ignore[attr-defined]
    app.close()

    async def run() -> list[float]:
        pool = open_pool(url)
        await pool.open()
        latencies: list[float] = []

        async def client() -> None:
            for _ in range(10 if quick else 40):
                began = time.perf_counter()
                await content_queries.figures(pool, by="piece", starts_at=at,
                                              ends_at=at + timedelta(days=30))
                latencies.append(time.perf_counter() - began)

        await asyncio.gather(*(client() for _ in range(5)))
        await pool.close()
        return latencies

    return [measure("content_figures_p99", percentile(asyncio.run(run()), 0.99) * 1000, "ms")]


BENCHMARKS: dict[str, Callable[[bool], list[Measure]]] = {
    "content_projection": content_projection, "content_figures_p99": content_figures_p99}
