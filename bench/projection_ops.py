"""Projections under way: lag under a sustained ingest, and whole rebuilds.

* ``projection_lag_p99`` — ms from an event batch's commit to every read model having
  applied it (p99), while a thread records workload batches at a target rate (5,000
  events/s; ``projection_lag_ingest_rate`` reports what the loaded machine achieved) and
  ``siyu projections``' default split runs as processes. Baseline: the target 500 ms.
* ``rebuild_10m`` — minutes to rebuild every read model blue/green from a log of N events
  (``siyu rebuild``'s path) with the default split's groups as parallel processes,
  extrapolated linearly to 10,000,000 events (folding is per page: cost grows with the
  log, not with its square); ``rebuild_sample_rate`` is the measured events/s, its baseline
  the same build on the same log with a pass over the log per read model (as before one
  pass fed them all). Baseline of ``rebuild_10m``: the target 15 min.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg

from bench import workload
from bench.common import SECRET, Measure, measure, percentile
from bench.projections import prepared_log
from projections import bluegreen
from projections.groups import DEFAULT_SPLIT
from projections.runner import Tracker
from projections.shared_pages import SharedPageRunner
from siyu.bootstrap import build_application
from siyu.processes import catch_up, read_model_views, views_of

TARGET_RATE = 5_000
BATCH = 250


def _tail(url: str, groups: tuple[str, ...], ready: Any, stop: Any) -> None:
    app = build_application(url, SECRET)
    try:
        runner = SharedPageRunner(app, views_of(groups), Tracker(app.factory.datastore),  # type: ignore[attr-defined]
                                  poll_interval=0.05)
        thread = threading.Thread(target=runner.run_forever, daemon=True)
        thread.start()
        ready.release()
        stop.wait()
        runner.stop()
        thread.join(30)
    finally:
        app.close()


def _slowest(conn: psycopg.Connection[Any], names: list[str]) -> int:
    rows = conn.execute("SELECT application_name, max(notification_id) FROM "
                        "siyu_projection_tracking WHERE application_name = ANY(%s) "
                        "GROUP BY application_name", (names,)).fetchall()
    got = {r[0]: int(r[1]) for r in rows}
    return min(got.get(n, 0) for n in names)


def projection_lag(quick: bool) -> list[Measure]:
    seconds = 20 if quick else 60
    url = prepared_log(2_000, 1_000)
    app = build_application(url, SECRET)
    catch_up(app)
    names = [v.name for v in read_model_views()]
    items = workload.items(TARGET_RATE * seconds, customers=20_000, seed=5, prefix="lag")
    ctx = mp.get_context("spawn")
    ready, stop = ctx.Semaphore(0), ctx.Event()
    procs = [ctx.Process(target=_tail, args=(url, g, ready, stop)) for g in DEFAULT_SPLIT]
    for p in procs:
        p.start()
    for _ in procs:
        ready.acquire()
    written: list[tuple[int, float]] = []  # (last position of a batch, commit time)
    done = threading.Event()

    def ingest() -> None:
        start = time.perf_counter()
        for n, i in enumerate(range(0, len(items), BATCH)):
            app.ingestion.record_batch(items[i:i + BATCH], "service:bench")
            written.append((app.recorder.max_notification_id() or 0, time.perf_counter()))
            pause = start + (n + 1) * BATCH / TARGET_RATE - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        done.set()

    started = time.perf_counter()
    writer = threading.Thread(target=ingest)
    writer.start()
    lags: list[float] = []
    seen = 0
    with psycopg.connect(url, autocommit=True) as conn:
        while not (done.is_set() and seen == len(written)):
            position, now = _slowest(conn, names), time.perf_counter()
            while seen < len(written) and written[seen][0] <= position:
                lags.append((now - written[seen][1]) * 1000)
                seen += 1
            time.sleep(0.01)
    rate = len(items) / (written[-1][1] - started)
    writer.join()
    stop.set()
    for p in procs:
        p.join(60)
    app.close()
    return [measure("projection_lag_p99", percentile(lags, 0.99), "ms", 500),
            measure("projection_lag_ingest_rate", rate, "events/s", TARGET_RATE)]


def _rebuild_child(url: str, groups: tuple[str, ...], per_view: bool, ready: Any, go: Any,
                   out: Any) -> None:
    app = build_application(url, SECRET)
    try:
        everything = read_model_views()
        sets = [[v] for v in views_of(groups)] if per_view else [views_of(groups)]
        ready.release()
        go.wait()
        for views in sets:
            bluegreen.build_and_switch(app, views, app.factory.datastore,  # type: ignore[attr-defined]
                                       everything, report=lambda p: None)
        out.put(time.perf_counter())
    finally:
        app.close()


def _timed_rebuild(url: str, *, per_view: bool) -> float:
    """Seconds from go to the last process of the default split done."""
    ctx = mp.get_context("spawn")
    ready, go, out = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_rebuild_child, args=(url, g, per_view, ready, go, out))
             for g in DEFAULT_SPLIT]
    for p in procs:
        p.start()
    for _ in procs:
        ready.acquire()
    start = time.perf_counter()
    go.set()
    ends = [float(out.get(timeout=7200)) for _ in procs]
    for p in procs:
        p.join(60)
    return max(ends) - start


def rebuild_10m(quick: bool) -> list[Measure]:
    events = 20_000 if quick else 200_000
    url = prepared_log(events, events // 5)
    app = build_application(url, SECRET)
    catch_up(app)
    total = app.recorder.max_notification_id() or 0
    app.close()
    seconds = _timed_rebuild(url, per_view=False)
    per_view = _timed_rebuild(url, per_view=True)  # a pass over the log per read model
    return [measure("rebuild_10m", seconds * 10_000_000 / total / 60, "min", 15),
            measure("rebuild_sample_rate", total / seconds, "events/s", total / per_view)]


BENCHMARKS: dict[str, Callable[[bool], list[Measure]]] = {
    "projection_lag_p99": projection_lag,
    "rebuild_10m": rebuild_10m,
}
