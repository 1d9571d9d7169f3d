"""The profile cache keeps each loaded customer's memberships and checks as a flush writes
them: those loaded, when nothing of the customer's changed; else with the changes applied
to a copy (the cached ones are shared with the page's state, never changed)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from projections.customer_profile.cache import TABLES, ProfileCache
from projections.segments.engine import (
    EXITED,
    Cause,
    LedgerEntry,
    Memberships,
    Segmentation,
    key,
)


class _Cursor:
    """What ProfileCache.begin reads: the file nodes of the profile's tables."""

    def execute(self, query: str) -> None:
        pass

    def fetchone(self) -> dict[str, Any]:
        return dict.fromkeys(TABLES, 1)


def test_a_flush_keeps_an_unchanged_customer_s_segments_and_copies_a_changed_one_s() -> None:
    # Given two customers' memberships and checks in the cache, loaded by a page
    cache = ProfileCache(10)
    cache.begin(_Cursor(), 0, "term")  # type: ignore[arg-type]
    segment, still, moved = uuid4(), uuid4(), uuid4()
    at, later = datetime(2026, 12, 8, tzinfo=UTC), datetime(2026, 12, 9, tzinfo=UTC)
    kept = ({key(segment, still): 1}, {key(segment, still): at})
    left: Segmentation = ({key(segment, moved): 1}, {})
    cache.segments = {still: kept, moved: left}
    state = Memberships()
    assert cache.known_segments([still, moved], state) == set()
    # When one of them leaves the segment and gets a check, and the page flushes
    state.record(LedgerEntry(segment, 1, moved, EXITED, later, Cause("EVENT", 5, "E")),
                 key(segment, moved))
    state.set_check(key(segment, moved), later)
    cache.segments_flushed(state, {still, moved})
    # Then the page keeps the other's as they were loaded (the same objects), and the
    # changed one's as written, the cached ones untouched
    assert cache.page is not None
    assert cache.page.segments[still] is kept
    assert cache.page.segments[moved] == ({}, {key(segment, moved): later})
    assert left == ({key(segment, moved): 1}, {})
