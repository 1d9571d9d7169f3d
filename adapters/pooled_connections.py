"""How the event store borrows its pooled connections: stale ones are found before use,
without a round trip per borrow.

A database restart (or a backend ended by the server) leaves pooled connections that
fail on their next use. The library's answer is a ping on every borrow (``PRE_PING``):
one round trip more per query, a third of a one-event command under load. Instead a
connection is pinged only when it may be stale:

- the server said something while it sat idle in the pool: its socket is readable. An
  idle autocommit connection is sent nothing, except when its backend is ended (restart,
  ``pg_terminate_backend``, the postmaster killed: an error message, then end of file),
  or a notification on a channel it listens to;
- it went back to the pool longer than :data:`CHECK_AFTER_IDLE` ago. The pool lends its
  connections in turn (first in, first out), so under steady writes each sits idle for a
  while between uses: the bound is well above that, and only guards against a peer gone
  without a word (a half-open TCP connection). A connection never lent yet is judged by
  its socket alone: a fresh process's first command pays no pings.

A connection that fails the ping is closed (the pool replaces it) and another is
borrowed. The library's methods keep one retry of a fast failure (:func:`stale_retry`)
for what no check can see coming.
"""

from __future__ import annotations

import contextlib
import functools
import select
import time
from collections.abc import Callable, Iterator
from typing import Any
from weakref import WeakKeyDictionary

import psycopg
from eventsourcing import persistence
from psycopg_pool import ConnectionPool

#: A connection returned to the pool less than this long ago is lent without a ping
#: (unless its socket has something to say).
CHECK_AFTER_IDLE = 30.0
#: A failure faster than this was a stale connection, not an unreachable database.
STALE_FAILURE_SECONDS = 0.5
#: SQLSTATE of "prepared statement … does not exist".
STALE_PREPARED = "26000"


def may_be_stale(conn: psycopg.Connection[Any], returned: float | None) -> bool:
    """Whether ``conn`` needs a ping before it is lent (see the module's docstring)."""
    if conn.closed or (returned is not None
                       and time.monotonic() - returned > CHECK_AFTER_IDLE):
        return True
    try:
        readable, _, _ = select.select([conn.pgconn.socket], [], [], 0)
    except (psycopg.Error, OSError, ValueError):
        return True  # no usable socket: the ping will tell
    return bool(readable)


def alive(conn: psycopg.Connection[Any]) -> bool:
    """Ping ``conn``; a dead one is closed (so the pool drops it)."""
    try:
        ConnectionPool.check_connection(conn)
    except psycopg.Error:
        conn.close()
        return False
    return True


def checked(get_connection: Callable[[], Any], attempts: int) -> Callable[[], Any]:
    """The datastore's ``get_connection``, lending only connections that are not stale
    (up to ``attempts`` borrows: a restart leaves every pooled connection stale), and
    closing one that used a prepared statement the server does not have (psycopg keeps
    such a statement in its cache for good on an autocommit connection: every later use
    of it on that connection would fail the same way). That error still propagates, and
    the unit of work decides again."""
    returned: WeakKeyDictionary[psycopg.Connection[Any], float] = WeakKeyDictionary()

    @contextlib.contextmanager
    def connection() -> Iterator[Any]:
        for attempt in range(1, attempts + 1):
            with get_connection() as conn:
                if (attempt < attempts and may_be_stale(conn, returned.get(conn))
                        and not alive(conn)):
                    continue  # closed: the pool replaces it
                try:
                    yield conn
                except psycopg.Error as error:
                    if error.sqlstate == STALE_PREPARED:
                        conn.close()
                    raise
                finally:
                    returned[conn] = time.monotonic()
                return

    return connection


def stale_retry(method: Callable[..., Any]) -> Callable[..., Any]:
    """The library's method without its ten retries (each of which waits the whole pool
    timeout while the database is away: 22 s before an API answer). One more attempt
    is made only when the first failed fast — a connection gone stale — since a pool
    that cannot connect already waited its timeout."""
    original: Callable[..., Any] = getattr(method, "__wrapped__", method)

    @functools.wraps(original)
    def once_more_if_stale(*args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        try:
            return original(*args, **kwargs)
        except (persistence.OperationalError, persistence.InterfaceError):
            if time.monotonic() - started > STALE_FAILURE_SECONDS:
                raise
        return original(*args, **kwargs)

    return once_more_if_stale
