"""OneID benchmark: merging two customers with long histories."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bench.common import SECRET, Measure, fresh_database, measure, p99
from domain.ingestion import EventItem
from projections.postgres_views import CustomerProfileView
from projections.runner import BatchRunner, Tracker
from siyu.bootstrap import build_application

HISTORY = 5000


def merge_p99(quick: bool) -> list[Measure]:
    """p99 ms of a merge command (fresh process: snapshots, no cache), and of re-folding the row."""
    url = fresh_database()
    pairs = 6 if quick else 20
    writer = build_application(url, SECRET)
    now = datetime.now(UTC) - timedelta(hours=1)
    ids = []
    for p in range(pairs):
        pair = []
        for side in ("a", "b"):
            who = ("mall_member", f"{side}{p}")
            result = None
            for start in range(0, HISTORY, 1000):
                result = writer.ingestion.record_batch(
                    [EventItem(f"{side}{p}-{start + i}", "CONTENT_VIEWED", who, now,
                               content_id=f"c{i % 40}") for i in range(1000)], "service:bench")
            assert result is not None
            pair.append(result.outcomes[0].customer_id)
        ids.append(pair)
    writer.close()
    app = build_application(url, SECRET)  # a staff console's process: nothing cached
    runner = BatchRunner(app, CustomerProfileView(), Tracker(app.factory.datastore),  # type: ignore[attr-defined]
                         page_size=5000)
    runner.catch_up()
    commands: list[float] = []
    refolds: list[float] = []
    for a, b in ids:
        assert a is not None and b is not None
        began = time.perf_counter()
        app.identity.merge(a, b, "staff:bench", now)
        commands.append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        runner.catch_up()
        refolds.append((time.perf_counter() - began) * 1000)
    app.close()
    return [measure("merge_p99", p99(commands), "ms"),
            measure("merge_projection_p99", p99(refolds), "ms")]


BENCHMARKS: dict[str, Callable[[bool], list[Measure]]] = {"merge_p99": merge_p99}
