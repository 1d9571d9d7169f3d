"""One advisory lock serialises every schema change siyu makes, across processes.

Every process creates or migrates the tables it needs when it starts (the event store,
the read models, the worker's outboxes), and several processes may start at the same
moment on a fresh database. PostgreSQL's DDL is not safe to run concurrently:
``CREATE TABLE IF NOT EXISTS`` run twice at once fails on a duplicate
``pg_type_typname_nsp_index`` key, ``CREATE OR REPLACE FUNCTION`` on "tuple concurrently
updated", and two transactions that each ran DDL before waiting on an advisory lock can
deadlock. So all of them queue on **one** lock, taken **before any DDL**:

- a transaction that runs DDL calls :func:`serialise_ddl` as its first statement (the
  lock is released at commit or rollback; taken again later in the same transaction it is
  granted at once);
- DDL a library runs in transactions of its own (the event store's ``CREATE_TABLE``) runs
  inside :func:`held`, which keeps the lock as a session lock on a connection of its own.

A process must not wait for the lock on one connection while holding it on another:
the composition roots hold it only around start-up work that runs in one thread.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import Connection, Cursor

#: The advisory lock key of schema changes (other siyu locks are 7368001 and up).
SCHEMA_LOCK = 7368000


def serialise_ddl(curs: Cursor[Any] | Connection[Any]) -> None:
    """Wait for the schema lock until the current transaction ends: the first statement
    of a transaction that creates, alters or drops anything."""
    curs.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))


@contextlib.contextmanager
def held(conninfo: str, *, connect_timeout: int = 30) -> Iterator[None]:
    """Hold the schema lock, on a connection of its own, while the block runs DDL on
    others (closing the connection releases it, even if the process dies)."""
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=connect_timeout) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
        yield


@contextlib.contextmanager
def held_on(conn: Connection[Any]) -> Iterator[None]:
    """:func:`held` on a pooled connection (unlocked before it goes back to the pool)."""
    conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
    if not conn.autocommit:
        conn.commit()
    try:
        yield
    finally:
        with contextlib.suppress(psycopg.Error):
            conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))
            if not conn.autocommit:
                conn.commit()
