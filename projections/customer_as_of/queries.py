"""Reads of a customer's state at an instant of business time, exact at every moment.

A single stream starts from its latest checkpoint usable at the instant and folds only
the events after it that count then (found through the business-time index), plus the
events the ``customer_as_of`` read model has not indexed yet (decoded and filtered) — so
an answer never waits for, nor misses, the projection. A merged customer (several
streams, folded together in log order like its live profile) is folded from its whole
log. Segment definitions at the instant are folded from the segments' own events.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent, Transcoder

from domain.segment import Segment
from domain.segment_rules import Rule
from projections.customer_as_of.fold import State, counts_at, fold_at
from projections.reads import AsyncPool, Row, fetch_all
from projections.segments import evaluation, library

Decode = Callable[[StoredEvent], Any]

_CHECKPOINT = ("SELECT version, state FROM siyu_customer_as_of_checkpoint WHERE customer_id = %s "
               "AND through_at <= %s ORDER BY version DESC LIMIT 1")
_SINGLE = (
    "SELECT e.notification_id, e.originator_version, e.topic, e.state FROM siyu_events e "
    "WHERE e.originator_id = %(id)s AND e.originator_version > %(base)s AND ("
    " e.originator_version = 1"
    " OR e.originator_version > (SELECT coalesce(max(version), 0) FROM siyu_customer_as_of "
    "                            WHERE customer_id = %(id)s)"
    " OR e.originator_version IN (SELECT version FROM siyu_customer_as_of "
    "   WHERE customer_id = %(id)s AND version > %(base)s AND occurred_at <= %(at)s)) "
    "ORDER BY e.originator_version")


async def state_at(pool: AsyncPool, decode: Decode, transcoder: Transcoder,
                   streams: Sequence[UUID], root: UUID, at: datetime) -> State | None:
    """The customer ``root`` (its group: ``streams``) as it stood at ``at``; None if it
    did not exist yet."""
    if len(streams) > 1:
        return await _group_at(pool, decode, streams, root, at)
    async with pool.connection() as conn:  # prepared: planning cost more than running
        cur = await conn.execute(_CHECKPOINT, (root, at), prepare=True)
        checkpoint = await cur.fetchone()
        base = 0 if checkpoint is None else checkpoint["version"]
        cur = await conn.execute(_SINGLE, {"id": root, "base": base, "at": at}, prepare=True)
        rows = await cur.fetchall()
    state: State | None = None
    if checkpoint is not None:
        state = transcoder.decode(bytes(checkpoint["state"]))
    events = [(r["notification_id"], decode(StoredEvent(root, r["originator_version"],
                                                        r["topic"], bytes(r["state"]))))
              for r in rows]
    return fold_at(state, events, at)


async def _group_at(pool: AsyncPool, decode: Decode, streams: Sequence[UUID], root: UUID,
                    at: datetime) -> State | None:
    rows = await fetch_all(
        pool, "SELECT notification_id, originator_id, originator_version, topic, state "
        "FROM siyu_events WHERE originator_id = ANY(%s) ORDER BY notification_id",
        (list(streams),))
    events = [(r["notification_id"], decode(StoredEvent(
        r["originator_id"], r["originator_version"], r["topic"], bytes(r["state"]))))
        for r in rows]
    return fold_at(None, events, at, root)


async def segments_at(pool: AsyncPool, decode: Decode, row: State, at: datetime
                      ) -> list[tuple[UUID, str, int]]:
    """(segment id, name, rule version) of each segment the customer was in at ``at``:
    each segment's rule as it stood then (its own events that count at ``at``), evaluated
    on the customer's state then. Lifecycle stages first, as the live list."""
    defined = await fetch_all(pool, "SELECT segment_id, name, rule, built_in FROM segment "
                                    "ORDER BY built_in DESC, position, segment_id")
    rules: dict[UUID, tuple[str, Rule, int]] = {
        r["segment_id"]: (r["name"], r["rule"], 1) for r in defined if r["built_in"]}
    stored = await fetch_all(
        pool, "SELECT originator_id, originator_version, topic, state FROM siyu_events "
        "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version",
        ([r["segment_id"] for r in defined if not r["built_in"]],))
    for r in stored:
        event = decode(StoredEvent(r["originator_id"], r["originator_version"], r["topic"],
                                   bytes(r["state"])))
        if not counts_at(event, at):
            continue
        if isinstance(event, Segment.Defined):
            rules[event.originator_id] = (event.name, event.rule, 1)
        elif isinstance(event, Segment.Revised):
            rules[event.originator_id] = (event.name, event.rule, event.rule_version)
        elif isinstance(event, Segment.Archived):
            rules.pop(event.originator_id, None)
    order = {r["segment_id"]: n for n, r in enumerate(defined)}
    # boughtFromCategory counts the library as it stands now (docs/segments.md)
    products = await library.current(pool, [rule for _, rule, _ in rules.values()])
    return [(segment_id, name, version)
            for segment_id, (name, rule, version) in sorted(rules.items(),
                                                           key=lambda kv: order[kv[0]])
            if evaluation.evaluate(library.resolved(rule, products), row, at)[0]]


async def current_owners(pool: AsyncPool, customer_ids: Sequence[UUID]) -> dict[UUID, str]:
    """The staff member in charge of each customer now (read model ``customer_ownership``)."""
    rows = await fetch_all(pool, "SELECT customer_id, staff_id FROM customer_current_owner "
                                 "WHERE customer_id = ANY(%s)", (list(customer_ids),))
    return {r["customer_id"]: str(r["staff_id"]) for r in rows}


async def customers_seen_by(pool: AsyncPool, at: datetime, before: int | None, limit: int
                            ) -> list[Row]:
    """Customers first seen at or before ``at`` (business time), newest first (keyset on
    the profile's position)."""
    return await fetch_all(
        pool, "SELECT customer_id, position FROM customer_profile WHERE first_seen_at <= %s "
        "AND (%s::bigint IS NULL OR position < %s) ORDER BY position DESC LIMIT %s",
        (at, before, before, limit))

