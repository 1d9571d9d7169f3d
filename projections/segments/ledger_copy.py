"""The membership ledger's new entries as one binary ``COPY`` buffer.

A page of the profile read model records about one ledger entry per event (1.2 on the
benchmark's log). psycopg's ``write_row`` formats each one in Python, field by field, as
text the server then parses again (UUIDs, timestamps): profiled, 4 % of the profile group's
time client-side. Here each entry is packed at once in PostgreSQL's binary ``COPY`` layout
(signature and header, then per row a field count and each field length-prefixed, then a
trailer), a cause's fields packed once for all the entries it caused.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from projections.segments.engine import ENTERED, EXITED, Cause, LedgerEntry

COLUMNS = ("segment_id, rule_version, customer_id, change, at, occurred_at, cause, "
           "cause_position, cause_event, backfilled")
STATEMENT = f"COPY segment_ledger ({COLUMNS}) FROM STDIN (FORMAT BINARY)"

_SIGNATURE = b"PGCOPY\n\xff\r\n\0" + bytes(8)  # no flags, no header extension
_TRAILER = b"\xff\xff"
#: field count; segment_id, rule_version, customer_id (each length-prefixed)
_HEAD = struct.Struct(">hi16siii16s")
_TIMES = struct.Struct(">iqiq")  # at, occurred_at
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # timestamptz: microseconds since, int8
_MICROSECOND = timedelta(microseconds=1)
_CHANGE = {change: len(change).to_bytes(4, "big") + change.encode()
           for change in (ENTERED, EXITED)}


def _text(value: str) -> bytes:
    data = value.encode()
    return len(data).to_bytes(4, "big") + data


def _cause(cause: Cause) -> bytes:
    """cause, cause_position, cause_event, backfilled."""
    return (_text(cause.kind) + struct.pack(">iq", 8, cause.position) + _text(cause.event_type)
            + struct.pack(">i?", 1, cause.backfilled))


def micros(value: datetime) -> int:
    """An aware time as timestamptz's binary value (a naive one raises TypeError)."""
    return (value - _EPOCH) // _MICROSECOND


def copy_buffer(entries: Iterable[LedgerEntry]) -> bytes:
    """``entries`` as the whole input of :data:`STATEMENT`."""
    parts = [_SIGNATURE]
    head, times, change = _HEAD.pack, _TIMES.pack, _CHANGE
    causes: dict[int, tuple[bytes, int | None]] = {}  # id(cause) -> fields; entries hold it
    for entry in entries:
        cause = entry.cause
        packed = causes.get(id(cause))
        if packed is None:
            when = cause.occurred_at
            packed = causes[id(cause)] = (_cause(cause), None if when is None else micros(when))
        at = (entry.at - _EPOCH) // _MICROSECOND
        parts += (head(10, 16, entry.segment_id.int.to_bytes(16, "big"), 4, entry.rule_version,
                       16, entry.customer_id.int.to_bytes(16, "big")),
                  change[entry.change],
                  times(8, at, 8, at if packed[1] is None else packed[1]),
                  packed[0])
    parts.append(_TRAILER)
    return b"".join(parts)
