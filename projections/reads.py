"""What every read model's ``queries`` module shares: the pool types and row fetching.

The API reads through a psycopg ``AsyncConnectionPool`` (one per process, built in its
lifespan); workers read and claim through a blocking ``ConnectionPool``. Query functions
take the pool as their first argument, so they hold no state and are trivially faked.
"""

from __future__ import annotations

from typing import Any

import psycopg
from eventsourcing import persistence
from psycopg import AsyncConnection
from psycopg.rows import DictRow
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout, TooManyRequests

Row = dict[str, Any]
AsyncPool = AsyncConnectionPool[AsyncConnection[DictRow]]
Pool = ConnectionPool[Any]

#: The database is away, restarting or out of connections — not any event's or request's
#: fault: a runner backs off and reconnects, the API answers UNAVAILABLE.
TRANSIENT: tuple[type[BaseException], ...] = (
    psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout, TooManyRequests,
    persistence.OperationalError, persistence.InterfaceError)


async def fetch_all(pool: AsyncPool, sql: str, params: Any = None) -> list[Row]:
    """Every row of one statement, as plain dicts."""
    async with pool.connection() as conn:
        cur = await conn.execute(sql, params)
        return [dict(r) for r in await cur.fetchall()]


async def fetch_one(pool: AsyncPool, sql: str, params: Any = None) -> Row | None:
    """The first row of one statement, or ``None``."""
    async with pool.connection() as conn:
        cur = await conn.execute(sql, params)
        row = await cur.fetchone()
        return None if row is None else dict(row)
