"""Creating read models' tables at a process's start, and migrating a read model whose
recorded version is not its code's (its tables dropped, its tracking reset: rebuilt from
the log).

Every read model a process runs is created in **one** transaction, the schema lock taken
once: a process running 25 read models ran 25 transactions, each taking the lock and
creating the shared tables again — half of an API start's and of a runner group's
start-up, and 25 turns of the lock for processes started at once.

A live process's read models (``stamped``: a runner group, the API's start) are created
**once per shape**, as the event store is (:mod:`adapters.event_store_schema`): each read
model's statements — its ``create`` run against a cursor that only notes them — have a
fingerprint, recorded with the read model's name (``siyu_read_model_schema``, internal)
in the transaction that ran them. A start whose read models all have their recorded
fingerprint and version runs no DDL and takes no lock: ``CREATE INDEX IF NOT EXISTS``
locks its table even when the index is there, so a start beside running pages could
deadlock with them (a deadlock met is still tried again). A new version, changed
statements, or a read model never created runs them in the transaction, as before. A
``create`` that reads (none does today) is run at every start. Like the event store's, a
start does not look for a table dropped by hand: drop the read model's row of
``siyu_read_model_schema`` too, or run ``siyu rebuild``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from typing import Any, Protocol

import psycopg
from psycopg import Cursor
from psycopg.rows import DictRow

from projections import quarantine, schema_lock
from projections.bi_access import grant_bi_roles
from projections.tracker import Tracker

log = logging.getLogger(__name__)

VERSIONS_DDL = ("CREATE TABLE IF NOT EXISTS siyu_read_model_version "
                "(name text PRIMARY KEY, version integer NOT NULL)")
SHAPES = "siyu_read_model_schema"
SHAPES_DDL = (f"CREATE TABLE IF NOT EXISTS {SHAPES} "
              "(name text PRIMARY KEY, fingerprint text NOT NULL)")


class Creatable(Protocol):
    name: str
    version: int

    def create(self, curs: Cursor[DictRow]) -> None: ...

    def drop(self, curs: Cursor[DictRow]) -> None: ...


#: Tries of the transaction when the server broke a deadlock by ending it.
ATTEMPTS = 5


def create_read_models(tracker: Tracker, views: Sequence[Any], *,
                       stamped: bool = False) -> None:
    """Create ``views``' tables (``CREATE … IF NOT EXISTS``), first dropping those of a
    view whose recorded version is not its own, in one transaction; ``stamped``: only the
    views whose recorded fingerprint or version is not theirs (module docstring).

    ``CREATE INDEX IF NOT EXISTS`` locks its table (SHARE) even when the index is there,
    so a running projection's page, writing tables in another order, may deadlock with
    it; the server ends one of the two, and when it is this one it is tried again."""
    prints = {v.name: fingerprint(v) for v in views} if stamped else {}
    if stamped:
        due = _not_current(tracker, views, prints)
        views = [v for v in views if v.name in due]
    if not views:
        return
    for attempt in range(1, ATTEMPTS + 1):
        try:
            _create(tracker, views, prints)
            return
        except Exception as error:
            if not _deadlock(error) or attempt == ATTEMPTS:
                raise
            log.warning("creating read models met a deadlock; trying again (%d of %d)",
                        attempt + 1, ATTEMPTS)
            time.sleep(0.05 * attempt)


def _deadlock(error: BaseException) -> bool:
    """Whether ``error`` is the server ending a deadlock (the event store's datastore
    raises the library's ``OperationalError`` from psycopg's)."""
    return any(isinstance(e, psycopg.errors.DeadlockDetected)
               for e in (error, error.__cause__))


def _create(tracker: Tracker, views: Sequence[Any], prints: dict[str, str | None]) -> None:
    with tracker.datastore.transaction(commit=True) as curs:
        schema_lock.serialise_ddl(curs)  # before any DDL: processes start together
        quarantine.create(curs)
        curs.execute(VERSIONS_DDL)
        curs.execute("SELECT name, version FROM siyu_read_model_version WHERE name = ANY(%s)",
                     ([v.name for v in views],))
        recorded = {row["name"]: row["version"] for row in curs.fetchall()}
        for view in views:
            if recorded.get(view.name) != view.version:
                _migrate(curs, tracker, view, recorded.get(view.name))
            view.create(curs)
        grant_bi_roles(curs)  # tables created again lost their grants
        stamped = [v.name for v in views if prints.get(v.name)]
        if stamped:
            curs.execute(SHAPES_DDL)
            curs.execute(f"INSERT INTO {SHAPES} SELECT * FROM unnest(%s::text[], %s::text[]) "
                         "ON CONFLICT (name) DO UPDATE SET fingerprint = excluded.fingerprint",
                         (stamped, [prints[n] for n in stamped]))


def _not_current(tracker: Tracker, views: Sequence[Any], prints: dict[str, str | None]
                 ) -> set[str]:
    """The names of ``views`` whose recorded fingerprint or version is not theirs (one
    read, no lock)."""
    names = [v.name for v in views]
    with tracker.datastore.transaction(commit=False) as curs:
        curs.execute("SELECT to_regclass(%s) IS NOT NULL AND to_regclass(%s) IS NOT NULL "
                     "AS present", (SHAPES, "siyu_read_model_version"))
        row = curs.fetchone()
        if row is None or not row["present"]:
            return set(names)
        curs.execute(f"SELECT s.name, s.fingerprint, v.version FROM {SHAPES} s "
                     "JOIN siyu_read_model_version v USING (name) WHERE s.name = ANY(%s)",
                     (names,))
        recorded = {r["name"]: (r["fingerprint"], r["version"]) for r in curs.fetchall()}
    return {v.name for v in views
            if prints[v.name] is None or recorded.get(v.name) != (prints[v.name], v.version)}


class _Reads(Exception):
    """A ``create`` read from the database: its statements depend on what it finds."""


class _Noting:
    """A cursor that notes the statements given to its ``execute`` and runs none."""

    def __init__(self) -> None:
        self.noted: list[str] = []

    def execute(self, query: Any, params: Any = None, **_: Any) -> _Noting:
        text = query if isinstance(query, str) else query.as_string(None)
        self.noted.append(f"{text}\0{params!r}")
        return self

    def __getattr__(self, name: str) -> Any:
        raise _Reads(name)


def fingerprint(view: Any) -> str | None:
    """A digest of the statements ``view.create`` runs (with its name and version); None
    when ``create`` reads the database or needs a real cursor."""
    noting = _Noting()
    try:
        view.create(noting)
    except _Reads:
        return None
    digest = hashlib.sha256(f"{view.name}\0{view.version}\0".encode())
    for statement in noting.noted:
        digest.update(statement.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _migrate(curs: Cursor[DictRow], tracker: Tracker, view: Creatable,
             recorded: int | None) -> None:
    """Drop the view's tables and tracking: its recorded version is not ours."""
    log.info("read model %s: version %s -> %s, rebuilding from the log", view.name,
             recorded, view.version)
    view.drop(curs)
    tracker.reset(curs, view.name)
    # The rebuild meets (and quarantines) again whatever the new version cannot apply.
    curs.execute(f"DELETE FROM {quarantine.TABLE} WHERE projection = %s", (view.name,))
    curs.execute("INSERT INTO siyu_read_model_version VALUES (%s, %s) ON CONFLICT (name) "
                 "DO UPDATE SET version = excluded.version", (view.name, view.version))
