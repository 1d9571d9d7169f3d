"""Profile rows upserted from a staging table filled by ``COPY``, not from one JSON document.

A page's profile rows went to the server as one JSON array for ``jsonb_populate_recordset``:
about 1.7 KB a row, half of it the column names repeated, parsed into jsonb and then taken
apart again column by column — 40 % of the profile read model's server time, measured
(``pg_stat_statements``), and 2.5 to 5 times a ``COPY`` of the same rows into a temporary
table followed by ``INSERT … SELECT … ON CONFLICT``. Here each row is written in ``COPY``'s
text format by the column's type (as its text input reads it back: the same values the JSON
path stores, which a property test holds them to), into ``customer_profile_staging`` (a
temporary table made like ``customer_profile``, kept by the connection while the table's
columns stay the same), and :func:`upsert_statement` moves them into place. A time column
is staged as ``bigint`` microseconds (:data:`STAGED_TIME`), not ISO text: ``timestamptz``'s
text input parses date, time and zone, where the statements moving the rows add two products
of intervals to an epoch.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import chain, compress
from operator import is_not, itemgetter, ne, or_
from typing import Any
from uuid import UUID

import orjson
from psycopg import Cursor
from psycopg.rows import DictRow

from adapters.binary_arrays import timestamp_micros

Row = dict[str, Any]
TABLE = "customer_profile"
STAGING = "customer_profile_staging"
KEY = "customer_id"
_NULL = "\\N"
_OPTIONS = orjson.OPT_NON_STR_KEYS


def _escaped(text: str) -> str:
    """COPY's text format: a backslash, a tab, a newline or a carriage return escaped
    (``str.translate`` was the formatter's largest cost: most texts have none of them)."""
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return (text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
                .replace("\r", "\\r"))
    return text


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (UUID, Decimal)):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def _scalar(value: Any) -> str:
    """Text input of a uuid, number, text or time (a time as ISO 8601, as in JSON)."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def _text(value: Any) -> str:
    if type(value) is str:
        if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
            return _escaped(value)
        return value
    return _escaped(_scalar(value))


def _iso(value: datetime) -> str:
    """A time's ISO 8601 text: of a UTC time (the fold's are) its fields formatted, about
    twice as fast as ``isoformat`` (2.35 against 1.2 us, measured), the same instant read
    back (with six decimals always, where ``isoformat`` leaves out ``.000000``)."""
    if value.tzinfo is UTC:
        return _UTC % (value.year, value.month, value.day, value.hour, value.minute,
                       value.second, value.microsecond)
    return value.isoformat()


_UTC = "%04d-%02d-%02dT%02d:%02d:%02d.%06d+00:00"
TIME = "timestamp with time zone"


def _micros(value: Any) -> str:
    """A time as staged (:data:`STAGED_TIME`): its microseconds since 2000-01-01 UTC, the
    same instant whatever its zone (a naive time raises TypeError: its zone is a guess)."""
    if type(value) is str:
        value = datetime.fromisoformat(value)
    return str(timestamp_micros(value))


#: The staging's type of a time column, and the time its values stand for: an epoch plus
#: whole hours plus microseconds — exact over every year (a single product of one
#: microsecond by a ``bigint`` goes through ``float8``: exact within ±2^53 us only).
STAGED_TIME = "bigint"
_HOUR = 3_600_000_000


def _from_staged(column: str, sql_type: str) -> str:
    """The SQL of a staged column's value in the table's type."""
    if sql_type != TIME:
        return column
    return (f"(timestamptz '2000-01-01 00:00:00+00' + ({column} / {_HOUR}) * interval '1 hour' "
            f"+ mod({column}, {_HOUR}) * interval '1 microsecond')")


def _element(value: Any) -> str:
    """One element of an array literal: quoted, its quotes and backslashes escaped."""
    if value is None:
        return "NULL"
    if isinstance(value, list):
        return _array_literal(value)
    return '"' + _scalar(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _array_literal(value: list[Any]) -> str:
    try:
        plain = "".join(value)  # every element text (else TypeError)
    except TypeError:
        plain = None
    if plain is not None and "\\" not in plain and '"' not in plain:
        return '{"' + '","'.join(value) + '"}' if value else "{}"
    return "{" + ",".join([_element(v) for v in value]) + "}"


def _array(value: Any) -> str:
    if not value:
        return "{}"
    return _escaped(_array_literal(value))


def _numbers(value: Any) -> str:
    """An array of numbers (or times: no character of theirs needs quoting or escaping)."""
    if not value:
        return "{}"
    if all(type(v) is int for v in value):
        return "{" + ",".join(map(str, value)) + "}"
    if all(type(v) is datetime for v in value):
        return "{" + ",".join([_iso(v) for v in value]) + "}"
    return _array(value)


def _boolean(value: Any) -> str:
    return "t" if value else "f"


def _jsonb(value: Any) -> str:
    """JSON text escapes its control characters itself: only its backslashes are doubled."""
    try:
        text = orjson.dumps(value, default=_json_default, option=_OPTIONS).decode()
    except (orjson.JSONEncodeError, TypeError):
        return _escaped(json.dumps(value, default=_json_default, ensure_ascii=False))
    return text.replace("\\", "\\\\") if "\\" in text else text


def _encoder(sql_type: str) -> Callable[[Any], str]:
    """Each value's COPY text, escaped (None is written as NULL by the caller)."""
    if sql_type in ("bigint[]", "integer[]", "timestamp with time zone[]"):
        return _numbers
    if sql_type.endswith("[]"):
        return _array
    if sql_type == "boolean":
        return _boolean
    if sql_type in ("jsonb", "json"):
        return _jsonb
    if sql_type in ("bigint", "integer", "uuid"):
        return str
    if sql_type == TIME:
        return _micros
    return _text


#: Each column of the profile table, its type, whether it may be NULL, its default, and
#: whether the staging table has it alike, a time as :data:`STAGED_TIME` (none when there
#: is no staging table yet in this session); and the staging's width (the table's columns
#: and :data:`STORED`).
_SHAPE = (
    "SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull, "
    "pg_get_expr(d.adbin, d.adrelid) AS default, "
    f"coalesce(s.atttypid = CASE WHEN a.atttypid = '{TIME}'::regtype "
    f"THEN '{STAGED_TIME}'::regtype ELSE a.atttypid END AND s.atttypmod = a.atttypmod, "
    "false) AS staged, "
    "(SELECT count(*) FROM pg_attribute t WHERE t.attrelid = to_regclass('pg_temp."
    f"{STAGING}') AND t.attnum > 0 AND NOT t.attisdropped) AS width "
    "FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid "
    "AND d.adnum = a.attnum LEFT JOIN pg_attribute s "
    f"ON s.attrelid = to_regclass('pg_temp.{STAGING}') AND s.attname = a.attname "
    f"AND NOT s.attisdropped WHERE a.attrelid = '{TABLE}'::regclass AND a.attnum > 0 "
    "AND NOT a.attisdropped")
#: The staging table's own column: the row is stored already (updated, not inserted).
STORED = "staged_stored"


@dataclass(frozen=True, slots=True)
class Staged:
    """Rows staged by :func:`stage`: their columns, those that may be left out (``NULL``
    in the staging table) when they did not change, the defaults (SQL) of those that may
    be left out of a new row when they hold it, and how many rows are updates."""

    columns: list[str]
    optional: frozenset[str]
    defaults: dict[str, str]
    updates: int
    types: dict[str, str]  # each column's SQL type in the table (a time's is staged apart)


class _Absent:
    """No default: no value is of this type."""


def stage(curs: Cursor[DictRow], rows: Sequence[Row],
          stored: Sequence[Row | None] | None = None) -> Staged:
    """``COPY`` ``rows`` (not empty, all with the same columns) into the session's staging
    table, for :func:`upsert_statement`. See :func:`stage_changes`."""
    return stage_changes(curs, rows, stored)


def stage_changes(curs: Cursor[DictRow], rows: Sequence[Row],
                  stored: Sequence[Row | None] | None = None) -> Staged:
    """``COPY`` ``rows`` into the session's staging table. ``stored[i]``, when given and not
    None, is the row ``rows[i]`` replaces, as the table holds it: then each of its columns
    that cannot be NULL and holds the same object is staged as ``NULL`` (not encoded here,
    not parsed by the server, and kept by :func:`write_statements`' update). The fold
    replaces what it changes, so an unchanged column is the same object. Of a new row
    (``stored[i]`` None), such a column holding its default (same type, equal) is staged
    ``NULL`` too, and the insert writes the default.

    The staging table lives as long as the connection (``ON COMMIT DELETE ROWS``: a page's
    rows go at its commit, or with its rollback); made again when the profile table's
    columns differ from it (a version bump, a blue/green build's own table) — not made and
    dropped by every page, which wrote and deleted ~50 catalog rows each time. It has the
    profile's columns without their ``NOT NULL``, and :data:`STORED`.
    """
    curs.execute(_SHAPE)
    shape = curs.fetchall()
    if not all(r["staged"] for r in shape) or shape[0]["width"] != len(shape) + 1:
        curs.execute(f"DROP TABLE IF EXISTS pg_temp.{STAGING}")
        staged = ", ".join(f"NULL::{STAGED_TIME} AS {r['attname']}" if r["type"] == TIME
                           else r["attname"] for r in shape)
        curs.execute(f"CREATE TEMP TABLE {STAGING} ON COMMIT DELETE ROWS AS SELECT {staged}, "
                     f"false AS {STORED} FROM {TABLE} WITH NO DATA")
    else:  # rows staged earlier in this transaction are not written twice
        curs.execute(f"DELETE FROM {STAGING}")
    types = {r["attname"]: r["type"] for r in shape}
    default = {r["attname"]: r["default"] for r in shape}
    optional = frozenset(r["attname"] for r in shape if r["attnotnull"]) - {KEY}
    columns = list(rows[0])
    defaults = {c: d for c in columns if c in optional and (d := default[c]) is not None}
    lines, updates = _lines(rows, stored, columns, [_encoder(types[c]) for c in columns],
                            optional, _default_values(curs, defaults, stored))
    with curs.copy(f"COPY {STAGING} ({', '.join(columns)}, {STORED}) FROM STDIN") as copy:
        copy.write("\n".join(lines) + "\n")
    return Staged(columns, optional, defaults, updates, {c: types[c] for c in columns})


def _lines(rows: Sequence[Row], stored: Sequence[Row | None] | None, columns: list[str],
           encoders: list[Callable[[Any], str]], optional: frozenset[str],
           blank: dict[str, Any]) -> tuple[list[str], int]:
    """Each row's ``COPY`` line, and how many are updates. Only the columns a row must
    carry are encoded, found by C-level passes over its values (a Python test per column
    was most of the time): of a stored row, those changed (not the same object) and those
    that may be NULL; of a new one, those not holding their default (``blank``)."""
    get = itemgetter(*columns) if len(columns) > 1 else (lambda row: (row[columns[0]],))
    width, index = len(columns), range(len(columns))
    always = [i for i, c in enumerate(columns) if c not in optional]  # the key, nullables
    required = frozenset(i for i, c in enumerate(columns) if c in optional)  # NOT NULL
    defaults = tuple(blank.get(c, _Absent()) for c in columns)
    types = tuple(map(type, defaults))
    lines: list[str] = []
    updates = 0
    for row, old in zip(rows, stored if stored is not None else [None] * len(rows),
                        strict=True):
        values = get(row)
        out = [_NULL] * width
        todo: Iterable[int]
        if old is not None:
            todo = chain(compress(index, map(is_not, values, get(old))), always)
            updates += 1
        elif blank:  # not of the default's type, or not equal to it
            todo = compress(index, map(or_, map(is_not, map(type, values), types),
                                       map(ne, values, defaults)))
        else:
            todo = index
        for i in todo:
            if (value := values[i]) is not None:
                out[i] = encoders[i](value)
            elif i in required:  # staged NULL would keep the stored value or the default
                raise ValueError(f"customer_profile.{columns[i]} cannot be NULL")
        lines.append("\t".join(out) + ("\tf" if old is None else "\tt"))
    return lines, updates


def _default_values(curs: Cursor[DictRow], defaults: dict[str, str],
                    stored: Sequence[Row | None] | None) -> dict[str, Any]:
    """The defaults as Python values, when new rows are staged (else none)."""
    if not defaults or stored is None or all(s is not None for s in stored):
        return {}
    curs.execute("SELECT " + ", ".join(f"{d} AS {c}" for c, d in defaults.items()))
    return dict(curs.fetchone() or {})


def write_statements(staged: Staged) -> list[str]:
    """The staged rows into ``customer_profile``: new ones inserted (a key already there
    fails, loudly), a column staged ``NULL`` that cannot be NULL taking its default; stored
    ones updated, such a column kept as it is; the update returns a row per row updated
    (:data:`Staged.updates` of them)."""
    columns, types = staged.columns, staged.types
    names = ", ".join(columns)
    assignments = ", ".join(
        f"{c} = coalesce({_from_staged(f's.{c}', types[c])}, p.{c})" if c in staged.optional
        else f"{c} = {_from_staged(f's.{c}', types[c])}" for c in columns if c != KEY)
    values = ", ".join(f"coalesce({_from_staged(c, types[c])}, {d})"
                       if (d := staged.defaults.get(c)) else _from_staged(c, types[c])
                       for c in columns)
    return [f"INSERT INTO {TABLE} ({names}) SELECT {values} FROM {STAGING} WHERE NOT {STORED}",
            f"UPDATE {TABLE} p SET {assignments} FROM {STAGING} s WHERE s.{STORED} "
            f"AND p.{KEY} = s.{KEY} RETURNING 1"]


def upsert_statement(staged: Staged) -> str:
    """The staged rows into ``customer_profile``, as the JSON path's upsert."""
    columns = staged.columns
    names = ", ".join(columns)
    values = ", ".join(_from_staged(c, staged.types[c]) for c in columns)
    assignments = ", ".join(f"{c} = excluded.{c}" for c in columns if c != KEY)
    return (f"INSERT INTO {TABLE} ({names}) SELECT {values} FROM {STAGING} "
            f"ON CONFLICT ({KEY}) DO UPDATE SET {assignments}")
