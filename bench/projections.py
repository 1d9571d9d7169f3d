"""Projection throughput as deployed: read-model groups, shared pages, processes.

* ``projection_throughput_split`` — events/s through every read model (the
  ``projection_throughput`` log: 20 segments), end to end, with the groups of
  :data:`siyu.projection_groups.DEFAULT_SPLIT` as parallel processes (each group from one
  shared read of the log); baseline: the same log through one ``BatchRunner`` per view in
  turn, as before. Also each group alone in-process (``projection_group_<name>``).
* ``projection_group_<name>`` — that group alone, on its own (baseline: its views one
  ``BatchRunner`` each, in turn); ``projection_group_<name>_python``: its Python CPU per
  event (``time.process_time``).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import time
from collections.abc import Callable, Sequence
from typing import Any

from bench import segments, workload
from bench.common import SECRET, Measure, fresh_database, measure, settled_collector
from projections import quarantine
from projections.customer_profile.cache import CACHE_CUSTOMERS
from projections.groups import DEFAULT_SPLIT, GROUPS
from projections.postgres_views import CustomerProfileView
from projections.runner import BatchRunner, Tracker
from projections.shared_pages import SharedPageRunner
from siyu.bootstrap import build_application
from siyu.garbage import settle_garbage_collector
from siyu.processes import read_model_views, views_of


def prepared_log(events: int, customers: int, segment_count: int = 20) -> str:
    url = fresh_database()
    app = build_application(url, SECRET)
    try:
        segments._define(app, segments.segment_rules()[:segment_count])
        segments._record(app, workload.items(events, customers=customers, seed=7))
        Tracker(app.factory.datastore)  # type: ignore[attr-defined]
    finally:
        app.close()
    return url


def _reset(url: str) -> None:
    """Every read model empty again, no tracking and nothing quarantined (the log stays):
    an event quarantined in one run would otherwise be skipped by every later one, which
    would then measure less work."""
    app = build_application(url, SECRET)
    try:
        tracker = Tracker(app.factory.datastore)  # type: ignore[attr-defined]
        with tracker.datastore.transaction(commit=True) as curs:
            curs.execute("SELECT to_regclass(%s) IS NOT NULL AS present", (quarantine.TABLE,))
            row = curs.fetchone()
            if row is not None and row["present"]:
                curs.execute(f"DELETE FROM {quarantine.TABLE}")
        for view in read_model_views():
            runner = BatchRunner(app, view, tracker)
            with tracker.datastore.transaction(commit=True) as curs:
                runner.view.clear(curs)
                tracker.reset(curs, view.name)
    finally:
        app.close()


def _child(url: str, groups: tuple[str, ...], ready: Any, go: Any, out: Any) -> None:
    app = build_application(url, SECRET)
    try:
        runner = SharedPageRunner(app, views_of(groups), Tracker(app.factory.datastore))  # type: ignore[attr-defined]
        settle_garbage_collector()  # as `siyu projections` does once started
        ready.release()
        go.wait()
        runner.catch_up()
        out.put((groups, time.perf_counter()))
    finally:
        app.close()


def run_split(url: str, split: tuple[tuple[str, ...], ...]) -> float:
    """Seconds from go to the last group caught up, each group a process."""
    ctx = mp.get_context("spawn")
    ready, go, out = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_child, args=(url, g, ready, go, out)) for g in split]
    for p in procs:
        p.start()
    for _ in procs:
        ready.acquire()
    start = time.perf_counter()
    go.set()
    ends: list[float] = [float(out.get(timeout=3600)[1]) for _ in procs]
    for p in procs:
        p.join(60)
    return max(ends) - start


def _in_turn(url: str, views: Sequence[Any], *, settle: bool = True) -> float:
    """Seconds for ``views``, one ``BatchRunner`` each, in turn (the collector settled as
    the projections process settles it, unless ``settle`` is false)."""
    app = build_application(url, SECRET)
    try:
        tracker = Tracker(app.factory.datastore)  # type: ignore[attr-defined]
        runners = [BatchRunner(app, view, tracker) for view in views]
        with settled_collector() if settle else contextlib.nullcontext():
            start = time.perf_counter()
            for runner in runners:
                runner.catch_up()
            return time.perf_counter() - start
    finally:
        app.close()


def _group_alone(url: str, group: str, cpu: list[float] | None = None) -> float:
    """Seconds for ``group`` alone to catch up (its Python CPU appended to ``cpu``)."""
    app = build_application(url, SECRET)
    try:
        runner = SharedPageRunner(app, views_of([group]), Tracker(app.factory.datastore))  # type: ignore[attr-defined]
        with settled_collector():
            start, python = time.perf_counter(), time.process_time()
            runner.catch_up()
            if cpu is not None:
                cpu.append(time.process_time() - python)
            return time.perf_counter() - start
    finally:
        app.close()


def projection_throughput_split(quick: bool) -> list[Measure]:
    events, customers = (10_000, 2_000) if quick else (60_000, 10_000)
    url = prepared_log(events, customers)
    baseline = events / _in_turn(url, read_model_views(), settle=False)
    out = []
    for group in GROUPS:
        _reset(url)
        out.append(measure(f"projection_group_{group}", events / _group_alone(url, group),
                           "events/s", baseline))
    _reset(url)
    split = events / run_split(url, DEFAULT_SPLIT)
    return [measure("projection_throughput_split", split, "events/s", baseline), *out]


#: Notifications per page of ``projection_profile_pages`` (a tail's page, not a catch-up's).
TAIL_PAGE = 250


def _profile_pages(url: str, cache_customers: int) -> tuple[float, float]:
    """Wall and CPU seconds of the profile read model alone over the log, in tail pages."""
    app = build_application(url, SECRET)
    try:
        view = CustomerProfileView(cache_customers)
        runner = SharedPageRunner(app, [view], Tracker(app.factory.datastore),  # type: ignore[attr-defined]
                                  page_size=TAIL_PAGE)
        with settled_collector():
            start, cpu = time.perf_counter(), time.process_time()
            runner.catch_up()
            return time.perf_counter() - start, time.process_time() - cpu
    finally:
        app.close()


def _group_benchmark(group: str) -> Callable[[bool], list[Measure]]:
    """``projection_group_<group>`` alone (the same log and measure as in
    ``projection_throughput_split``); baseline: its views one runner each, in turn."""
    def run(quick: bool) -> list[Measure]:
        events, customers = (10_000, 2_000) if quick else (60_000, 10_000)
        url = prepared_log(events, customers)
        _reset(url)
        baseline = events / _in_turn(url, views_of([group]))
        _reset(url)
        cpu: list[float] = []
        rate = events / _group_alone(url, group, cpu)
        return [measure(f"projection_group_{group}", rate, "events/s", baseline),
                measure(f"projection_group_{group}_python", cpu[0] / events * 1e6, "us/event")]
    return run


def projection_profile_pages(quick: bool) -> list[Measure]:
    events, customers = (10_000, 2_000) if quick else (60_000, 10_000)
    url = prepared_log(events, customers)
    runs: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for cached in (False, True, True, False):
        _reset(url)
        runs[cached].append(_profile_pages(url, CACHE_CUSTOMERS if cached else 0))
    wall = {k: min(w for w, _ in v) for k, v in runs.items()}
    cpu = {k: min(c for _, c in v) for k, v in runs.items()}
    return [measure("projection_profile_pages", events / wall[True], "events/s",
                    events / wall[False]),
            measure("projection_profile_pages_cpu", cpu[True] / events * 1000, "ms/event",
                    cpu[False] / events * 1000)]


BENCHMARKS: dict[str, Callable[[bool], list[Measure]]] = {
    "projection_throughput_split": projection_throughput_split,
    **{f"projection_group_{group}": _group_benchmark(group) for group in GROUPS},
    "projection_profile_pages": projection_profile_pages,
}
