"""The API's read side: cursors, the connection pool, and the read models' query objects
(the queries themselves live with their read models, under ``projections/``)."""

from __future__ import annotations

import base64
import time
from weakref import WeakKeyDictionary

from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from projections.customer_profile.queries import (
    PROFILE_COLUMNS,
    CustomerFilterValues,
    ReadModels,
)
from projections.reads import Row

__all__ = ["PROFILE_COLUMNS", "CustomerFilterValues", "ReadModels", "Row", "decode_cursor",
           "encode_cursor", "open_pool"]


def encode_cursor(kind: str, value: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode()


def decode_cursor(kind: str, cursor: str) -> int:
    try:
        prefix, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if prefix != kind:
            raise ValueError(prefix)
        return int(value)
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError("malformed cursor") from error


def open_pool(conninfo: str, *, max_size: int = 10, wait: float = 30.0
              ) -> AsyncConnectionPool[AsyncConnection[DictRow]]:
    """The API's read pool: a connection is checked before use (a stale one, left by a
    database restart, is replaced instead of failing the request), and a request waits
    at most ``wait`` seconds for one (then PoolTimeout: answered UNAVAILABLE)."""
    return AsyncConnectionPool(conninfo, min_size=1, max_size=max_size, open=False,
                               timeout=wait, check=_check_if_idle, reset=_stamp,
                               kwargs={"row_factory": dict_row, "autocommit": True,
                                       "connect_timeout": max(1, int(wait))})


#: A connection back in the pool less than this long ago is used without a check: under
#: load that is every connection, and a check per request was a round trip per query.
#: One idle longer (as every one is after a database restart) is checked first.
CHECK_AFTER_IDLE = 1.0
_returned: WeakKeyDictionary[AsyncConnection[DictRow], float] = WeakKeyDictionary()


async def _stamp(conn: AsyncConnection[DictRow]) -> None:
    _returned[conn] = time.monotonic()


async def _check_if_idle(conn: AsyncConnection[DictRow]) -> None:
    if time.monotonic() - _returned.get(conn, 0.0) > CHECK_AFTER_IDLE:
        await AsyncConnectionPool.check_connection(conn)
