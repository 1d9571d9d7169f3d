"""Writing a page's ``staff_kpi_ledger`` rows, each once.

A row is keyed by its event's log position, and only the rows stored *now* count (a page
applied twice changes nothing). A page is COPYed in — every row new, as for every page but a
replayed one — and only when the COPY meets a stored position is it rolled back (to a
savepoint) and inserted skipping the stored rows, which returns the new ones; the
row-by-row conflict check that took was most of the ledger's cost (docs/benchmarks.md,
``projection_model_staff_daily_performance``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import Cursor
from psycopg.errors import UniqueViolation
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from projections.postgres_views import _dumps

Row = dict[str, Any]

#: The ledger's columns and their types, for a binary COPY (a row lacking one: null).
COLUMNS = (("position", "int8"), ("kind", "text"), ("customer_id", "uuid"),
           ("staff_id", "text"), ("at", "timestamptz"), ("day", "date"), ("channel", "text"),
           ("amount_fen", "int8"), ("categories", "text[]"))


def insert_ledger(curs: Cursor[DictRow], entries: Sequence[Row]) -> list[Row]:
    """Insert the entries; the ones not stored before (a replayed page counts nothing)."""
    if not entries:
        return []
    names = ", ".join(c for c, _ in COLUMNS)
    try:
        with curs.connection.transaction(), curs.copy(
                f"COPY staff_kpi_ledger ({names}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types([t for _, t in COLUMNS])
            for entry in entries:
                copy.write_row([entry.get(c) for c, _ in COLUMNS])
        return list(entries)
    except UniqueViolation:
        pass
    curs.execute(
        "INSERT INTO staff_kpi_ledger SELECT * FROM jsonb_populate_recordset("
        "null::staff_kpi_ledger, %s) ON CONFLICT (position) DO NOTHING RETURNING position",
        (Jsonb(list(entries), dumps=_dumps),))
    stored = {r["position"] for r in curs.fetchall()}
    return [e for e in entries if e["position"] in stored]
