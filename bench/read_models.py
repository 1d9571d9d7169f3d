"""Projection throughput per read model: each one alone, in-process.

``projection_model_<name>`` — events/s of the log the group measures use
(``bench.projections.prepared_log``: 60,000 [10,000] workload events over 10,000 [2,000]
customers, 20 segments) through that read model alone, from an empty table: a
:class:`~projections.shared_pages.SharedPageRunner` over the one view, as a
projections process would run it, with the collector settled as one settles it. The best of
3 runs (single runs of a sub-second fold swing with the machine's load). Baseline: the
10,000 events/s target of issue 17 (ratio ≥ 1: met). ``projection_models`` measures every
read model; ``projection_models_<group>`` those of one group (:mod:`projections.groups`).
Both also print ``projection_models_read_decode``: the same log read page by page and every
event decoded, nothing written — the ceiling of a read model that folds every event.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

from bench.common import SECRET, Measure, measure, settled_collector
from bench.projections import prepared_log
from projections.groups import GROUPS
from projections.runner import BatchRunner, Tracker
from projections.shared_pages import SharedPageRunner, decode_page
from siyu.bootstrap import build_application
from siyu.processes import read_model_views

TARGET = 10_000.0
#: The page a projections process reads (SharedPageRunner's default).
PAGE = 5000


def _alone(url: str, name: str) -> float:
    """Seconds for the read model ``name``, emptied first, to catch up with the log."""
    app = build_application(url, SECRET)
    try:
        tracker = Tracker(app.factory.datastore)  # type: ignore[attr-defined]
        view = next(v for v in read_model_views() if v.name == name)
        runner = SharedPageRunner(app, [view], tracker)
        with tracker.datastore.transaction(commit=True) as curs:
            BatchRunner(app, view, tracker).view.clear(curs)
            tracker.reset(curs, name)
        with settled_collector():
            start = time.perf_counter()
            runner.catch_up()
            return time.perf_counter() - start
    finally:
        app.close()


def _read_decode(url: str) -> float:
    """Seconds to read every page of the log and decode each event, writing nothing."""
    app = build_application(url, SECRET)
    try:
        with settled_collector():
            start, after = time.perf_counter(), 0
            while page := app.recorder.select_notifications(
                    start=after, limit=PAGE, inclusive_of_start=False):
                decode_page(app, page, None)
                after = page[-1].id
            return time.perf_counter() - start
    finally:
        app.close()


def projection_models(quick: bool, groups: tuple[str, ...] = tuple(GROUPS)) -> list[Measure]:
    events, customers = (10_000, 2_000) if quick else (60_000, 10_000)
    url = prepared_log(events, customers)
    floor = max(events / _read_decode(url) for _ in range(3))
    return [measure("projection_models_read_decode", floor, "events/s", TARGET),
            *(measure(f"projection_model_{name}",
                      max(events / _alone(url, name) for _ in range(3)), "events/s", TARGET)
              for group in groups for name in GROUPS[group])]


BENCHMARKS: dict[str, Callable[[bool], list[Measure]]] = {
    "projection_models": projection_models,
    **{f"projection_models_{group}": partial(projection_models, groups=(group,))
       for group in GROUPS},
}
