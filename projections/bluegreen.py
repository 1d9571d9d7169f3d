"""Blue/green read-model builds: a new version is folded into a schema of its own while
the live tables keep serving, then switched in with one transaction.

A read model's version bump used to drop its tables and rebuild them in place: every
query meanwhile saw an empty or missing table, for hours at a brand's scale. Now
(:func:`build_and_switch`):

1. the schema ``siyu_bg_<read model>`` is created; every live table the read model does
   **not** own (the event log, the write side's tables, other read models) is a view of
   the live one there, so the folds read what they read live; the read model's own tables
   are created there, empty;
2. the log is folded into them, in pages, up to the live read model's position (which
   moves on meanwhile), with progress reports (events done / total, rate, ETA);
3. one transaction takes the live tables (saying what it waits for, never silently), folds
   the last events up to the live position, drops the live tables, moves the new ones in,
   carries the quarantine over, records the version, creates the views and functions of
   every read model again (a ``DROP … CASCADE`` takes dependent views with it) and grants
   the BI roles — who read the old tables up to that commit and the new ones after it.

The tracking position does not move: the new tables hold exactly what the old ones did
(the log up to that position), so the live runner goes on from there. A version bump
also waits for the read model's runner lock: the old code must stop before the new
tables are written by anyone else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from eventsourcing.application import Application
from eventsourcing.postgres import PostgresDatastore
from psycopg import Connection
from psycopg.sql import SQL, Identifier

from projections import quarantine, schema_lock
from projections.bi_access import grant_bi_roles
from projections.runner import TRACKING_TABLE, Tracker, View, _lock_key
from projections.shadow import ShadowDatastore, _CappedRunner

log = logging.getLogger(__name__)

#: Tables no read model owns nor folds: bookkeeping, never borrowed nor moved.
BOOKKEEPING = frozenset({TRACKING_TABLE, "siyu_read_model_version", quarantine.TABLE})
#: Seconds between progress reports, and between "still waiting" messages.
REPORT_EVERY = 5.0
#: How long one attempt waits for a live table before letting go of all it holds and
#: trying again: well under ``deadlock_timeout`` (1 s), so that a reader waiting behind
#: the switch is never the one a deadlock cancels.
LOCK_ATTEMPT = "100ms"


@dataclass(frozen=True, slots=True)
class Progress:
    view: str
    done: int  # events folded so far
    total: int  # events to fold (the live position when measured)
    rate: float  # events/s
    eta: float | None  # seconds

    def line(self) -> str:
        eta = "?" if self.eta is None else f"{self.eta:.0f} s"
        return (f"{self.view}: {self.done:,}/{self.total:,} events, {self.rate:,.0f}/s, "
                f"ETA {eta}")


Report = Callable[[Progress], None]


def schema_of(name: str) -> str:
    return f"siyu_bg_{name}"[:63]


class _BuildDatastore(ShadowDatastore):
    """Sees the build's schema first, then the live one."""

    def after_connect_func(self) -> Callable[[Connection[Any]], None]:
        base = super().after_connect_func()
        path = SQL("SET search_path TO {}, public").format(Identifier(self.schema))

        def after_connect(conn: Connection[Any]) -> None:
            base(conn)
            conn.execute(path)

        return after_connect


def shadow_datastore(live: PostgresDatastore, schema: str) -> ShadowDatastore:
    """A datastore on the live database that sees ``schema`` first, then the live one."""
    kwargs = live.pool.kwargs
    info: dict[str, Any] = dict(kwargs) if isinstance(kwargs, dict) else {}
    return _BuildDatastore(
        dbname=str(info.get("dbname") or "postgres"), host=str(info.get("host") or "127.0.0.1"),
        port=str(info.get("port") or "5432"), user=str(info.get("user") or "postgres"),
        password=str(info.get("password") or ""), schema=schema, pool_size=2, max_overflow=2)


def _base_tables(conn: Connection[Any], schema: str) -> set[str]:
    rows = conn.execute("SELECT table_name AS t FROM information_schema.tables "
                        "WHERE table_schema = %s AND table_type = 'BASE TABLE'",
                        (schema,)).fetchall()
    return {r["t"] if isinstance(r, dict) else r[0] for r in rows}


def owned_tables(conn: Connection[Any], view: View) -> set[str]:
    """The live tables ``view`` owns: those its ``drop`` removes (tried, rolled back)."""
    with conn.transaction(force_rollback=True), conn.cursor() as curs:
        curs.execute(f"SET LOCAL lock_timeout = '{LOCK_ATTEMPT}'")
        before = _base_tables(conn, "public")
        view.drop(curs)
        return before - _base_tables(conn, "public")


def live_position(conn: Connection[Any], name: str) -> int:
    row = conn.execute(SQL("SELECT coalesce(max(notification_id), 0) AS n FROM {} "
                           "WHERE application_name = %s").format(Identifier(TRACKING_TABLE)),
                       (name,)).fetchone()
    return int(row["n"] if isinstance(row, dict) else row[0]) if row else 0


class Build:
    """One read model folded into its own schema, then switched in."""

    def __init__(self, app: Application[Any], view: View, live: PostgresDatastore,
                 everything: Sequence[View], report: Report | None = None) -> None:
        self.app, self.view, self.live = app, view, live
        self.everything = everything  # every read model: their views are created again
        self.report = report or (lambda p: log.info("rebuild %s", p.line()))
        self.schema = schema_of(view.name)
        self.shadow = shadow_datastore(live, self.schema)
        self.started = time.monotonic()
        self.reported = 0.0
        self.owned: set[str] = set()

    def close(self) -> None:
        self.shadow.close()

    def prepare(self) -> _CappedRunner:
        """The schema, first on the search path before the live one: the read model's
        own tables there (created by its runner, empty); everything else it reads (the
        log, the write side, other read models) found in the live schema."""
        with self.live.get_connection() as conn:
            conn.autocommit = True
            owned = _retrying(lambda: owned_tables(conn, self.view), self.view.name,
                              "to list its tables")
            self.owned = owned
            live = _base_tables(conn, "public")
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
        runner = _CappedRunner(self.app, self.view, Tracker(self.shadow), page_size=5000)
        with self.live.get_connection() as conn:
            conn.autocommit = True
            with conn.transaction():
                schema_lock.serialise_ddl(conn)
                # Tables its create() makes for others: read from the live schema instead.
                for table in sorted((_base_tables(conn, self.schema) & live) - owned
                                    - BOOKKEEPING):
                    conn.execute(SQL("DROP TABLE {}.{} CASCADE").format(
                        schema, Identifier(table)))
                # Views and functions are created again in the live schema at the switch;
                # none here may hold on to a live table.
                views = conn.execute("SELECT table_name AS n FROM information_schema.views "
                                     "WHERE table_schema = %s", (self.schema,)).fetchall()
                for row in views:
                    conn.execute(SQL("DROP VIEW IF EXISTS {}.{} CASCADE").format(
                        schema, Identifier(row["n"])))
        return runner

    def fold(self, runner: _CappedRunner, cap: int) -> None:
        runner.cap = cap
        while runner.run_once():
            self._progress(runner, cap)

    def _progress(self, runner: _CappedRunner, total: int, *, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self.reported < REPORT_EVERY:
            return
        self.reported = now
        done = runner.tracker.position(self.view.name)
        rate = done / max(now - self.started, 1e-6)
        eta = (total - done) / rate if rate > 0 else None
        self.report(Progress(self.view.name, done, total, rate, eta))

    def run(self, *, version_bump: bool) -> None:
        try:
            self._run(version_bump=version_bump)
        except BaseException:
            with self.live.get_connection() as conn:
                conn.autocommit = True
                conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    Identifier(self.schema)))
            raise

    def _run(self, *, version_bump: bool) -> None:
        runner = self.prepare()
        with self.live.get_connection() as conn:
            conn.autocommit = True
            # Fold up to the live position, again, until little is left to do under lock.
            while True:
                cap = live_position(conn, self.view.name)
                self.fold(runner, cap)
                if live_position(conn, self.view.name) - cap < runner.page_size:
                    break
            if version_bump:
                _wait_for_runner_lock(conn, self.view.name)
            try:
                _retrying(lambda: self._switch(conn, runner), self.view.name,
                          "for its live tables (in use by a running projection)")
            finally:
                if version_bump:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (_lock_key(self.view.name),))
            self._progress(runner, runner.cap, final=True)
            with conn.transaction():
                schema_lock.serialise_ddl(conn)
                conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    Identifier(self.schema)))

    def _switch(self, conn: Connection[Any], runner: _CappedRunner) -> None:
        schema = Identifier(self.schema)
        with conn.transaction(), conn.cursor() as curs:
            schema_lock.serialise_ddl(curs)
            curs.execute(f"SET LOCAL lock_timeout = '{LOCK_ATTEMPT}'")
            live = sorted(self.owned & _base_tables(conn, "public"))
            if live:
                curs.execute(SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
                    SQL(", ").join(Identifier(t) for t in live)))
            self.fold(runner, live_position(conn, self.view.name))  # the last events
            for table in live:
                curs.execute(SQL("DROP TABLE IF EXISTS {} CASCADE").format(Identifier(table)))
            built = _base_tables(conn, self.schema) - BOOKKEEPING
            for table in sorted(built):
                curs.execute(SQL("ALTER TABLE {}.{} SET SCHEMA public").format(
                    schema, Identifier(table)))
            curs.execute(SQL("DELETE FROM {} WHERE projection = %s").format(
                Identifier(quarantine.TABLE)), (self.view.name,))
            curs.execute(SQL("INSERT INTO {q} SELECT * FROM {}.{q} WHERE projection = %s")
                         .format(schema, q=Identifier(quarantine.TABLE)), (self.view.name,))
            curs.execute("INSERT INTO siyu_read_model_version VALUES (%s, %s) "
                         "ON CONFLICT (name) DO UPDATE SET version = excluded.version",
                         (self.view.name, self.view.version))
            for view in self.everything:  # views and functions, ours and dependents
                view.create(curs)
            grant_bi_roles(curs)


def _retrying(attempt: Callable[[], Any], name: str, what: str) -> Any:
    """``attempt`` again while it cannot get its locks, saying what it waits for."""
    said = None
    while True:
        try:
            return attempt()
        except (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected):
            if said is None or time.monotonic() - said >= REPORT_EVERY:
                log.warning("rebuild of %s waits %s", name, what)
                said = time.monotonic()
            time.sleep(0.05)


def _wait_for_runner_lock(conn: Connection[Any], name: str) -> None:
    waited = None
    while not conn.execute("SELECT pg_try_advisory_lock(%s) AS locked",
                           (_lock_key(name),)).fetchone()["locked"]:  # type: ignore[index]
        if waited is None or time.monotonic() - waited >= REPORT_EVERY:
            log.warning("new version of %s is built; waits for the running projection "
                        "process of the old version to stop (it holds the read model's lock)",
                        name)
            waited = time.monotonic()
        time.sleep(0.5)


def build_and_switch(app: Application[Any], view: View, live: PostgresDatastore,
                     everything: Sequence[View], *, version_bump: bool = False,
                     report: Report | None = None) -> None:
    """Fold ``view`` into its own schema from the log while the live tables serve, then
    switch it in (module docstring)."""
    build = Build(app, view, live, everything, report)
    try:
        build.run(version_bump=version_bump)
    finally:
        build.close()


def recorded_version(conn: Connection[Any], name: str) -> int | None:
    conn.execute("CREATE TABLE IF NOT EXISTS siyu_read_model_version "
                 "(name text PRIMARY KEY, version integer NOT NULL)")
    row = conn.execute("SELECT version FROM siyu_read_model_version WHERE name = %s",
                       (name,)).fetchone()
    return None if row is None else int(row["version"] if isinstance(row, dict) else row[0])


def upgrade(app: Application[Any], views: Sequence[View], live: PostgresDatastore,
            report: Report | None = None) -> list[str]:
    """Build every read model whose recorded version is not its code's blue/green (one
    process at a time per read model: the others wait, say so, and find it done); a read
    model never built before is left to its runner. Returns the read models switched."""
    switched = []
    with live.get_connection() as conn:
        conn.autocommit = True
        with schema_lock.held_on(conn):
            pending = [v for v in views if recorded_version(conn, v.name) not in (None, v.version)]
        for view in pending:
            key = _lock_key(f"bluegreen:{view.name}")
            waited = None
            while not conn.execute("SELECT pg_try_advisory_lock(%s) AS locked",
                                   (key,)).fetchone()["locked"]:  # type: ignore[index]
                if waited is None or time.monotonic() - waited >= REPORT_EVERY:
                    log.warning("%s: another process builds its new version; waiting", view.name)
                    waited = time.monotonic()
                time.sleep(0.5)
            try:
                if recorded_version(conn, view.name) in (None, view.version):
                    continue  # switched meanwhile by the process we waited for
                log.info("read model %s: new version %s, building it beside the live one",
                         view.name, view.version)
                build_and_switch(app, view, live, views, version_bump=True, report=report)
                switched.append(view.name)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
    return switched
