"""Saved aggregates go back into the cache; an entry already holding one is left as it is."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import LRUCache
from eventsourcing.domain import Aggregate

from application import aggregate_cache


class Counting(LRUCache[UUID, Any]):
    def __init__(self) -> None:
        super().__init__(maxsize=10)
        self.puts: list[UUID] = []

    def put(self, key: UUID, value: Any) -> Any:
        self.puts.append(key)
        return super().put(key, value)


def test_only_entries_missing_or_holding_another_object_are_put() -> None:
    # Given a cache holding one aggregate as it is, and an older copy of another
    held, replaced, missing = Aggregate(), Aggregate(), Aggregate()
    cache = Counting()
    cache.put(held.id, held)
    cache.put(replaced.id, Aggregate())
    cache.puts.clear()
    # When the three are put back after a save
    aggregate_cache.put_all(cache, {a.id: a for a in (held, replaced, missing)})
    # Then the cache holds each of them, and only two were put
    assert cache.puts == [replaced.id, missing.id]
    for aggregate in (held, replaced, missing):
        assert cache.get(aggregate.id) is aggregate
    assert held.id in aggregate_cache.ids(cache) and UUID(int=0) not in aggregate_cache.ids(cache)
    assert UUID(int=0) not in aggregate_cache.ids(None)


def test_the_aggregates_held_among_many_ids_are_got_and_moved_to_the_front() -> None:
    # Given a full cache of two
    older, newer, absent = Aggregate(), Aggregate(), Aggregate()
    cache = LRUCache[UUID, Any](maxsize=2)
    cache.put(older.id, older)
    cache.put(newer.id, newer)
    # When the older one is got with an id the cache does not hold
    assert aggregate_cache.get_all(cache, [older.id, absent.id]) == {older.id: older}
    # Then it was used last: a third aggregate evicts the newer one
    cache.put(absent.id, absent)
    assert older.id in aggregate_cache.ids(cache) and newer.id not in aggregate_cache.ids(cache)
