"""Blue/green read-model builds: new versions are folded into schemas of their own while
the live tables keep serving, then switched in with one transaction.

A read model's version bump used to drop its tables and rebuild them in place: every
query meanwhile saw an empty or missing table, for hours at a brand's scale. Now
(:class:`BuildSet`, for one read model or many):

1. each read model gets the schema ``siyu_bg_<read model>`` with its own tables, empty
   (:mod:`projections.build_schema`); what it reads but does not own is the live one;
2. the log is read **once** for all of them, in pages, each page decoded once and handed
   to every read model being built (as :mod:`projections.shared_pages` does live), up to
   each live read model's position (which moves on meanwhile), with progress reports
   (events done / total, rate, ETA), into unlogged tables; the new tables are then logged
   and analyzed;
3. one transaction takes the live tables (saying what it waits for, never silently), folds
   the last events up to the live positions, drops the live tables, moves the new ones in,
   carries the quarantine over, records the versions, creates the views and functions of
   every read model again (a ``DROP … CASCADE`` takes dependent views with it) and grants
   the BI roles — who read the old tables up to that commit and the new ones after it.

The tracking positions do not move: the new tables hold exactly what the old ones did
(the log up to that position), so the live runners go on from there. A version bump
also waits for the read models' runner locks: the old code must stop before the new
tables are written by anyone else. ``siyu rebuild`` and ``siyu projections`` run one
build set per process of the default split, so both cores fold.
"""

from __future__ import annotations

import bisect
import functools
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

from projections import schema_lock
from projections.bi_access import grant_bi_roles
from projections.build_schema import LIVE, LOCK_ATTEMPT, BuildSchema, base_tables
from projections.build_tracking import BuildLost, BuildRunner
from projections.reads import TRANSIENT
from projections.runner import BACKOFF_FIRST, BACKOFF_MAX, TRACKING_TABLE, Entry, View, _lock_key
from projections.shared_pages import decode_page, union_of_topics
from projections.topic_pages import select

log = logging.getLogger(__name__)

#: Seconds between progress reports, and between "still waiting" messages.
REPORT_EVERY = 5.0
#: Notifications per page of the pass over the log: a build has the log to itself, and
#: what a fold pays per page (its statements, the profile's load of a page's customers,
#: a transaction per read model) is paid a quarter as often as with 5,000 — the whole
#: rebuild's CPU (processes and server) 118.8 s → 98.9 s on the 117k-notification log,
#: below a live catch-up's 101.8 s (docs/benchmarks.md ``rebuild_10m``).
PAGE_SIZE = 20_000
#: Events per read model at most left to fold under the switch's locks (readers wait).
LEFT_FOR_THE_SWITCH = 500
#: How long the switch's connection may sit idle in its transaction while the last
#: events fold on another (the event store's connections allow 5 s).
SWITCH_IDLE = "60s"


@dataclass(frozen=True, slots=True)
class Progress:
    view: str  # the read model, or the read models, being built
    done: int  # events folded so far
    total: int  # events to fold (the live position when measured)
    rate: float  # events/s
    eta: float | None  # seconds

    def line(self) -> str:
        eta = "?" if self.eta is None else f"{self.eta:.0f} s"
        return (f"{self.view}: {self.done:,}/{self.total:,} events, {self.rate:,.0f}/s, "
                f"ETA {eta}")


Report = Callable[[Progress], None]


def live_position(conn: Connection[Any], name: str) -> int:
    row = conn.execute(SQL("SELECT coalesce(max(notification_id), 0) AS n FROM {} "
                           "WHERE application_name = %s").format(Identifier(TRACKING_TABLE)),
                       (name,)).fetchone()
    return int(row["n"] if isinstance(row, dict) else row[0]) if row else 0


def label_of(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{names[0]} and {len(names) - 1} more"


class BuildSet:
    """Read models folded from one pass over the log, then switched in together."""

    def __init__(self, app: Application[Any], views: Sequence[View], live: PostgresDatastore,
                 everything: Sequence[View], report: Report | None = None,
                 page_size: int = PAGE_SIZE) -> None:
        self.app, self.live, self.page_size = app, live, page_size
        self.everything = everything  # every read model: their views are created again
        self.report = report or (lambda p: log.info("rebuild %s", p.line()))
        self.builds = [BuildSchema(app, view, live, page_size) for view in views]
        self.names = [b.view.name for b in self.builds]
        self.label = label_of(self.names)
        self.runners: dict[str, BuildRunner] = {}
        self.started = time.monotonic()
        self.reported = 0.0
        self.analyzing = 0.0  # seconds of the fold spent analyzing the build's tables

    def run(self, *, version_bump: bool) -> None:
        """Build and switch; built again from the first event when the database was lost
        meanwhile (a crash empties the unlogged build tables: projections.build_tracking),
        once it is back."""
        delay = BACKOFF_FIRST
        try:
            while True:
                try:
                    with self.live.get_connection() as conn:
                        conn.autocommit = True
                        self._run(conn, version_bump=version_bump)
                    return
                except BuildLost as lost:
                    log.warning("rebuild of %s: %s; building again from the first event",
                                self.label, lost)
                except TRANSIENT as error:
                    log.warning("rebuild of %s lost the database (%s); building again from "
                                "the first event once it is back, in %.1f s", self.label,
                                type(error).__name__, delay)
                    time.sleep(delay)
                    delay = min(delay * 2, BACKOFF_MAX)
        finally:  # switched, failed or interrupted: the build schemas go
            try:
                with self.live.get_connection() as conn:
                    conn.autocommit = True
                    with conn.transaction():
                        schema_lock.serialise_ddl(conn)
                        for build in self.builds:
                            build.drop(conn)
            finally:
                for build in self.builds:
                    build.close()

    def _run(self, conn: Connection[Any], *, version_bump: bool) -> None:
        phases = _Phases()
        self.analyzing = 0.0
        for build in self.builds:
            self.runners[build.view.name] = _retrying(
                functools.partial(build.prepare, conn), build.view.name, "to list its tables")
        phases.end("build schemas")
        # Fold up to the live positions, again, until little is left to do under lock
        # (or the live read models run away as fast as the build follows).
        behind = None
        while True:
            caps = {name: live_position(conn, name) for name in self.names}
            self.fold(caps)
            gap = max(live_position(conn, n) - caps[n] for n in self.names)
            if gap < LEFT_FOR_THE_SWITCH or (behind is not None and gap >= behind):
                break
            behind = gap
        phases.end(f"fold (analyzing {self.analyzing:.1f} s of it)")
        for build in self.builds:
            build.finish(conn)
        for runner in self.runners.values():  # logged now: what a crash left is kept
            runner.build_tracker.verify([runner.view.name])
        phases.end("logged, indexed, analyzed")
        if version_bump:
            _wait_for_runner_locks(conn, self.names)
        try:
            _retrying(lambda: self._switch(conn), self.label,
                      "for the live tables (in use by a running projection)")
        finally:
            if version_bump:
                for name in self.names:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (_lock_key(name),))
        phases.end("switch")
        done = max((r.cap for r in self.runners.values()), default=0)
        self._progress(done, done, final=True)
        log.info("rebuild %s: %s", self.label, phases.line())

    def fold(self, caps: dict[str, int]) -> None:
        """One pass over the log up to ``caps``: each page fetched and decoded once, every
        read model given the part it has not applied, each in a transaction of its own."""
        positions = {name: r.tracker.position(name) for name, r in self.runners.items()}
        pending = {name for name in self.names if positions[name] < caps[name]}
        topics = union_of_topics(list(self.runners.values()))
        pages = 0
        while pending:
            stop = max(caps[n] for n in pending)
            page = select(self.app.recorder, min(positions[n] for n in pending),
                          self.page_size, stop, ())  # the log's order, whatever its statistics
            decoded = decode_page(self.app, page, topics)
            ids = [n.id for n in page]
            for name in sorted(pending):
                runner = self.runners[name]
                first = bisect.bisect_right(ids, positions[name])
                last = bisect.bisect_right(ids, caps[name])
                reads = runner.topics
                entries: list[Entry] = [
                    (n, e if reads is None or n.topic in reads else None)
                    for n, e in zip(page[first:last], decoded[first:last], strict=True)]
                if entries:
                    runner._commit(entries)
                    positions[name] = entries[-1][0].id
                if len(page) < self.page_size or ids[-1] >= caps[name]:
                    pending.discard(name)  # the log up to its cap is behind it
            pages += 1
            if pages & (pages - 1) == 0:  # after pages 1, 2, 4, 8 …: the tables doubled
                analyzing = time.monotonic()
                for build in self.builds:
                    build.analyze()
                self.analyzing += time.monotonic() - analyzing
            self._progress(min((positions[n] for n in pending), default=stop), stop)

    def _progress(self, done: int, total: int, *, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self.reported < REPORT_EVERY:
            return
        self.reported = now
        rate = done / max(now - self.started, 1e-6)
        eta = (total - done) / rate if rate > 0 else None
        self.report(Progress(self.label, done, total, rate, eta))

    def _switch(self, conn: Connection[Any]) -> None:
        with conn.transaction(), conn.cursor() as curs:
            schema_lock.serialise_ddl(curs)
            curs.execute(f"SET LOCAL lock_timeout = '{LOCK_ATTEMPT}'")
            curs.execute(f"SET LOCAL idle_in_transaction_session_timeout = '{SWITCH_IDLE}'")
            owned = set().union(*(b.owned for b in self.builds))
            live = sorted(owned & base_tables(conn, LIVE))
            if live:
                curs.execute(SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
                    SQL(", ").join(Identifier(t) for t in live)))
            for name, runner in self.runners.items():  # the last events
                runner.cap = live_position(conn, name)
                while runner.run_once():
                    pass
                runner.build_tracker.verify([name])
            for table in live:
                curs.execute(SQL("DROP TABLE IF EXISTS {} CASCADE").format(
                    Identifier(LIVE, table)))
            for build in self.builds:
                build.move_in(curs)
            for view in self.everything:  # views and functions, ours and dependents
                view.create(curs)
            grant_bi_roles(curs)


class _Phases:
    """Seconds each phase of a build took, and this process's CPU seconds in it (the
    server's share is the rest, with waiting for a core), for its last log line."""

    def __init__(self) -> None:
        self.mark, self.cpu_mark = time.monotonic(), time.process_time()
        self.seconds: dict[str, tuple[float, float]] = {}

    def end(self, phase: str) -> None:
        now, cpu = time.monotonic(), time.process_time()
        self.seconds[phase] = (now - self.mark, cpu - self.cpu_mark)
        self.mark, self.cpu_mark = now, cpu

    def line(self) -> str:
        return ", ".join(f"{phase} {seconds:.1f} s (CPU {cpu:.1f} s)"
                         for phase, (seconds, cpu) in self.seconds.items())


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


def _wait_for_runner_locks(conn: Connection[Any], names: Sequence[str]) -> None:
    waited = None
    for name in sorted(names, key=_lock_key):  # one order everywhere: no lock cycles
        while not conn.execute("SELECT pg_try_advisory_lock(%s) AS locked",
                               (_lock_key(name),)).fetchone()["locked"]:  # type: ignore[index]
            if waited is None or time.monotonic() - waited >= REPORT_EVERY:
                log.warning("new version of %s is built; waits for the running projection "
                            "process of the old version to stop (it holds the read model's "
                            "lock)", name)
                waited = time.monotonic()
            time.sleep(0.5)


def build_and_switch(app: Application[Any], views: Sequence[View], live: PostgresDatastore,
                     everything: Sequence[View], *, version_bump: bool = False,
                     report: Report | None = None) -> None:
    """Fold ``views`` into schemas of their own from one pass over the log while the live
    tables serve, then switch them in (module docstring)."""
    BuildSet(app, views, live, everything, report).run(version_bump=version_bump)


def recorded_versions(conn: Connection[Any], names: Sequence[str]) -> dict[str, int]:
    """The recorded version of each of ``names`` that has one (one query; none before the
    versions' table exists)."""
    present = conn.execute("SELECT to_regclass('siyu_read_model_version') IS NOT NULL AS p"
                           ).fetchone()
    if not present or not (present["p"] if isinstance(present, dict) else present[0]):
        return {}
    rows = conn.execute("SELECT name, version FROM siyu_read_model_version "
                        "WHERE name = ANY(%s)", (list(names),)).fetchall()
    return {str(r["name"] if isinstance(r, dict) else r[0]):
            int(r["version"] if isinstance(r, dict) else r[1]) for r in rows}


def pending_versions(conn: Connection[Any], views: Sequence[View]) -> list[View]:
    """The read models whose recorded version is not their code's (never built: not
    pending, their runner creates them)."""
    with schema_lock.held_on(conn):
        recorded = recorded_versions(conn, [v.name for v in views])
        return [v for v in views if recorded.get(v.name) not in (None, v.version)]


def upgrade(app: Application[Any], views: Sequence[View], live: PostgresDatastore,
            report: Report | None = None) -> list[str]:
    """Build every read model whose recorded version is not its code's blue/green, all
    from one pass over the log (one process at a time per read model: another process
    building some of them is waited for, said so, and found done). Returns the read
    models switched."""
    switched: list[str] = []
    with live.get_connection() as conn:
        conn.autocommit = True
        pending = pending_versions(conn, views)
        waited = None
        while pending:
            mine = [v for v in pending if conn.execute(
                "SELECT pg_try_advisory_lock(%s) AS locked",
                (_lock_key(f"bluegreen:{v.name}"),)).fetchone()["locked"]]  # type: ignore[index]
            try:
                todo = pending_versions(conn, mine)  # switched meanwhile by another process?
                if todo:
                    log.info("read models %s: new versions, building them beside the live "
                             "ones", ", ".join(v.name for v in todo))
                    build_and_switch(app, todo, live, views, version_bump=True, report=report)
                    switched.extend(v.name for v in todo)
            finally:
                for view in mine:
                    conn.execute("SELECT pg_advisory_unlock(%s)",
                                 (_lock_key(f"bluegreen:{view.name}"),))
            pending = [v for v in pending if v not in mine]
            if pending:
                if waited is None or time.monotonic() - waited >= REPORT_EVERY:
                    log.warning("%s: another process builds their new versions; waiting",
                                ", ".join(v.name for v in pending))
                    waited = time.monotonic()
                time.sleep(0.5)
    return switched
