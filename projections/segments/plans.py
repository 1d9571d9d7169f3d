"""A page's writes planned as joins through the keys' indexes.

A page's segment writes (one ``WITH``: memberships deleted and inserted, checks, member
counts, and the profile rows updated from their staging table) join a few thousand keys to
tables holding every customer. Planned by cost, the server hashed the whole of
``segment_membership`` (for the deletes) and of ``customer_profile`` (for the update: every
row, each ~800 bytes, copied into the hash) for each page, so that a page's CPU grew with
the tables and not with its rows; on the full benchmark log the update's join read 7,500
rows to update 2,000 (docs/benchmarks.md, profile7). Nested loops over the primary keys
cost per row written. Set for that statement only (``SET LOCAL``, then back to the
server's setting): the page's other statements are planned as before.
"""

from __future__ import annotations

from typing import Any, TypeVar

from psycopg import Cursor

Row = TypeVar("Row")

BY_INDEX = "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off"
AS_SET = "SET LOCAL enable_hashjoin TO DEFAULT; SET LOCAL enable_mergejoin TO DEFAULT"


def execute_by_index(curs: Cursor[Row], statement: str, params: list[Any]) -> list[Row]:
    """``statement``'s rows, planned with nested loops (in the caller's transaction)."""
    curs.execute(BY_INDEX)
    curs.execute(statement, params)
    rows = curs.fetchall()
    curs.execute(AS_SET)
    return rows
