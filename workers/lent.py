"""Connections the worker's polling loops borrow instead of opening their own.

The auto-tagger, the channel-code sync and the moment sync each ran a pass on a
connection opened for it: three short connections on top of the pools, which took the
main job past its bound of 25 (``docs/operations.md``, *Connections*) whenever their
passes met a full set of pools. They now borrow one from the worker's outbox pool, in
autocommit (each statement its own transaction: a pass calls WeCom between
statements, and no transaction stays open across a call), and give it back as the pool
lent it — the outbox's own statements rely on transactions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

#: What a loop calls for a connection: ``with connect() as conn: ...``.
Connect = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]


def lender(pool: ConnectionPool[Any]) -> Connect:
    """``connect`` for loops sharing ``pool``: a pooled connection in autocommit."""

    @contextlib.contextmanager
    def connect() -> Iterator[psycopg.Connection[Any]]:
        with pool.connection() as conn:
            conn.autocommit = True
            try:
                yield conn
            finally:
                with contextlib.suppress(psycopg.Error):  # a broken one: the pool drops it
                    conn.autocommit = False

    return connect


def opener(database_url: str) -> Connect:
    """``connect`` that opens a connection of its own per pass (tests, one-off tools)."""

    def connect() -> AbstractContextManager[psycopg.Connection[Any]]:
        return psycopg.connect(database_url, autocommit=True)

    return connect
