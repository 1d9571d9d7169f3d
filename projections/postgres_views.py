"""PostgreSQL views of the read models: load the page's rows, fold, upsert in one statement."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from domain.customer import Customer
from domain.staff import Staff
from projections import customer_profile

Row = dict[str, Any]


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def schema_sql() -> str:
    return (Path(__file__).parent / "schema.sql").read_text()


def create_schema(curs: Cursor[DictRow]) -> None:
    # Serialise concurrent creators (several processes start at once).
    curs.execute("SELECT pg_advisory_xact_lock(7368001)")
    curs.execute(schema_sql())


def upsert_rows(curs: Cursor[DictRow], table: str, key: str, rows: Sequence[Row]) -> None:
    if not rows:
        return
    columns = list(rows[0])
    assignments = ", ".join(f"{c} = excluded.{c}" for c in columns if c != key)
    names = ", ".join(columns)
    payload = json.loads(json.dumps(list(rows), default=_json_default))
    curs.execute(
        f"INSERT INTO {table} ({names}) "
        f"SELECT {names} FROM jsonb_populate_recordset(null::{table}, %s) "
        f"ON CONFLICT ({key}) DO UPDATE SET {assignments}",
        (Jsonb(payload),),
    )


def fold_page(
    curs: Cursor[DictRow],
    table: str,
    key: str,
    events: Sequence[tuple[int, Any]],
    handles: Callable[[Any], bool],
    fold: Callable[[Row | None, Any, int], Row | None],
) -> None:
    """Load the rows a page touches, fold its events in order, write them back."""
    relevant = [(n, e) for n, e in events if handles(e)]
    if not relevant:
        return
    ids = sorted({e.originator_id for _, e in relevant})
    curs.execute(
        f"SELECT * FROM {table} WHERE {key} = ANY(%s) FOR UPDATE",
        (ids,),
    )
    rows: dict[UUID, Row | None] = {r[key]: dict(r) for r in curs.fetchall()}
    for position, event in relevant:
        rows[event.originator_id] = fold(rows.get(event.originator_id), event, position)
    upsert_rows(curs, table, key, [r for r in rows.values() if r is not None])


class CustomerProfileView:
    name = "customer_profile"
    version = customer_profile.VERSION

    def create(self, curs: Cursor[DictRow]) -> None:
        create_schema(curs)

    def drop(self, curs: Cursor[DictRow]) -> None:
        curs.execute("DROP TABLE IF EXISTS customer_profile CASCADE")

    def apply_page(self, curs: Cursor[DictRow], events: Sequence[tuple[int, Any]]) -> None:
        fold_page(curs, "customer_profile", "customer_id", events,
                  lambda e: isinstance(e, (Customer.Event, Customer.Registered)),
                  customer_profile.apply)

    def clear(self, curs: Cursor[DictRow]) -> None:
        curs.execute("TRUNCATE customer_profile")


def fold_staff(row: Row | None, event: Any, position: int) -> Row | None:
    if isinstance(event, Staff.Hired):
        return {"staff_id": event.originator_id, "role": event.role,
                "department": event.department, "hired_at": event.occurred_at,
                "left_at": None, "last_version": event.originator_version}
    if row is None or event.originator_version <= row["last_version"]:
        return row
    row = dict(row, last_version=event.originator_version)
    if isinstance(event, Staff.Left):
        row["left_at"] = event.occurred_at
    return row


class StaffDirectoryView:
    name = "staff_directory"
    version = 1

    def drop(self, curs: Cursor[DictRow]) -> None:
        curs.execute("DROP TABLE IF EXISTS staff_directory CASCADE")

    def create(self, curs: Cursor[DictRow]) -> None:
        create_schema(curs)

    def apply_page(self, curs: Cursor[DictRow], events: Sequence[tuple[int, Any]]) -> None:
        fold_page(curs, "staff_directory", "staff_id", events,
                  lambda e: isinstance(e, (Staff.Hired, Staff.Left)), fold_staff)

    def clear(self, curs: Cursor[DictRow]) -> None:
        curs.execute("TRUNCATE staff_directory")
