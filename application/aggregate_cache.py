"""The aggregate cache, read and refilled a batch at a time.

Ingestion asks, for a thousand customers a batch, which are cached, and puts every
customer it saved back. The library's LRU cache takes its lock and moves an entry to the
front on every ``put``; an entry that already holds the very aggregate saved (loaded from
the cache for this unit, and moved to the front then) is left as it is.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from typing import Any
from uuid import UUID

from eventsourcing.application import Cache, LRUCache
from eventsourcing.domain import Aggregate


def ids(cache: Cache[UUID, Any] | None) -> Container[UUID]:
    """The ids ``cache`` holds now (a live view: test membership, do not keep)."""
    return cache.cache if cache is not None else ()


def get_all(cache: Cache[UUID, Any], aggregate_ids: Iterable[UUID]) -> dict[UUID, Any]:
    """The aggregates ``cache`` holds among ``aggregate_ids``, each looked up with ``get``
    (an LRU entry moves to the front). A ``try`` per id: ``contextlib.suppress`` made a
    context manager per customer, which cost more than the look-up."""
    found: dict[UUID, Any] = {}
    get = cache.get
    for aggregate_id in aggregate_ids:
        try:
            found[aggregate_id] = get(aggregate_id)
        except KeyError:
            continue
    return found


def put_all(cache: Cache[UUID, Any] | None, aggregates: Mapping[UUID, Aggregate]) -> None:
    """Cache ``aggregates`` (saved), skipping the LRU entries that already hold them."""
    if cache is None:
        return
    links: dict[UUID, Any] = cache.cache if isinstance(cache, LRUCache) else {}
    for aggregate_id, aggregate in aggregates.items():
        link = links.get(aggregate_id)
        if link is None or link[LRUCache.RESULT] is not aggregate:
            cache.put(aggregate_id, aggregate)
