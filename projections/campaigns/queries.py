"""Reads of ``campaign`` and ``campaign_send`` for the API."""

from __future__ import annotations

from uuid import UUID

from projections.reads import AsyncPool, Row, fetch_all, fetch_one


async def campaign(pool: AsyncPool, campaign_id: UUID) -> Row | None:
    return await fetch_one(pool, "SELECT * FROM campaign WHERE campaign_id = %s", (campaign_id,))


async def campaigns(pool: AsyncPool, state: str | None) -> list[Row]:
    """Campaigns (in ``state``, or all), newest first."""
    return await fetch_all(pool, "SELECT * FROM campaign WHERE %s::text IS NULL OR "
                                 "state = %s ORDER BY drafted_at DESC", (state, state))


async def sends(pool: AsyncPool, campaign_id: UUID, status: str | None, offset: int,
                limit: int) -> list[Row]:
    """A campaign's sends (with ``status``, or all) by customer, from ``offset``."""
    return await fetch_all(
        pool, "SELECT * FROM campaign_send WHERE campaign_id = %s AND (%s::text IS NULL OR "
              "status = %s) ORDER BY customer_id OFFSET %s LIMIT %s",
        (campaign_id, status, status, offset, limit))


async def failures(pool: AsyncPool, campaign_id: UUID) -> dict[str, int]:
    """A campaign's failed sends by reason (``UNKNOWN``: the outcome cannot be known)."""
    rows = await fetch_all(
        pool, "SELECT coalesce(detail, '') AS reason, count(*) AS n FROM campaign_send "
              "WHERE campaign_id = %s AND status = 'failed' GROUP BY 1 ORDER BY 1",
        (campaign_id,))
    return {r["reason"]: int(r["n"]) for r in rows}
