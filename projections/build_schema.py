"""One read model's new tables, built in a schema of its own beside the live ones.

The schema ``siyu_bg_<read model>`` is first on the build's search path, the live one
second: the read model's own tables are created there, empty; every live table it does
**not** own (the event log, the write side's tables, other read models) is found in the
live schema, so its folds read what they read live. :mod:`projections.bluegreen` folds
the log into it and moves its tables into the live schema at the switch.
"""

from __future__ import annotations

from collections.abc import Callable, Set
from typing import Any

from eventsourcing.application import Application
from eventsourcing.postgres import PostgresDatastore
from psycopg import Connection, Cursor
from psycopg.sql import SQL, Identifier

from projections import quarantine, schema_lock
from projections.build_tracking import BuildRunner, BuildTracker
from projections.runner import TRACKING_TABLE, View
from projections.shadow import ShadowDatastore

#: Tables no read model owns nor folds: bookkeeping, never borrowed nor moved.
BOOKKEEPING = frozenset({TRACKING_TABLE, "siyu_read_model_version", quarantine.TABLE})
#: How long one attempt waits for a live table before letting go of all it holds and
#: trying again: well under ``deadlock_timeout`` (1 s), so that a reader waiting behind
#: the switch is never the one a deadlock cancels.
LOCK_ATTEMPT = "100ms"
LIVE = "public"
#: Secondary indexes no fold reads through (they serve the API and BI): a build drops
#: them from its empty tables and creates them once they are filled — a sort per index,
#: instead of an entry at a random place of each per row written (``segment_ledger``'s
#: three made its ``COPY`` the costliest statement of a rebuild; the profile's GIN
#: indexes take an entry per update of a row). Found by ``pg_stat_user_indexes.idx_scan``
#: after a rebuild (0 for these; the profile's segment checks by customer, its ledger of
#: KPIs by customer and staff, and the funnels by root are read while folding, and keep
#: theirs) and by reading the folds' SQL: a product segment defined while the profile
#: builds scans the profile table without ``customer_profile_skus_idx`` (once per
#: definition), ticks find due checks through ``segment_check_due_idx`` (kept).
#: Unique indexes and constraints always stay. docs/benchmarks.md ``rebuild_10m``.
INDEXED_WHEN_FILLED = frozenset({
    "segment_ledger_customer_idx", "segment_ledger_segment_at_idx",
    "segment_ledger_segment_occurred_idx",
    "customer_profile_position_idx", "customer_profile_tags_idx",
    "customer_profile_skus_idx", "customer_profile_staff_idx",
    "customer_journey_customer_idx", "customer_journey_order_idx",
    "customer_journey_time_idx",
    "content_engagement_ref_idx", "content_engagement_customer_idx",
    "content_conversion_order_idx", "content_conversion_time_idx",
    "private_domain_link_day_idx",
})
#: Memory of a build's sorts: ``SET LOGGED`` rebuilds every index of a table, and the
#: indexes made once filled sort whole tables (the server's default is 64 MB).
BUILD_MAINTENANCE_WORK_MEM = "256MB"


def schema_of(name: str) -> str:
    return f"siyu_bg_{name}"[:63]


class _BuildDatastore(ShadowDatastore):
    """Sees the build's schema first, then the live one; commits without waiting for
    the WAL flush (a build lost in a crash is built again from the log)."""

    def after_connect_func(self) -> Callable[[Connection[Any]], None]:
        base = super().after_connect_func()
        path = SQL("SET search_path TO {}, public").format(Identifier(self.schema))

        def after_connect(conn: Connection[Any]) -> None:
            base(conn)
            conn.execute(path)
            conn.execute("SET synchronous_commit = off")

        return after_connect


def shadow_datastore(live: PostgresDatastore, schema: str) -> ShadowDatastore:
    """A datastore on the live database that sees ``schema`` first, then the live one.

    One connection kept, two at most: a process builds many read models from one pass
    and folds them one after the other, so a build holding two from the start made a
    full ``siyu rebuild`` hold ~50 connections and run out of them on a busy server."""
    kwargs = live.pool.kwargs
    info: dict[str, Any] = dict(kwargs) if isinstance(kwargs, dict) else {}
    return _BuildDatastore(
        dbname=str(info.get("dbname") or "postgres"), host=str(info.get("host") or "127.0.0.1"),
        port=str(info.get("port") or "5432"), user=str(info.get("user") or "postgres"),
        password=str(info.get("password") or ""), schema=schema, pool_size=1, max_overflow=1)


def base_tables(conn: Connection[Any], schema: str) -> set[str]:
    rows = conn.execute("SELECT table_name AS t FROM information_schema.tables "
                        "WHERE table_schema = %s AND table_type = 'BASE TABLE'",
                        (schema,)).fetchall()
    return {r["t"] if isinstance(r, dict) else r[0] for r in rows}


def owned_tables(conn: Connection[Any], view: View) -> set[str]:
    """The live tables ``view`` owns: those its ``drop`` removes (tried, rolled back)."""
    with conn.transaction(force_rollback=True), conn.cursor() as curs:
        curs.execute(f"SET LOCAL lock_timeout = '{LOCK_ATTEMPT}'")
        before = base_tables(conn, LIVE)
        view.drop(curs)
        return before - base_tables(conn, LIVE)


def drop_secondary_indexes(conn: Connection[Any], schema: str, names: Set[str]) -> list[str]:
    """Drop the indexes named ``names`` in ``schema`` that neither enforce uniqueness nor
    back a constraint; returns the statements that create them again, as they were."""
    rows = conn.execute(
        "SELECT ic.relname AS name, pg_get_indexdef(i.indexrelid) AS definition "
        "FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid "
        "JOIN pg_namespace n ON n.oid = ic.relnamespace "
        "WHERE n.nspname = %s AND ic.relname = ANY(%s) AND NOT i.indisunique "
        "AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid) "
        "ORDER BY ic.relname", (schema, sorted(names))).fetchall()
    statements = []
    for row in rows:
        name, definition = (row["name"], row["definition"]) if isinstance(row, dict) else row
        conn.execute(SQL("DROP INDEX {}.{}").format(Identifier(schema), Identifier(name)))
        statements.append(str(definition))
    return statements


class BuildSchema:
    """A read model's new version, folded into ``siyu_bg_<name>`` then moved in."""

    def __init__(self, app: Application[Any], view: View, live: PostgresDatastore,
                 page_size: int) -> None:
        self.app, self.view, self.live, self.page_size = app, view, live, page_size
        self.schema = schema_of(view.name)
        self.shadow = shadow_datastore(live, self.schema)
        self.owned: set[str] = set()
        self.deferred: list[str] = []  # CREATE INDEX statements run once the fold is done

    def close(self) -> None:
        self.shadow.close()

    def prepare(self, conn: Connection[Any]) -> BuildRunner:
        """The schema with the read model's own tables, empty (created by its runner);
        ``owned`` the live tables they replace. ``conn``: autocommit, live schema."""
        self.owned = owned_tables(conn, self.view)
        live = base_tables(conn, LIVE)
        schema = Identifier(self.schema)
        with conn.transaction():
            schema_lock.serialise_ddl(conn)
            conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(schema))
            conn.execute(SQL("CREATE SCHEMA {}").format(schema))
            # The version recorded already: the runner must not drop (the drop of a
            # table not yet there would reach the live one, later on the path).
            conn.execute(SQL("CREATE TABLE {}.siyu_read_model_version "
                             "(name text PRIMARY KEY, version integer NOT NULL)").format(schema))
            conn.execute(SQL("INSERT INTO {}.siyu_read_model_version VALUES (%s, %s)")
                         .format(schema), (self.view.name, self.view.version))
        runner = BuildRunner(self.app, self.view, BuildTracker(self.shadow),
                             page_size=self.page_size)
        with conn.transaction():
            schema_lock.serialise_ddl(conn)
            # Tables its create() makes for others: read from the live schema instead.
            for table in sorted((base_tables(conn, self.schema) & live) - self.owned
                                - BOOKKEEPING):
                conn.execute(SQL("DROP TABLE {}.{} CASCADE").format(schema, Identifier(table)))
            # Views and functions are created again in the live schema at the switch;
            # none here may hold on to a live table.
            views = conn.execute("SELECT table_name AS n FROM information_schema.views "
                                 "WHERE table_schema = %s", (self.schema,)).fetchall()
            for row in views:
                conn.execute(SQL("DROP VIEW IF EXISTS {}.{} CASCADE").format(
                    schema, Identifier(row["n"] if isinstance(row, dict) else row[0])))
            # The bulk fold writes no WAL: a crash empties the schema, tracking included,
            # and the build starts again (projections.build_tracking). Logged again before
            # the switch (finish()).
            for table in sorted(base_tables(conn, self.schema)):
                conn.execute(SQL("ALTER TABLE {}.{} SET UNLOGGED").format(
                    schema, Identifier(table)))
            self.deferred = drop_secondary_indexes(conn, self.schema, INDEXED_WHEN_FILLED)
        return runner

    def finish(self, conn: Connection[Any]) -> None:
        """After the bulk fold, before the switch: the new tables logged (crash-safe once
        live) and analyzed — a table fresh from a bulk fold has no statistics until
        autovacuum comes by, and the planner guesses (a p99 of 11.7 s against 411 ms once
        analyzed). Statistics move with the tables at the switch."""
        schema = Identifier(self.schema)
        # The tracking last: once it is logged, every table is (a crash meanwhile empties
        # it, and the build's check finds out: projections.build_tracking).
        tables = sorted(base_tables(conn, self.schema), key=lambda t: (t == TRACKING_TABLE, t))
        conn.execute(f"SET maintenance_work_mem = '{BUILD_MAINTENANCE_WORK_MEM}'")
        try:
            for table in tables:
                conn.execute(SQL("ALTER TABLE {}.{} SET LOGGED").format(schema,
                                                                       Identifier(table)))
            # Once logged: SET LOGGED rewrites a table and rebuilds its indexes.
            for statement in self.deferred:
                conn.execute(statement)
        finally:
            conn.execute("RESET maintenance_work_mem")
        self.analyze(conn)

    def analyze(self, conn: Connection[Any] | None = None) -> None:
        """Statistics for the build's tables: also while they fill, each time they have
        doubled, or the planner of the fold's own lookups guesses from none."""
        if conn is None:
            with self.shadow.get_connection() as own:
                own.autocommit = True
                self.analyze(own)
            return
        for table in sorted(base_tables(conn, self.schema) - BOOKKEEPING):
            conn.execute(SQL("ANALYZE {}.{}").format(Identifier(self.schema),
                                                     Identifier(table)))

    def move_in(self, curs: Cursor[Any]) -> None:
        """Inside the switch's transaction, the live tables it replaces already dropped:
        the new tables into the live schema, the quarantine carried over, the version."""
        schema = Identifier(self.schema)
        for table in sorted(base_tables(curs.connection, self.schema) - BOOKKEEPING):
            # A table two read models of one switch both build: the later one's stays.
            curs.execute(SQL("DROP TABLE IF EXISTS {} CASCADE").format(
                Identifier(LIVE, table)))
            curs.execute(SQL("ALTER TABLE {}.{} SET SCHEMA {}").format(
                schema, Identifier(table), Identifier(LIVE)))
        curs.execute(SQL("DELETE FROM {} WHERE projection = %s").format(
            Identifier(quarantine.TABLE)), (self.view.name,))
        curs.execute(SQL("INSERT INTO {q} SELECT * FROM {}.{q} WHERE projection = %s")
                     .format(schema, q=Identifier(quarantine.TABLE)), (self.view.name,))
        curs.execute("INSERT INTO siyu_read_model_version VALUES (%s, %s) "
                     "ON CONFLICT (name) DO UPDATE SET version = excluded.version",
                     (self.view.name, self.view.version))

    def drop(self, conn: Connection[Any]) -> None:
        conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(self.schema)))
