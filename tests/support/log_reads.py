"""What reading the log costs the server: the rows a transaction's statements read, and
the log's statistics forgotten, as on a log just loaded or restored (never analyzed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import Connection
from psycopg.rows import tuple_row
from psycopg.sql import Composed

#: Rows and index entries of the log read so far in the current transaction.
READ = ("SELECT sum(pg_stat_get_xact_tuples_returned(c.oid) + CASE c.relkind WHEN 'r' THEN "
        "pg_stat_get_xact_tuples_fetched(c.oid) ELSE 0 END)::bigint FROM pg_class c "
        "WHERE c.oid = 'siyu_events'::regclass "
        "OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = 'siyu_events'::regclass)")

Fetch = Callable[[Connection[Any], Composed, list[Any]], list[tuple[Any, ...]]]


def forget_statistics(url: str) -> None:
    """The log as the planner sees it before its first ANALYZE (needs a superuser)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM pg_statistic WHERE starelid = 'siyu_events'::regclass")
        conn.execute("UPDATE pg_class SET reltuples = -1, relpages = 0 "
                     "WHERE oid = 'siyu_events'::regclass")


def counted(fetch: Fetch, reads: list[tuple[int, int]]) -> Fetch:
    """``fetch``, noting (rows given, rows and index entries read) of each call."""
    def wrapper(conn: Connection[Any], statement: Composed, params: list[Any]
                ) -> list[tuple[Any, ...]]:
        with conn.transaction():
            before = _read(conn)
            rows = fetch(conn, statement, params)
            reads.append((len(rows), _read(conn) - before))
        return rows
    return wrapper


def _read(conn: Connection[Any]) -> int:
    with conn.cursor(row_factory=tuple_row) as curs:
        row = curs.execute(READ).fetchone()
    return int(row[0]) if row is not None and row[0] is not None else 0
