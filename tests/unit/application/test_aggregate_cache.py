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
