"""The campaign worker's reads and its own small tables, through a connection pool.

It claims due sends of running campaigns (``SKIP LOCKED``) as chunks of at most
:data:`CHUNK` customers, reads a chunk's campaign and still-planned sends, and reserves
turns from the rate limiter every worker process shares through PostgreSQL. The SQL is
in :mod:`projections.campaigns.dispatch`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from projections.campaigns import dispatch

#: The most customers of one campaign in one message (ids, not objects).
CHUNK = 200


class CampaignStore:
    """The worker's reads and its own small tables, through a connection pool."""

    def __init__(self, pool: ConnectionPool[Any]) -> None:
        self.pool = pool
        with pool.connection() as conn:
            dispatch.create_tables(conn)

    @classmethod
    def connect(cls, database_url: str, *, max_size: int = 6) -> CampaignStore:
        pool: ConnectionPool[Any] = ConnectionPool(
            database_url, min_size=1, max_size=max_size, open=True,
            kwargs={"row_factory": dict_row, "autocommit": False})
        return cls(pool)

    def close(self) -> None:
        self.pool.close()

    def claim_due(self, now: datetime, stale_after: timedelta, limit: int
                  ) -> list[tuple[UUID, int, list[UUID]]]:
        """Due sends as (campaign, step, customers) chunks, noted as enqueued."""
        with self.pool.connection() as conn, conn.transaction():
            rows = dispatch.claim_due(conn, now, now - stale_after, limit)
            if not rows:
                return []
            dispatch.note_enqueued(conn, now, rows)
        chunks: dict[tuple[UUID, int], list[UUID]] = {}
        for r in rows:
            chunks.setdefault((r["campaign_id"], r["step"]), []).append(r["customer_id"])
        return [(c, s, ids[n:n + CHUNK]) for (c, s), ids in chunks.items()
                for n in range(0, len(ids), CHUNK)]

    def chunk(self, campaign_id: UUID, step: int, customers: Sequence[UUID]
              ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """The campaign row and the chunk's still-planned sends with their profiles."""
        with self.pool.connection() as conn:
            campaign = dispatch.campaign(conn, campaign_id)
            sends = dispatch.planned_sends(conn, campaign_id, step, customers)
            conn.commit()
        return campaign, sends

    def reserve(self, name: str, per_second: float, count: int) -> datetime:
        """Reserve ``count`` sends of limiter ``name``; returns when the first may go."""
        start, _ = self._reserve(name, per_second, count)
        return start

    def reserve_wait(self, name: str, per_second: float, count: int) -> float:
        """Reserve ``count`` sends of limiter ``name``; returns the seconds until the first
        may go, by the database's clock (the one every worker shares: no clock skew)."""
        _, wait = self._reserve(name, per_second, count)
        return wait

    def sender_userids(self, senders: Sequence[str]) -> dict[str, str]:
        """The WeCom UserID of each planned sender that has one (staff directory)."""
        with self.pool.connection() as conn:
            found = dispatch.sender_userids(conn, senders)
            conn.commit()
        return found

    # -- send intents (recorded before each provider call) -------------------------------------
    def intents(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The intents recorded for these send keys, by key."""
        if not keys:
            return {}
        with self.pool.connection() as conn:
            rows = dispatch.intents(conn, keys)
            conn.commit()
        return {r["send_key"]: r for r in rows}

    def open_intent(self, intent_id: UUID, keys: Sequence[str], channel: str,
                    sender: str | None, text_digest: str,
                    settle: Sequence[tuple[str, UUID, str, str]] = ()) -> set[str]:
        """Record (and commit) the intent to send ``keys``, with the settlements of earlier
        intents (one transaction); the keys it holds."""
        if {k for k, *_ in settle} & set(keys):  # one statement cannot touch a row twice
            self.settle(settle)
            settle = ()
        with self.pool.connection() as conn:
            conn.autocommit = True  # one statement: its own transaction, one round trip
            try:
                return set(dispatch.open_intent(conn, intent_id, keys, channel, sender,
                                                text_digest, settle))
            finally:
                conn.autocommit = False

    def settle(self, outcomes: Sequence[tuple[str, UUID, str, str]]) -> None:
        """Settle (send key, intent, ``sent`` | ``not_sent`` | ``unknown``, detail)."""
        if outcomes:
            with self.pool.connection() as conn, conn.transaction():
                dispatch.settle_intents(conn, outcomes)

    def settle_intent(self, intent_id: UUID, outcome: str, detail: str) -> None:
        """Settle every still-open send key of one intent."""
        with self.pool.connection() as conn, conn.transaction():
            dispatch.settle_intent(conn, intent_id, outcome, detail)

    def claimed_tasks(self, task_ids: Sequence[str], intent_id: UUID) -> set[str]:
        """Task ids already the outcome of another intent than ``intent_id``."""
        with self.pool.connection() as conn:
            found = dispatch.claimed_tasks(conn, task_ids, intent_id)
            conn.commit()
        return found

    def _reserve(self, name: str, per_second: float, count: int) -> tuple[datetime, float]:
        with self.pool.connection() as conn, conn.transaction():
            row = dispatch.reserve_slots(conn, name, count / per_second)
        assert row is not None
        start: datetime = row["next_at"] - timedelta(seconds=count / per_second)
        return start, float(row["wait"])
