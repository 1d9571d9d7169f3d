"""The customer profile pauses Python's cycle collector while it folds a page, no longer,
and freezes what the page left alive instead of leaving it to a young collection."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from projections.page_collector import PageCollector


@pytest.fixture
def collector() -> Iterator[None]:
    was, frozen = gc.isenabled(), gc.get_freeze_count()
    yield
    if not frozen:
        gc.unfreeze()
    if was:
        gc.enable()
    else:
        gc.disable()


@pytest.mark.usefixtures("collector")
def test_the_collector_is_off_during_the_page_and_on_again_after_it() -> None:
    # Given the collector on; When a page folds; Then it is off during and on after
    gc.enable()
    with PageCollector().paused():
        assert not gc.isenabled()
    assert gc.isenabled()


@pytest.mark.usefixtures("collector")
def test_a_failing_page_turns_the_collector_on_again() -> None:
    gc.enable()
    with pytest.raises(ValueError, match="poisoned"), PageCollector().paused():
        raise ValueError("poisoned")
    assert gc.isenabled()


@pytest.mark.usefixtures("collector")
def test_a_collector_turned_off_by_someone_else_stays_off() -> None:
    gc.disable()
    with PageCollector().paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


@pytest.mark.usefixtures("collector")
def test_what_a_page_keeps_is_frozen_not_left_to_a_young_collection() -> None:
    # Given the collector on
    gc.enable()
    gc.collect()
    frozen = gc.get_freeze_count()
    # When a page folds 20,000 rows that it keeps
    kept: list[dict[str, Any]] = []
    with PageCollector().paused():
        kept.extend({"tags": [n], "details": {"n": [n]}} for n in range(20_000))
    # Then they are frozen, and the young generation holds nothing of them to scan
    assert gc.get_count()[0] < 1_000
    assert gc.get_freeze_count() - frozen >= 3 * 20_000


@pytest.mark.usefixtures("collector")
def test_cycles_pages_leave_are_collected_once_the_frozen_heap_grew_by_a_quarter() -> None:
    # Given a collector counting the frozen objects every 1,000 frozen, and a first page
    # after which it collected once (what it left is the base of the quarter)
    gc.enable()
    pages = PageCollector(floor=1_000)
    with pages.paused():
        pass
    pages.collect()

    class Node:
        def __init__(self) -> None:
            self.me = self  # a cycle: only the collector frees it

    # When a page leaves a cycle, then pages keep more than a quarter of the heap more
    with pages.paused():
        cycle = Node()
        gone = weakref.ref(cycle)
        del cycle
    assert gone() is not None  # frozen with the page
    kept: list[list[int]] = []
    while gone() is not None and len(kept) < 4 * max(pages.left, 1):
        with pages.paused():
            kept.extend([n] for n in range(2_000))
    # Then the cycle was collected
    assert gone() is None
