"""Column arrays sent as PostgreSQL's binary array format, built in one pass.

psycopg dumps a list parameter element by element in Python (``_dump_list``): for the
columns of a batch — a thousand event states, keys, stream ids — that loop cost more than
the statement. These builders write the whole array at once (``array_send``'s layout:
dimensions, element type, then each element length-prefixed) and :func:`register` teaches
psycopg to send them as they are, with their array type.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from itertools import repeat
from operator import getitem
from typing import Any, cast
from uuid import UUID
from weakref import WeakSet
from zoneinfo import ZoneInfo

from psycopg import Connection, adapt
from psycopg.abc import AdaptContext
from psycopg.adapt import AdaptersMap
from psycopg.pq import Format

_HEADER = struct.Struct(">iiiii")  # dimensions, has nulls, element type, length, lower bound
_EMPTY = struct.Struct(">iii")
_INT8 = struct.Struct(">iq")  # each int8 element: its length (8), its value
_INT4 = struct.Struct(">ii")
#: timestamptz on the wire: int8 microseconds since 2000-01-01 UTC.
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
#: The epoch in each zone of a fixed zero offset (the server's rows are read in Etc/UTC, the
#: events' times are in UTC): an aware datetime minus one of the same zone object is a
#: plain difference, without asking both zones their offset (~1 µs each a value).
_EPOCHS: dict[Any, datetime] = {zone: _PG_EPOCH.replace(tzinfo=zone) for zone in (
    UTC, ZoneInfo("UTC"), ZoneInfo("Etc/UTC"))}


class BinaryArray(bytes):
    """An array already in binary form; subclasses name its type."""

    element_oid = 0


class TextArray(BinaryArray):
    element_oid = 25


class ByteaArray(BinaryArray):
    element_oid = 17


class UuidArray(BinaryArray):
    element_oid = 2950


class Int8Array(BinaryArray):
    element_oid = 20


class Int4Array(BinaryArray):
    element_oid = 23


class TimestamptzArray(BinaryArray):
    element_oid = 1184


class BoolArray(BinaryArray):
    element_oid = 16


ARRAY_OIDS: dict[type[BinaryArray], int] = {TextArray: 1009, ByteaArray: 1001, UuidArray: 2951,
                                            Int8Array: 1016, Int4Array: 1007,
                                            TimestamptzArray: 1185, BoolArray: 1000}


def _array(kind: type[BinaryArray], count: int, elements: bytes, nulls: bool = False
           ) -> BinaryArray:
    if not count:
        return kind(_EMPTY.pack(0, 0, kind.element_oid))
    return kind(_HEADER.pack(1, int(nulls), kind.element_oid, count, 1) + elements)


def _prefixed(values: Sequence[bytes]) -> bytes:
    return b"".join([len(v).to_bytes(4, "big") + v for v in values])


def bytea_array(values: Sequence[bytes]) -> BinaryArray:
    return _array(ByteaArray, len(values), _prefixed(values))


def text_array(values: Sequence[str]) -> BinaryArray:
    return _array(TextArray, len(values), _prefixed([v.encode() for v in values]))


def text_or_null_array(values: Sequence[str | None]) -> BinaryArray:
    """:func:`text_array` with None as SQL null."""
    return _array(TextArray, len(values), b"".join([
        _NULL if v is None else len(b := v.encode()).to_bytes(4, "big") + b for v in values]),
        None in values)


def uuid_array(values: Sequence[UUID]) -> BinaryArray:
    return _array(UuidArray, len(values), b"".join([b"\0\0\0\x10" + v.bytes for v in values]))


_UUID_LENGTH = b"\0\0\0\x10"
#: ``int.to_bytes`` and ``bytes[slice]`` as functions mapped over many values (typed).
_TO_BYTES = cast(Callable[[int, int, str], bytes], int.to_bytes)
_CUT = cast(Callable[[bytes, slice], bytes], getitem)


def uuid_int_array(values: Sequence[int]) -> BinaryArray:
    """UUIDs given by their ``int`` (``UUID.int``), without making UUID objects (each
    element's bytes made and joined by C-level passes: a Python expression per element
    was 40 % slower, timed)."""
    if not values:
        return _array(UuidArray, 0, b"")
    return _array(UuidArray, len(values), _UUID_LENGTH + _UUID_LENGTH.join(
        map(_TO_BYTES, values, repeat(16), repeat("big"))))


def uuid_pair_arrays(pairs: Sequence[int]) -> tuple[BinaryArray, BinaryArray]:
    """Two ``uuid[]``: the high 128 bits of each 256-bit int, and the low 128 — each int's
    32 bytes made once and cut in C, where a shift and a mask of each (big ints, allocated)
    and then its halves' bytes cost 60 % more, timed."""
    if not pairs:
        return _array(UuidArray, 0, b""), _array(UuidArray, 0, b"")
    whole = list(map(_TO_BYTES, pairs, repeat(32), repeat("big")))
    return (_array(UuidArray, len(pairs), _UUID_LENGTH + _UUID_LENGTH.join(
                map(_CUT, whole, repeat(_HIGH)))),
            _array(UuidArray, len(pairs), _UUID_LENGTH + _UUID_LENGTH.join(
                map(_CUT, whole, repeat(_LOW)))))


_HIGH, _LOW = slice(0, 16), slice(16, 32)


def int8_array(values: Sequence[int]) -> BinaryArray:
    pack = _INT8.pack
    return _array(Int8Array, len(values), b"".join([pack(8, v) for v in values]))


def int4_array(values: Sequence[int]) -> BinaryArray:
    pack = _INT4.pack
    return _array(Int4Array, len(values), b"".join([pack(4, v) for v in values]))


def timestamp_micros(value: datetime) -> int:
    """An aware datetime as timestamptz's wire value (a naive one raises TypeError)."""
    return (value - _EPOCHS.get(value.tzinfo, _PG_EPOCH)) // _MICROSECOND


def timestamptz_array(values: Sequence[datetime]) -> BinaryArray:
    """Aware datetimes (a naive one raises TypeError: its zone would be a guess)."""
    pack, epochs = _INT8.pack, _EPOCHS
    return _array(TimestamptzArray, len(values), b"".join([
        pack(8, (v - epochs.get(v.tzinfo, _PG_EPOCH)) // _MICROSECOND) for v in values]))


def timestamptz_or_null_array(values: Sequence[datetime | None]) -> BinaryArray:
    """:func:`timestamptz_array` with None as SQL null."""
    pack, epochs = _INT8.pack, _EPOCHS
    return _array(TimestamptzArray, len(values), b"".join([
        _NULL if v is None else pack(8, (v - epochs.get(v.tzinfo, _PG_EPOCH)) // _MICROSECOND)
        for v in values]), None in values)


def bool_array(values: Sequence[bool]) -> BinaryArray:
    """Booleans (1 and 0 read as them; anything else raises KeyError)."""
    return _array(BoolArray, len(values), b"".join([_BOOLS[v] for v in values]))


_NULL = b"\xff\xff\xff\xff"  # an element's length -1: null
_BOOLS: dict[object, bytes] = {True: b"\0\0\0\x01\x01", False: b"\0\0\0\x01\0"}


#: The builder of each SQL element type's arrays, by the name a statement casts to.
BUILDERS: dict[str, Callable[[Any], BinaryArray]] = {
    "uuid": uuid_array, "text": text_array, "bigint": int8_array, "integer": int4_array,
    "timestamptz": timestamptz_or_null_array, "boolean": bool_array, "bytea": bytea_array}
#: What a builder raises at a value it cannot send as it is (a naive time, a str for a
#: UUID, an integer beyond 64 bits).
NOT_BUILT = (TypeError, AttributeError, KeyError, ValueError, OverflowError, struct.error)


def column(sql_type: str, values: Sequence[Any]) -> Any:
    """``values`` for a ``%b::sql_type[]`` parameter: one array built here, or — a type
    without a builder, a value the builder refuses — the list, for psycopg to dump element
    by element as before (the cursor must know the arrays: :func:`register`)."""
    build = BUILDERS.get(sql_type)
    if build is not None:
        try:
            return build(values)
        except NOT_BUILT:
            pass
    return values


def _dumper(kind: type[BinaryArray]) -> type[adapt.Dumper]:
    array_oid = ARRAY_OIDS[kind]

    class Dumper(adapt.Dumper):
        """Dumps these arrays only. Its oid is the instance's, not the class's: psycopg
        makes a dumper whose class names an oid the connection's dumper *for that type*,
        and a binary COPY of a ``text[]`` column (a list) then met this one."""

        format = Format.BINARY

        def __init__(self, cls: type, context: AdaptContext | None = None) -> None:
            super().__init__(cls, context)
            self.oid = array_oid

        def dump(self, obj: object) -> bytes:
            return obj  # type: ignore[return-value]  # a BinaryArray: bytes as they are

    return Dumper


_DUMPERS = {kind: _dumper(kind) for kind in ARRAY_OIDS}


def register(adapters: AdaptersMap) -> None:
    """Send the arrays built here as they are (idempotent)."""
    for kind, dumper in _DUMPERS.items():
        adapters.register_dumper(kind, dumper)


_READY: WeakSet[Connection[Any]] = WeakSet()


def ready(conn: Connection[Any]) -> Connection[Any]:
    """``conn``, its adapters taught these arrays (once per connection: a connection
    copies the global adapters when it opens, which may be before any recorder ran)."""
    if conn not in _READY:
        register(conn.adapters)
        _READY.add(conn)
    return conn
