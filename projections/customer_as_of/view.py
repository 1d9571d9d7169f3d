"""``customer_as_of``: the business-time index and checkpoints of customer streams.

Every customer event's business time is indexed by (stream, version), and every
:data:`~projections.customer_as_of.fold.INTERVAL` events of a stream its folded state is
written as a checkpoint, with the latest business time it covers. A checkpoint is taken
from the previous one and the events after it, read from the log in the page's
transaction; like every read model it can be dropped and rebuilt from the log.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent
from psycopg import Cursor
from psycopg.errors import UniqueViolation
from psycopg.rows import DictRow

from domain.customer import Customer
from projections.customer_as_of.fold import INTERVAL, State, fold

EVENTS = "siyu_events"
TABLES = ("siyu_customer_as_of", "siyu_customer_as_of_checkpoint")


class CustomerAsOfView:
    name = "siyu_customer_as_of"
    version = 2  # v2: checkpoints hold the profile's order lines
    events = (Customer,)

    def __init__(self) -> None:
        self.app: Application[Any] | None = None

    def bind(self, app: Application[Any]) -> None:
        self.app = app

    def create(self, curs: Cursor[DictRow]) -> None:
        curs.execute((Path(__file__).parent / "customer_as_of.sql").read_text())

    def drop(self, curs: Cursor[DictRow]) -> None:
        curs.execute(f"DROP TABLE IF EXISTS {', '.join(TABLES)}")

    def clear(self, curs: Cursor[DictRow]) -> None:
        curs.execute(f"TRUNCATE {', '.join(TABLES)}")

    def apply_page(self, curs: Cursor[DictRow], events: Sequence[tuple[int, Any]]) -> None:
        mine = [(p, e) for p, e in events
                if isinstance(e, (Customer.Event, Customer.Registered))]
        if not mine:
            return
        _index(curs, mine)
        for _, event in mine:
            if event.originator_version % INTERVAL == 0:
                self._checkpoint(curs, event.originator_id, event.originator_version)

    def _checkpoint(self, curs: Cursor[DictRow], stream: UUID, version: int) -> None:
        assert self.app is not None, "CustomerAsOfView.bind(app) first"
        transcoder = self.app.mapper.transcoder
        curs.execute("SELECT version, state FROM siyu_customer_as_of_checkpoint "
                     "WHERE customer_id = %s AND version < %s ORDER BY version DESC LIMIT 1",
                     (stream, version))
        base = curs.fetchone()
        state: State | None = None if base is None else transcoder.decode(bytes(base["state"]))
        curs.execute(
            "SELECT notification_id, originator_version, topic, state "
            f"FROM {EVENTS} WHERE originator_id = %s AND originator_version > %s "
            "AND originator_version <= %s ORDER BY originator_version",
            (stream, 0 if base is None else base["version"], version))
        for r in curs.fetchall():
            event = self.app.mapper.to_domain_event(StoredEvent(
                stream, r["originator_version"], r["topic"], bytes(r["state"])))
            state = fold(state, event, r["notification_id"])
        if state is None:
            return
        curs.execute("INSERT INTO siyu_customer_as_of_checkpoint VALUES (%s, %s, %s, %s) "
                     "ON CONFLICT DO NOTHING",
                     (stream, version, state["through_at"], transcoder.encode(state)))


_SIGNATURE = b"PGCOPY\n\xff\r\n\0" + bytes(8)  # binary COPY: no flags, no extension
_TRAILER = b"\xff\xff"
#: field count, then customer_id, version, occurred_at (timestamptz: µs since 2000), position
_ROW = struct.Struct(">hi16siqiqiq")
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def index_rows(mine: Sequence[tuple[int, Any]]) -> bytes:
    """The page's index rows as the whole input of a binary ``COPY`` — each packed at once
    (psycopg's ``write_row`` dumps field by field, a UUID in Python: most of the index's
    time); raises when one is not packable so (an event time naive or missing)."""
    pack = _ROW.pack
    parts = [_SIGNATURE]
    parts.extend(pack(4, 16, _uuid(e.originator_id).int.to_bytes(16, "big"),
                      8, e.originator_version, 8, (e.occurred_at - _EPOCH) // _MICROSECOND,
                      8, position) for position, e in mine)
    parts.append(_TRAILER)
    return b"".join(parts)


def _uuid(value: Any) -> UUID:
    return value if type(value) is UUID else UUID(str(value))


def _index(curs: Cursor[DictRow], mine: Sequence[tuple[int, Any]]) -> None:
    """Index the page's events, each once: COPYed (a third of the time the row-by-row
    conflict check took), or — when the COPY meets one already indexed (a page replayed) —
    inserted skipping those, after rolling back to a savepoint."""
    try:
        with curs.connection.transaction(), curs.copy(
                "COPY siyu_customer_as_of (customer_id, version, occurred_at, position) "
                "FROM STDIN (FORMAT BINARY)") as copy:
            try:
                copy.write(index_rows(mine))
            except (TypeError, AttributeError, ValueError, OverflowError, struct.error):
                # not packable so (a naive or missing time): psycopg's dumpers decide
                copy.set_types(["uuid", "int8", "timestamptz", "int8"])
                for position, event in mine:
                    copy.write_row((event.originator_id, event.originator_version,
                                    event.occurred_at, position))
    except UniqueViolation:
        curs.execute(
            "INSERT INTO siyu_customer_as_of (customer_id, version, occurred_at, position) "
            "SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::timestamptz[], %b::bigint[]) "
            "ON CONFLICT DO NOTHING",
            ([e.originator_id for _, e in mine], [e.originator_version for _, e in mine],
             [e.occurred_at for _, e in mine], [p for p, _ in mine]))
