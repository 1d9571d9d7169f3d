"""Token buckets shared by every API process, in one UNLOGGED PostgreSQL table.

``siyu serve --workers N`` (or N servers behind a balancer) gives each process its own
memory: buckets kept there let a client send N times its rate. Here a bucket is a row
``(key, tokens, at)``; :meth:`RateBuckets.take` refills it by the time elapsed (by the
database's clock, the same for every process), takes up to ``want`` tokens and answers
how many it got — one ``INSERT … ON CONFLICT DO UPDATE``, atomic under concurrency (the
row lock serialises takers of one key; different keys never wait on each other).

UNLOGGED: the buckets are not worth a WAL write per request, and a crash that empties
the table only refills every bucket (a new minute's budget).
"""

from __future__ import annotations

from typing import Any

from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool

TABLE = "siyu_rate_bucket"
#: The advisory lock every schema change of siyu waits on (projections.schema_lock): API
#: processes started at once would otherwise race on CREATE TABLE IF NOT EXISTS.
SCHEMA_LOCK = 7368000

DDL = f"""
CREATE UNLOGGED TABLE IF NOT EXISTS {TABLE} (
    key text PRIMARY KEY,
    tokens double precision NOT NULL,
    granted integer NOT NULL,
    at timestamptz NOT NULL
)
"""

# ``refilled``: the bucket's tokens now (capped at capacity); a new key starts full.
_REFILLED = ("LEAST(%(capacity)s::float8, b.tokens + EXTRACT(EPOCH FROM clock_timestamp() - "
             "b.at) * %(rate)s::float8)")
TAKE = f"""
INSERT INTO {TABLE} AS b (key, tokens, granted, at)
VALUES (%(key)s, %(capacity)s::float8 - LEAST(%(want)s, floor(%(capacity)s::float8)),
        LEAST(%(want)s, floor(%(capacity)s::float8))::int, clock_timestamp())
ON CONFLICT (key) DO UPDATE SET
    granted = LEAST(%(want)s, floor({_REFILLED}))::int,
    tokens = {_REFILLED} - LEAST(%(want)s, floor({_REFILLED})),
    at = clock_timestamp()
RETURNING granted, tokens
"""

#: Rows of buckets idle this long are full again: forgetting them changes nothing.
PRUNE = f"DELETE FROM {TABLE} WHERE at < clock_timestamp() - make_interval(secs => %s)"


class RateBuckets:
    """The shared buckets, over a pool of autocommit connections: the API's read pool (a
    take is one short statement, so it needs no connection of its own: the main job's
    connection bound counts none for it), or a small pool of their own."""

    def __init__(self, conninfo: str | None = None, *, pool: Any = None, max_size: int = 2,
                 wait: float = 5.0) -> None:
        self.owned = pool is None
        self.pool: AsyncConnectionPool[Any] = pool if pool is not None else AsyncConnectionPool(
            conninfo or "", min_size=1, max_size=max_size, open=False, timeout=wait,
            kwargs={"autocommit": True, "connect_timeout": max(1, int(wait))})

    async def open(self) -> None:
        if self.owned:
            await self.pool.open()
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            await conn.execute(DDL)

    async def close(self) -> None:
        if self.owned:
            await self.pool.close()

    async def take(self, key: str, want: int, rate_per_second: float, capacity: float
                   ) -> tuple[int, float]:
        """(tokens granted — 0 to ``want`` —, tokens left) of the bucket ``key``."""
        params: dict[str, Any] = {"key": key, "want": want, "rate": rate_per_second,
                                  "capacity": capacity}
        async with self.pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(TAKE, params)
            row = await cur.fetchone()
        assert row is not None
        return int(row[0]), float(row[1])

    async def prune(self, idle_seconds: float) -> int:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(PRUNE, (idle_seconds,))
            return int(cursor.rowcount)
