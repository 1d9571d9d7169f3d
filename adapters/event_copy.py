"""Events written by binary ``COPY``, their notification ids reserved under the table lock.

The library inserts a batch with ``INSERT … SELECT unnest(arrays) RETURNING
notification_id``: psycopg builds each array parameter in Python (a fifth of the
ingestion's client time) and the server unpacks them and returns a row per event. Here
the writer, once it holds the events table's ``EXCLUSIVE`` lock (the library's, taken
by every writer until its commit, so positions follow commit order), reserves as many
positions as it has events from the table's own sequence in the same round trip as it
reads the hash chain's head, then sends the events *with* their positions by binary
``COPY`` (rows formatted in C), hashing their chain links meanwhile; the links are
inserted in the round trip that commits. A small write sends its events in that round
trip too, as column arrays (see :data:`COPY_FROM`). Positions are contiguous (no other
writer can draw from the sequence while the lock is held; one that bypassed the recorder
would collide on the unique position index and be refused) and greater than every
committed one. A rollback burns the reserved positions, as a rolled-back ``INSERT``
burns sequence values. Nothing here is a prepared statement (see
:mod:`adapters.recorders`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from psycopg import Cursor
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier, Literal

from adapters import event_chain

EVENT_TYPES = ["int8", "uuid", "int8", "text", "bytea"]
#: Writes of fewer events go in the commit's pipeline as one ``INSERT`` of column arrays:
#: a ``COPY`` costs two round trips more (its start, its end), which a small write feels
#: (a single append took four round trips instead of two); a large one saves more in
#: building the arrays than the round trips cost.
COPY_FROM = 64
#: Chain links as columns: positions, previous positions, hashes.
Links = tuple[list[int], list[int], list[bytes]]


def reserve_statement(schema: str, table: str) -> Composed:
    """The last of ``%s`` positions drawn from the events' sequence, and the chain's head
    (position and hash, NULL on an empty chain): run under the table lock."""
    qualified = f"{Identifier(schema).as_string()}.{Identifier(table).as_string()}"
    return SQL(
        "SELECT setval(s.seq, nextval(s.seq) + %s - 1), head.notification_id, head.hash "
        "FROM (SELECT pg_get_serial_sequence({table}, 'notification_id')::regclass AS seq) "
        "AS s LEFT JOIN {head} AS head ON true").format(
        table=Literal(qualified), head=event_chain.head_subquery(schema))


def copy_events_statement(schema: str, table: str) -> Composed:
    return SQL("COPY {schema}.{table} (notification_id, originator_id, originator_version, "
               "topic, state) FROM STDIN (FORMAT BINARY)").format(
        schema=Identifier(schema), table=Identifier(table))


def insert_events_statement(schema: str, table: str) -> Composed:
    return SQL("INSERT INTO {schema}.{table} (notification_id, originator_id, "
               "originator_version, topic, state) SELECT * FROM unnest(%b::bigint[], "
               "%b::uuid[], %b::bigint[], %b::text[], %b::bytea[])").format(
        schema=Identifier(schema), table=Identifier(table))


def copy_events(curs: Cursor[Any], reserved: tuple[Any, ...], stored_events: Sequence[StoredEvent],
                copy_events_sql: Composed) -> tuple[list[int], Links]:
    """Send ``stored_events`` at the positions ``reserved`` (the reserve statement's row)
    ends; returns their positions, in order, and their chain links as the columns of
    :func:`adapters.event_chain.insert_links_statement` (hashed while the server stores
    the rows). A conflicting event (a stream version stored concurrently) fails the
    ``COPY``: the unique violation is raised from here."""
    with curs.copy(copy_events_sql) as copy:
        copy.set_types(EVENT_TYPES)
        return _positioned(reserved, stored_events, copy.write_row)


def positioned(reserved: tuple[Any, ...], stored_events: Sequence[StoredEvent]
               ) -> tuple[list[int], Links, tuple[list[Any], ...]]:
    """Positions and links as :func:`copy_events` finds them, and the events as the
    columns of :func:`insert_events_statement`: few events go with the commit."""
    rows: list[tuple[Any, ...]] = []
    ids, links = _positioned(reserved, stored_events, rows.append)
    return ids, links, tuple(list(column) for column in zip(*rows, strict=True))


def _positioned(reserved: tuple[Any, ...], stored_events: Sequence[StoredEvent],
                send: Callable[[tuple[Any, ...]], None]) -> tuple[list[int], Links]:
    last, head_id, head_hash = reserved
    first = last - len(stored_events) + 1
    ids = list(range(first, last + 1))
    link = event_chain.link_hash
    previous_id = head_id or 0
    previous_hash = event_chain.GENESIS if head_hash is None else bytes(head_hash)
    previous_ids: list[int] = []
    hashes: list[bytes] = []
    for notification_id, e in zip(ids, stored_events, strict=True):
        send((notification_id, e.originator_id, e.originator_version, e.topic, e.state))
        previous_hash = link(previous_hash, previous_id, notification_id,
                             e.originator_id,  # type: ignore[arg-type]  # UUID streams
                             e.originator_version, e.topic, e.state)
        previous_ids.append(previous_id)
        hashes.append(previous_hash)
        previous_id = notification_id
    return ids, (ids, previous_ids, hashes)


def fetch_reserved(curs: Cursor[Any]) -> tuple[Any, ...]:
    curs.row_factory = tuple_row
    row = curs.fetchone()
    if row is None:  # pragma: no cover - the statement always returns one row
        raise RuntimeError("no positions were reserved")
    return tuple(row)
