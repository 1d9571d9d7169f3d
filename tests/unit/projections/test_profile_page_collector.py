"""The customer profile pauses Python's cycle collector while it folds a page, no longer."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from projections.postgres_views import _collector_paused


@pytest.fixture
def collector() -> Iterator[None]:
    was = gc.isenabled()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()


@pytest.mark.usefixtures("collector")
def test_the_collector_is_off_during_the_page_and_on_again_after_it() -> None:
    # Given the collector on; When a page folds; Then it is off during and on after
    gc.enable()
    with _collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


@pytest.mark.usefixtures("collector")
def test_a_failing_page_turns_the_collector_on_again() -> None:
    gc.enable()
    with pytest.raises(ValueError, match="poisoned"), _collector_paused():
        raise ValueError("poisoned")
    assert gc.isenabled()


@pytest.mark.usefixtures("collector")
def test_a_collector_turned_off_by_someone_else_stays_off() -> None:
    gc.disable()
    with _collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()
