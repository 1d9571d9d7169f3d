"""Events inserted at positions reserved under the table lock, with their chain links.

The library inserts a batch with ``INSERT … SELECT unnest(arrays) RETURNING
notification_id`` and then needs the returned positions to hash the chain's links, in a
round trip of their own. Here the writer, once it holds the events table's ``EXCLUSIVE``
lock (the library's, taken by every writer until its commit, so positions follow commit
order), reserves as many positions as it has events from the table's own sequence, in
the round trip that takes the lock and reads the chain's head; it then sends the events
*with* their positions, their links and ``COMMIT``, every column a binary array built in
one pass (:mod:`adapters.binary_arrays`). All of it is one pipeline, and the client works
while the server does: the events' own columns are built while the server writes the side
rows and takes the lock (:func:`event_columns`), and the links are hashed while it inserts
the events (:func:`chain_links`), which are sent as soon as their positions are known.

Positions are contiguous (no other writer can draw from the sequence while the lock is
held; one that bypassed the recorder would collide on the unique position index and be
refused) and greater than every committed one. A rollback burns the reserved positions,
as a rolled-back ``INSERT`` burns sequence values. (A binary ``COPY`` was tried first:
its start and its end are two round trips more, each a scheduler wait on a loaded
machine, and it saved nothing once the arrays were built in one pass.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from psycopg import Cursor
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier, Literal

from adapters import event_chain
from adapters.binary_arrays import BinaryArray, bytea_array, int8_array, text_array, uuid_array

Columns = tuple[BinaryArray, ...]


def reserve_statement(schema: str, table: str) -> Composed:
    """The last of ``%s`` positions drawn from the events' sequence, and the chain's head
    (position and hash, NULL on an empty chain): run under the table lock."""
    qualified = f"{Identifier(schema).as_string()}.{Identifier(table).as_string()}"
    return SQL(
        "SELECT setval(s.seq, nextval(s.seq) + %s - 1), head.notification_id, head.hash "
        "FROM (SELECT pg_get_serial_sequence({table}, 'notification_id')::regclass AS seq) "
        "AS s LEFT JOIN {head} AS head ON true").format(
        table=Literal(qualified), head=event_chain.head_subquery(schema))


def insert_events_statement(schema: str, table: str) -> Composed:
    return SQL("INSERT INTO {schema}.{table} (notification_id, originator_id, "
               "originator_version, topic, state) SELECT * FROM unnest(%b::bigint[], "
               "%b::uuid[], %b::bigint[], %b::text[], %b::bytea[])").format(
        schema=Identifier(schema), table=Identifier(table))


def fetch_reserved(curs: Cursor[Any]) -> tuple[Any, ...]:
    curs.row_factory = tuple_row
    row = curs.fetchone()
    if row is None:  # pragma: no cover - the statement always returns one row
        raise RuntimeError("no positions were reserved")
    return tuple(row)


def event_columns(stored_events: Sequence[StoredEvent]) -> Columns:
    """The events' own columns of :func:`insert_events_statement` (all but the first, their
    positions): built while the server writes the side rows and takes the lock."""
    return (uuid_array([e.originator_id for e in stored_events]),  # type: ignore[misc]
            int8_array([e.originator_version for e in stored_events]),
            text_array([e.topic for e in stored_events]),
            bytea_array([e.state for e in stored_events]))


def reserved_positions(reserved: tuple[Any, ...], count: int) -> list[int]:
    """The ``count`` positions the reserve statement's row ``reserved`` ends."""
    last = reserved[0]
    return list(range(last - count + 1, last + 1))


def chain_links(reserved: tuple[Any, ...], ids: Sequence[int],
                stored_events: Sequence[StoredEvent]) -> Columns:
    """The chain links of the events at positions ``ids``, after the head in ``reserved``:
    the last two columns of :func:`adapters.event_chain.insert_links_statement` (previous
    positions, hashes; the first is the positions'), hashed while the server inserts the
    events."""
    _, head_id, head_hash = reserved
    link = event_chain.link_hash
    previous_id = head_id or 0
    previous_hash = event_chain.GENESIS if head_hash is None else bytes(head_hash)
    previous_ids: list[int] = []
    hashes: list[bytes] = []
    for notification_id, e in zip(ids, stored_events, strict=True):
        previous_hash = link(previous_hash, previous_id, notification_id,
                             e.originator_id,  # type: ignore[arg-type]  # UUID streams
                             e.originator_version, e.topic, e.state)
        previous_ids.append(previous_id)
        hashes.append(previous_hash)
        previous_id = notification_id
    return int8_array(previous_ids), bytea_array(hashes)


def positioned(reserved: tuple[Any, ...], stored_events: Sequence[StoredEvent]
               ) -> tuple[list[int], Columns, Columns]:
    """The events' positions (the reserve statement's row ``reserved`` ends them), their
    chain links as the columns of :func:`adapters.event_chain.insert_links_statement`,
    and the events as the columns of :func:`insert_events_statement`."""
    ids = reserved_positions(reserved, len(stored_events))
    positions = int8_array(ids)
    return (ids, (positions, *chain_links(reserved, ids, stored_events)),
            (positions, *event_columns(stored_events)))
