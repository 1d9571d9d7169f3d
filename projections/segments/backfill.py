"""Backfill: evaluate a newly defined rule version over the whole history.

When a segment version is defined at log position P, the log before P is
replayed in memory: every customer's profile row is folded again from its
events (:func:`projections.customer_profile.apply`), the rule is evaluated
after each change that touches its columns and at every clock tick (through
horizons), exactly as the live projection would have done had the segment
existed. The entries are written to the ledger flagged ``backfilled``, with the
times at which they would have happened; the live pass at P then reconciles
with the current profiles. Because it reads only the log before P, a rebuild
backfills the same entries.

Approximation: the replay folds each customer's streams under the customer
they belong to *at P*, so customers merged later count as one from the start.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from psycopg import Cursor
from psycopg.rows import DictRow, dict_row

from domain.clock import Tick
from domain.customer import Customer
from projections import customer_profile
from projections.segments.engine import Cause, Key, Memberships, SegmentEngine, Spec
from projections.topics import stored_topics

EVENTS = "siyu_events"
FLUSH_EVERY = 20_000
Row = dict[str, Any]


def replayed_topics() -> list[str]:
    """The stored topics a replay reads (customer events and clock ticks): derived from
    the topic registry, a few milliseconds — worth keeping by a caller that replays often."""
    return sorted(stored_topics(Customer, Tick.Struck))


def replay(curs: Cursor[DictRow], decode: Callable[[StoredEvent], Any], spec: Spec,
           before: int, state: Memberships, flush: Callable[[Memberships], None],
           topics: Sequence[str] | None = None) -> None:
    """Evaluate ``spec`` over the log before position ``before`` into ``state``;
    ``topics``: :func:`replayed_topics`, when the caller keeps them."""
    parents = _parents(curs)
    rows: dict[UUID, Row | None] = {}
    engine = SegmentEngine([spec], state)
    due: list[tuple[datetime, Key, UUID]] = []  # (check_at, pair, customer), lazily valid
    with curs.connection.cursor(name="segment_backfill", row_factory=dict_row) as scan:
        scan.itersize = 5000
        scan.execute(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            f"FROM {EVENTS} WHERE notification_id < %s AND topic = ANY(%s) "
            "ORDER BY notification_id", (before, list(topics or replayed_topics())))
        for n, record in enumerate(scan, 1):
            event = decode(StoredEvent(record["originator_id"], record["originator_version"],
                                       record["topic"], bytes(record["state"])))
            position = record["notification_id"]
            if isinstance(event, Tick.Struck):
                _tick(engine, state, rows, due, event.at,
                      Cause("TICK", position, "Tick.Struck", backfilled=True))
            elif isinstance(event, (Customer.Event, Customer.Registered)) and not isinstance(
                    event, (Customer.CustomerMerged, Customer.CustomerUnmerged)):
                root = _root(parents, event.originator_id)
                old = rows.get(root)
                new = customer_profile.apply(old, event, position, root)
                if new is not old:
                    rows[root] = new
                    engine.customer_changed(root, old, new, event.timestamp, Cause(
                        "EVENT", position, type(event).__qualname__, backfilled=True,
                        occurred_at=event.occurred_at))
                    _push(state, due, spec.base | root.int, root)
            if n % FLUSH_EVERY == 0:
                flush(state)
    flush(state)


def _push(state: Memberships, due: list[tuple[datetime, Key, UUID]], key: Key,
          customer_id: UUID) -> None:
    at = state.checks.get(key)
    if at is not None:
        heapq.heappush(due, (at, key, customer_id))  # a key sorts as (segment, customer)


def _tick(engine: SegmentEngine, state: Memberships, rows: dict[UUID, Row | None],
          due: list[tuple[datetime, Key, UUID]], at: datetime, cause: Cause) -> None:
    while due and due[0][0] <= at:
        check_at, key, customer_id = heapq.heappop(due)
        if state.checks.get(key) != check_at:
            continue  # superseded by a later evaluation
        spec = engine.specs[0]
        engine.recheck(spec, customer_id, rows.get(customer_id), at, cause)
        _push(state, due, key, customer_id)


def _parents(curs: Cursor[DictRow]) -> dict[UUID, UUID]:
    curs.execute("SELECT stream_id, parent_id FROM customer_profile_member")
    return {r["stream_id"]: r["parent_id"] for r in curs.fetchall()}


def _root(parents: dict[UUID, UUID], stream: UUID) -> UUID:
    for _ in range(64):
        parent = parents.get(stream)
        if parent is None:
            return stream
        stream = parent
    return stream
