"""Creating read models' tables at a process's start, and migrating a read model whose
recorded version is not its code's (its tables dropped, its tracking reset: rebuilt from
the log).

Every read model a process runs is created in **one** transaction, the schema lock taken
once: a process running 25 read models ran 25 transactions, each taking the lock and
creating the shared tables again — half of an API start's and of a runner group's
start-up, and 25 turns of the lock for processes started at once.
"""

from __future__ import annotations

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


class Creatable(Protocol):
    name: str
    version: int

    def create(self, curs: Cursor[DictRow]) -> None: ...

    def drop(self, curs: Cursor[DictRow]) -> None: ...


#: Tries of the transaction when the server broke a deadlock by ending it.
ATTEMPTS = 5


def create_read_models(tracker: Tracker, views: Sequence[Any]) -> None:
    """Create ``views``' tables (``CREATE … IF NOT EXISTS``), first dropping those of a
    view whose recorded version is not its own, in one transaction.

    ``CREATE INDEX IF NOT EXISTS`` locks its table (SHARE) even when the index is there,
    so a running projection's page, writing tables in another order, may deadlock with
    it; the server ends one of the two, and when it is this one it is tried again."""
    if not views:
        return
    for attempt in range(1, ATTEMPTS + 1):
        try:
            _create(tracker, views)
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


def _create(tracker: Tracker, views: Sequence[Any]) -> None:
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
