"""Python's cycle collector around the customer profile's pages.

A profile page folds hundreds of thousands of short-lived, acyclic containers (rows,
memberships, ledger entries — freed by reference counting); with the collector on, every
few thousand allocations it scanned the young ones, and often the page's rows and events
held since the page began: a fifth of the profile group's CPU, profiled. So it is off
while a page folds.

What a page leaves alive — the rows, roots and memberships its cache keeps
(:mod:`projections.customer_profile.cache`), one new row per customer the page touched —
was then all young: the first allocation after the page ran a young collection over it,
and later ones scanned it again in the middle and old generations. That collection grew
with the customers a page touches (more of them are distinct as the customers outnumber a
page): 45 → 224 ms a page of 20,000 along a rebuild of a 200k-event log, 11 µs per
notification of the profile's ~200 (docs/benchmarks.md, ``rebuild_10m``). Now a page's
survivors are frozen (:func:`gc.freeze`: never scanned, still freed by reference counting
when dropped), and the whole heap is collected once the frozen objects are a quarter more
than the last such collection left alive — as CPython collects its old generation once
it grew by a quarter: reference cycles that pages leave are collected then, and the
memory they hold is bounded alike. Counting the frozen objects walks them, so it is done
once every :data:`FLOOR` objects frozen.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

#: Objects frozen (allocations less deallocations during pages) between two counts of the
#: frozen objects (a walk of them all: ~10 ms a million).
FLOOR = 1_000_000


class PageCollector:
    """The collector off while a page folds, its survivors frozen after it."""

    def __init__(self, floor: int = FLOOR) -> None:
        self.floor = floor
        self.frozen_since = 0  # objects frozen after pages since they were last counted
        self.left = 0  # objects the last whole collection left alive (and froze)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """The block runs with the collector off, then what it left is frozen; left as
        it was if something else had turned it off."""
        if not gc.isenabled():
            yield
            return
        gc.disable()
        try:
            yield
        finally:
            self.frozen_since += gc.get_count()[0]  # allocations less deallocations, O(1)
            gc.freeze()
            if self.frozen_since > self.floor:
                self.frozen_since = 0
                if gc.get_freeze_count() > self.left + self.left // 4:
                    self.collect()
            gc.enable()

    def collect(self) -> None:
        """The whole heap collected, what is alive then frozen again."""
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self.left = gc.get_freeze_count()
