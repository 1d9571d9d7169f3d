"""Reading a documented read model (docs/bi.md) whole, for ``siyu export``.

Only the relations a BI role may read (:data:`projections.bi_access.BI_RELATIONS`) can be
exported; the rows stream through a server-side cursor in UTC, in batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from psycopg import Connection, sql

from projections.bi_access import BI_RELATIONS


class NotExportable(ValueError):
    """The name is not a documented read model."""


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str  # PostgreSQL type name (``int8``, ``timestamptz``, ``_text`` for text[] …)
    element: str | None  # the element type of an array


def check(name: str) -> str:
    if name not in BI_RELATIONS:
        raise NotExportable(f"{name!r} is not a documented read model; one of: "
                            f"{', '.join(sorted(BI_RELATIONS))}")
    return name


def columns(conn: Connection[Any], name: str) -> list[Column]:
    rows = conn.execute(
        "SELECT a.attname, t.typname, e.typname FROM pg_attribute a "
        "JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_type e ON e.oid = t.typelem "
        "AND t.typcategory = 'A' WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 "
        "AND NOT a.attisdropped ORDER BY a.attnum", (check(name),)).fetchall()
    if not rows:
        raise NotExportable(f"{name!r} does not exist yet (start the projections once)")
    return [Column(r[0], r[1], r[2]) for r in rows]


def count(conn: Connection[Any], name: str) -> int:
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
        sql.Identifier(check(name)))).fetchone()
    return int(row[0]) if row else 0


def batches(conn: Connection[Any], name: str, size: int = 5000
            ) -> Iterator[list[tuple[Any, ...]]]:
    """Every row (tuples in :func:`columns` order), times in UTC, ``size`` at a time, in one
    read-only transaction (a consistent snapshot)."""
    conn.execute("SET TIME ZONE 'UTC'")
    with conn.transaction(), conn.cursor(name="siyu_export") as cur:
        conn.execute("SET TRANSACTION READ ONLY")
        cur.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(check(name))))
        while chunk := cur.fetchmany(size):
            yield chunk
