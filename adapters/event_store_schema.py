"""The event store's tables, created once per shape: a start on a current store runs no DDL.

The library creates its tables as a recorder is built (``CREATE_TABLE``): every statement is
``… IF NOT EXISTS``, but ``CREATE INDEX IF NOT EXISTS`` still takes its table's SHARE lock
before it finds the index there. A process starting beside running writers then deadlocked
with them: it held the events table's lock and waited for a side table's, while a writer
held the side table (its rows are written first) and waited for the events table's
EXCLUSIVE lock (seen in the six-process topology test: a restarted projections process
exited with ``DeadlockDetected``).

So the statements' fingerprint is recorded with them, and a start whose statements have the
recorded fingerprint runs none. A new shape (an upgrade adding a side table) runs them again,
and a deadlock met then is retried after a pause: the server ends one of the two
transactions, and the starting one goes again once the writer has committed.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from eventsourcing.persistence import OperationalError
from eventsourcing.postgres import PostgresDatastore
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composable, Identifier

log = logging.getLogger(__name__)

TABLE = "siyu_event_store_schema"
ATTEMPTS = 8


def fingerprint(statements: Sequence[Composable], conn: psycopg.Connection[Any]) -> str:
    """What the statements create, as one digest (their text, in order)."""
    digest = hashlib.sha256()
    for statement in statements:
        digest.update(statement.as_string(conn).encode())
        digest.update(b"\0")
    return digest.hexdigest()


def is_current(datastore: PostgresDatastore, statements: Sequence[Composable],
               events_table: str) -> bool:
    """Whether the store holds the tables of exactly these statements (no lock taken)."""
    schema = datastore.schema or "public"
    with datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
        found = curs.execute(
            "SELECT to_regclass(%s) IS NOT NULL, to_regclass(%s) IS NOT NULL",
            (f"{schema}.{TABLE}", f"{schema}.{events_table}")).fetchone()
        if not (found and found[0] and found[1]):
            conn.rollback()
            return False
        row = curs.execute(SQL("SELECT 1 FROM {}.{} WHERE fingerprint = %s").format(
            Identifier(schema), Identifier(TABLE)), (fingerprint(statements, conn),)).fetchone()
        conn.rollback()
        return row is not None


def record(datastore: PostgresDatastore, statements: Sequence[Composable]) -> None:
    """Note that the store now holds the tables of these statements."""
    schema = Identifier(datastore.schema or "public")
    with datastore.transaction(commit=True) as curs:
        curs.execute(SQL("CREATE TABLE IF NOT EXISTS {}.{} (fingerprint text PRIMARY KEY, "
                         "recorded_at timestamptz NOT NULL DEFAULT now())").format(
            schema, Identifier(TABLE)))
        curs.execute(SQL("INSERT INTO {}.{} (fingerprint) VALUES (%s) ON CONFLICT DO NOTHING"
                         ).format(schema, Identifier(TABLE)),
                     (fingerprint(statements, curs.connection),))


def deadlocked(error: BaseException) -> bool:
    return isinstance(error.__cause__, psycopg.errors.DeadlockDetected) or isinstance(
        error, psycopg.errors.DeadlockDetected)


def create_once(datastore: PostgresDatastore, statements: Sequence[Composable],
                events_table: str, create: Callable[[], None]) -> bool:
    """Run ``create`` (the library's DDL) unless the store is current; True if it ran."""
    if is_current(datastore, statements, events_table):
        datastore.register_type_adapters()
        return False
    for attempt in range(1, ATTEMPTS + 1):
        try:
            create()
            break
        except (OperationalError, psycopg.errors.DeadlockDetected) as error:
            if not deadlocked(error) or attempt == ATTEMPTS:
                raise
            pause = min(5.0, 0.2 * 2 ** attempt) * random.uniform(0.5, 1.0)  # noqa: S311
            log.warning("event store setup met a running writer (deadlock); again in %.1f s",
                        pause)
            time.sleep(pause)
    record(datastore, statements)
    return True
