"""Projections under way: lag under a sustained ingest, and whole rebuilds.

* ``projection_lag_p99`` — ms from an event batch's commit to every read model having
  applied it (p99), while a thread records workload batches at a target rate (5,000
  events/s; ``projection_lag_ingest_rate`` reports what the loaded machine achieved) and
  ``siyu projections``' default split runs as processes. Baseline: the target 500 ms.
* ``rebuild_10m`` — minutes to rebuild every read model blue/green from a log of
  10,000,000 notifications, ``siyu rebuild``'s path timed whole (its processes, one per part
  of the default split, started and their applications built included) on two logs, of N
  and 4N workload events (N = 50,000 [20,000]), and extrapolated along the line through the
  two: fixed seconds + µs per notification times 10M. A linear extrapolation from one small
  log multiplied the fixed part (process starts, build schemas, logging and analyzing the
  tables, the switch: 26 s at a load of 11) by ~340. Reported apart:
  ``rebuild_per_event_us`` (the slope; baseline the 90 µs a 15-minute 10M rebuild allows),
  ``rebuild_fixed_s`` (the intercept), ``rebuild_10m_linear_from_small`` (the old
  extrapolation from the small log alone; baseline the fit) and ``rebuild_sample_rate``
  (notifications/s on the larger log; baseline the 11,111/s of the target). Baseline of
  ``rebuild_10m``: the target 15 min.
* ``rebuild_1m`` — the same extrapolation checked at scale: the logs of N and 4N workload
  events again, then a log of 1,000,000 [250,000] workload events. ``rebuild_1m_s`` is that
  log's rebuild in seconds, baseline what the line through the two small logs predicted for
  it (a ratio above 1 is a cost growing faster than the log); ``rebuild_10m_from_1m`` the
  10M minutes along the line through the N log and the large one (baseline the target 15).
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg

from bench import workload
from bench.common import SECRET, Measure, measure, percentile, settled_collector
from bench.projections import prepared_log, run_split
from projections.groups import DEFAULT_SPLIT
from projections.runner import Tracker
from projections.shared_pages import SharedPageRunner
from siyu.bootstrap import build_application
from siyu.garbage import settle_garbage_collector
from siyu.parallel_rebuild import rebuild_parts
from siyu.processes import PAGE_IDLE_SECONDS, catch_up, read_model_views, views_of

TARGET_RATE = 5_000
TEN_MILLION = 10_000_000
BATCH = 250


def _tail(url: str, groups: tuple[str, ...], ready: Any, stop: Any) -> None:
    # Built as `siyu projections` builds its process: a page's transaction may sit between
    # statements as long as a page takes (with the store's 5 s, pages under load were
    # ended by the server and applied again, for as long as the load lasted), and the
    # collector settled once started.
    app = build_application(url, SECRET, idle_in_transaction=PAGE_IDLE_SECONDS)
    try:
        runner = SharedPageRunner(app, views_of(groups), Tracker(app.factory.datastore),  # type: ignore[attr-defined]
                                  poll_interval=0.05)
        thread = threading.Thread(target=runner.run_forever, daemon=True)
        thread.start()
        settle_garbage_collector()
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
        last = app.recorder.max_notification_id() or 0
        for n, i in enumerate(range(0, len(items), BATCH)):
            # The batch's own last position, timed as its commit returns (reading the
            # log's head after it cost a round trip before the time was taken).
            last = app.ingestion.record_batch(items[i:i + BATCH], "service:bench"
                                              ).last_position or last
            written.append((last, time.perf_counter()))
            pause = start + (n + 1) * BATCH / TARGET_RATE - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        done.set()

    started = time.perf_counter()
    writer = threading.Thread(target=ingest)
    writer.start()
    lags: list[float] = []
    seen = 0
    # The ingest stands for an API process, whose collector is settled once started.
    with settled_collector(), psycopg.connect(url, autocommit=True) as conn:
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


def _timed_rebuild(url: str) -> float:
    """Seconds of ``siyu rebuild``'s path for every read model, all of it: the processes of
    the default split started, their applications built, the build schemas created, the
    fold, the tables logged and analyzed, the switch."""
    start = time.perf_counter()
    rebuild_parts(url, SECRET, [v.name for v in read_model_views()], read_model_views,
                  lambda p: None)
    return time.perf_counter() - start


def _log_of(events: int) -> tuple[str, int]:
    """A fresh log of ``events`` workload events, its read models caught up (a process per
    part of the default split); and its length in notifications."""
    url = prepared_log(events, events // 5)
    run_split(url, DEFAULT_SPLIT)
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT max(notification_id) FROM siyu_events").fetchone()
    return url, int(row[0]) if row else 0


def fit(small: tuple[int, float], large: tuple[int, float]) -> tuple[float, float]:
    """(fixed seconds, seconds per notification) of the line through two timed rebuilds
    ``(notifications, seconds)``."""
    (n1, t1), (n2, t2) = small, large
    per_event = (t2 - t1) / (n2 - n1)
    return t1 - per_event * n1, per_event


def rebuild_10m(quick: bool) -> list[Measure]:
    return rebuild_fitted(20_000 if quick else 50_000)


def rebuild_fitted(events: int) -> list[Measure]:
    """``rebuild_10m`` from logs of ``events`` and four times ``events`` workload events."""
    timed = []
    for size in (events, 4 * events):  # the second log replaces the first
        url, total = _log_of(size)
        timed.append((total, _timed_rebuild(url)))
    fixed, per_event = fit(timed[0], timed[1])
    minutes = (fixed + per_event * TEN_MILLION) / 60
    linear = timed[0][1] * TEN_MILLION / timed[0][0] / 60  # as measured before (the fixed part too)
    return [measure("rebuild_10m", minutes, "min", 15),
            measure("rebuild_per_event_us", per_event * 1e6, "µs", 15 * 60 / TEN_MILLION * 1e6),
            measure("rebuild_fixed_s", fixed, "s"),
            measure("rebuild_10m_linear_from_small", linear, "min", minutes),
            measure("rebuild_sample_rate", timed[1][0] / timed[1][1], "events/s",
                    TEN_MILLION / (15 * 60))]


def rebuild_1m(quick: bool) -> list[Measure]:
    small = 20_000 if quick else 50_000
    timed = []
    for size in (small, 4 * small, 250_000 if quick else 1_000_000):
        url, total = _log_of(size)  # each log replaces the one before
        timed.append((total, _timed_rebuild(url)))
    fixed, per_event = fit(timed[0], timed[1])
    large, seconds = timed[2]
    through_large = fit(timed[0], timed[2])
    return [measure("rebuild_1m_s", seconds, "s", fixed + per_event * large),
            measure("rebuild_1m_notifications", large, "notifications"),
            measure("rebuild_10m_from_1m",
                    (through_large[0] + through_large[1] * TEN_MILLION) / 60, "min", 15)]


BENCHMARKS: dict[str, Callable[[bool], list[Measure]]] = {
    "projection_lag_p99": projection_lag,
    "rebuild_10m": rebuild_10m,
    "rebuild_1m": rebuild_1m,
}
