"""Rebuild every read model into a shadow schema and diff it against the live one.

``siyu verify`` proves the read models are what the event log says. In one
repeatable-read snapshot, the live read models and their tracking positions are copied
into ``siyu_shadow_live``; then each view is created and folded from the first event
into the schema ``siyu_shadow``, up to the position its live twin had in that snapshot,
and the two are compared row for row — exact while the live projections keep running.
The shadow's connections see *only* that schema (a read model's ``DROP`` or
``TRUNCATE`` must never reach a live table); the event log and the write side's tables
are visible there as views of the live ones.

Not compared: columns the database fills (serial ids, ``DEFAULT now()``), the
bookkeeping tables (tracking, versions, quarantine), and the state workers keep about
their own deliveries (dispatch queues, rate limits, outbox statuses) — none of it
derives from the events.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.application import Application
from eventsourcing.postgres import PostgresDatastore
from psycopg import Connection
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from projections import quarantine
from projections.runner import TRACKING_TABLE, BatchRunner, Tracker, View
from projections.topic_pages import select

log = logging.getLogger(__name__)

SHADOW_SCHEMA = "siyu_shadow"
#: The live read models, copied at one consistent instant for the comparison.
LIVE_COPY = "siyu_shadow_live"
LIVE_SCHEMA = "public"

#: Tables that are not folded from events (never copied nor compared): bookkeeping, BI
#: roles, API tokens, and what workers record of their own deliveries.
NOT_FOLDED = frozenset({TRACKING_TABLE, "siyu_read_model_version", quarantine.TABLE,
                        "campaign_dispatch", "siyu_rate_limit", "sop_dispatch",
                        "sop_contact_reservation", "siyu_bi_role", "api_token"})
#: Columns of folded tables that workers update as they deliver.
WORKER_COLUMNS = {
    "welcome_outbox": frozenset({"status", "attempts", "enqueued_at", "template_id", "outcome",
                                 "answered_at", "completed_at"}),
    "staff_alert_outbox": frozenset({"status", "enqueued_at", "completed_at"}),
}
#: Rows that differ quoted per table in a report (the rest are counted).
SAMPLE = 3


class ShadowDatastore(PostgresDatastore):
    """The live database, seen through the shadow schema alone."""

    def after_connect_func(self) -> Callable[[Connection[Any]], None]:
        base = super().after_connect_func()
        path = SQL("SET search_path TO {}").format(Identifier(self.schema))

        def after_connect(conn: Connection[DictRow]) -> None:
            base(conn)
            conn.execute(path)

        return after_connect


@dataclass(frozen=True, slots=True)
class TableDiff:
    table: str
    live_only: int  # rows in the live table the rebuild does not have
    rebuilt_only: int  # rows the rebuild has that the live table does not
    samples: tuple[str, ...]  # primary keys (or row texts) of a few differing rows


@dataclass(frozen=True, slots=True)
class ViewDiff:
    view: str
    position: int  # the log position both were compared at
    tables: tuple[str, ...]
    differences: tuple[TableDiff, ...]


def reset(conn: Connection[Any], write_side: Sequence[str]) -> None:
    """An empty shadow schema in which the write side's tables (the event log, the side
    tables the folds look up) are views of the live ones."""
    shadow = Identifier(SHADOW_SCHEMA)
    with conn.transaction():
        for schema in (shadow, Identifier(LIVE_COPY)):
            conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(schema))
            conn.execute(SQL("CREATE SCHEMA {}").format(schema))
        for table in write_side:
            conn.execute(SQL("CREATE VIEW {}.{t} AS SELECT * FROM {}.{t}").format(
                shadow, Identifier(LIVE_SCHEMA), t=Identifier(table)))


def _tables(conn: Connection[Any], schema: str) -> set[str]:
    rows = conn.execute("SELECT table_name FROM information_schema.tables "
                        "WHERE table_schema = %s AND table_type = 'BASE TABLE'",
                        (schema,)).fetchall()
    return {_first(r) for r in rows}


def _first(row: Any) -> Any:
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


class _CappedRunner(BatchRunner):
    """Folds the log only up to a given position (where the live read model stands)."""

    cap = 0

    def run_once(self) -> int:
        start = self.tracker.position(self.view.name)
        if start >= self.cap:
            return 0
        notifications = select(self.app.recorder, start, self.page_size, self.cap, ())
        if not notifications:
            return 0
        self._apply(notifications)
        return len(notifications)


def compare_views(app: Application[Any], live: Connection[Any], shadow: ShadowDatastore,
                  views: Sequence[View], write_side: Sequence[str]) -> list[ViewDiff]:
    """Copy the live read models and their positions in one repeatable-read snapshot
    (into ``siyu_shadow_live``), rebuild each view in the shadow schema up to the position
    its live twin had there, then compare. A table one view creates may be written by
    another: all are built before any is compared."""
    tracker = Tracker(shadow)
    live_tracking = SQL("{}.{}").format(Identifier(LIVE_SCHEMA), Identifier(TRACKING_TABLE))
    skipped = {*write_side, *NOT_FOLDED}
    with live.transaction():
        live.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        positions = {_first(r): _value(r, "n") for r in live.execute(SQL(
            "SELECT application_name, max(notification_id) AS n FROM {} "
            "GROUP BY application_name").format(live_tracking)).fetchall()}
        for table in sorted(_tables(live, LIVE_SCHEMA) - skipped):
            live.execute(SQL("CREATE TABLE {}.{t} AS TABLE {}.{t}").format(
                Identifier(LIVE_COPY), Identifier(LIVE_SCHEMA), t=Identifier(table)))
    built: list[tuple[str, int, tuple[str, ...]]] = []
    with shadow.get_connection() as conn:
        for view in views:
            before = _tables(conn, SHADOW_SCHEMA)
            runner = _CappedRunner(app, view, tracker)
            runner.cap = positions.get(view.name) or 0
            runner.catch_up()
            tables = tuple(sorted((_tables(conn, SHADOW_SCHEMA) - before) - NOT_FOLDED))
            built.append((view.name, runner.cap, tables))
    copied = _tables(live, LIVE_COPY)
    return [ViewDiff(name, position, tables, tuple(
        d for d in (_diff(live, t, t in copied) for t in tables) if d is not None))
        for name, position, tables in built]


def _columns(conn: Connection[Any], table: str) -> tuple[list[str], list[str]]:
    """The compared columns of ``table`` (both schemas have it), and its primary key."""
    rows = conn.execute(
        "SELECT column_name, column_default FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
        (SHADOW_SCHEMA, table)).fetchall()
    skipped = WORKER_COLUMNS.get(table, frozenset())
    columns = []
    for r in rows:
        column, default = (r["column_name"], r["column_default"]) if isinstance(r, dict) else r
        filled = default is not None and ("nextval(" in default or "now()" in default)
        if column not in skipped and not filled:
            columns.append(column)
    key = conn.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary "
        "ORDER BY array_position(i.indkey, a.attnum)",
        (f"{SHADOW_SCHEMA}.{table}",)).fetchall()
    keys = [_first(k) for k in key if _first(k) in columns]
    return columns, keys or columns


def _diff(live: Connection[Any], table: str, copied: bool) -> TableDiff | None:
    if not copied:
        return TableDiff(table, 0, -1, ("the live schema has no such table",))
    columns, keys = _columns(live, table)
    # Every value as text: json (not jsonb) columns have no equality operator.
    listed = SQL(", ").join(SQL("{c}::text AS {c}").format(c=Identifier(c)) for c in columns)
    shown = SQL(", ").join(Identifier(c) for c in keys)

    def side(first: str, second: str) -> tuple[int, list[str]]:
        rows = live.execute(SQL(
            "WITH d AS (SELECT {cols} FROM {a}.{t} EXCEPT ALL SELECT {cols} FROM {b}.{t}) "
            "SELECT (SELECT count(*) FROM d) AS n, concat_ws(' ', {shown}) AS k "
            "FROM d LIMIT %s").format(cols=listed, a=Identifier(first), b=Identifier(second),
                                      t=Identifier(table), shown=shown),
            (SAMPLE,)).fetchall()
        if not rows:
            return 0, []
        return int(_value(rows[0], "n")), [str(_value(r, "k")) for r in rows]

    live_only, live_keys = side(LIVE_COPY, SHADOW_SCHEMA)
    rebuilt_only, rebuilt_keys = side(SHADOW_SCHEMA, LIVE_COPY)
    if not live_only and not rebuilt_only:
        return None
    return TableDiff(table, live_only, rebuilt_only, tuple(live_keys + rebuilt_keys))


def _value(row: Any, name: str) -> Any:
    return row[name] if isinstance(row, dict) else row[["n", "k"].index(name)]
