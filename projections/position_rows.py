"""Rows keyed by their event's log position, each written once: COPYed when new.

A read model's fact tables (``content_engagement``, ``order_line`` …) key each row by
the log position of its event and were inserted ``ON CONFLICT DO NOTHING`` from
``jsonb_populate_recordset``, so that a page applied twice adds nothing. Parsing the JSON
and checking every row for a conflict was most of the analytics group's database time
(``content_engagement``: 27 us a row, a binary ``COPY`` 16). A page not applied before —
every page but a replay's — holds no position stored yet: one look per table at the
positions from the page's first on says so, and its rows are COPYed; otherwise they are
inserted skipping the stored ones, as before (the same rows either way; the activity
read model's ``customer_journey`` is written so, :mod:`projections.activities.view`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier
from psycopg.types.json import Jsonb

from projections.postgres_views import _dumps

Row = dict[str, Any]
#: A table's columns and their PostgreSQL types, the log position first.
Columns = tuple[tuple[str, str], ...]


def stored_check(tables: Sequence[tuple[str, str]]) -> Composed:
    """Whether each ``(table, position column)`` holds a row at or past a position (one
    parameter each). ``max`` reads the key's last index entry whatever the plan:
    ``EXISTS (… WHERE position >= %s)`` got a prepared statement's generic plan after five
    pages, a scan of the whole table every page (docs/benchmarks.md, the 1M check)."""
    return SQL("SELECT {}").format(SQL(", ").join(
        SQL("coalesce((SELECT max({}) FROM {}) >= %s, false) AS {}").format(
            Identifier(column), Identifier(table), Identifier(f"stored_{i}"))
        for i, (table, column) in enumerate(tables)))


def insert_once(curs: Cursor[DictRow], batches: Sequence[tuple[str, Columns, Sequence[Row]]]
                ) -> None:
    """Write each ``(table, columns, rows)`` batch's rows that are not stored yet (a row
    lacking a column: null); not inside a pipeline (a COPY cannot be)."""
    batches = [b for b in batches if b[2]]
    if not batches:
        return
    curs.execute(stored_check([(table, columns[0][0]) for table, columns, _ in batches]),
                 [min(r[columns[0][0]] for r in rows) for _, columns, rows in batches])
    found = curs.fetchone()
    stored = list(found.values()) if found is not None else [True] * len(batches)
    for (table, columns, rows), replayed in zip(batches, stored, strict=True):
        names = SQL(", ").join(Identifier(c) for c, _ in columns)
        if replayed:
            curs.execute(SQL("INSERT INTO {table} ({names}) SELECT {names} FROM "
                             "jsonb_populate_recordset(null::{table}, %s) "
                             "ON CONFLICT DO NOTHING").format(table=Identifier(table),
                                                              names=names),
                         (Jsonb(list(rows), dumps=_dumps),))
            continue
        with curs.copy(SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
                Identifier(table), names)) as copy:
            copy.set_types([t for _, t in columns])
            for row in rows:
                copy.write_row([row.get(c) for c, _ in columns])
