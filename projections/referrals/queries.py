"""Reads of ``referral_campaign`` and ``referral_inviter``."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from projections.reads import AsyncPool, Row, fetch_all, fetch_one


async def campaign(pool: AsyncPool, campaign_id: UUID) -> Row | None:
    return await fetch_one(pool, "SELECT * FROM referral_campaign WHERE campaign_id = %s",
                           (campaign_id,))


async def campaigns(pool: AsyncPool, state: str | None) -> list[Row]:
    """Referral campaigns (in one state, or all), newest first."""
    return await fetch_all(pool, "SELECT * FROM referral_campaign WHERE %s::text IS NULL "
                                 "OR state = %s ORDER BY created_at DESC, campaign_id",
                           (state, state))


async def leaders(pool: AsyncPool, campaign_id: UUID, first: int) -> list[Row]:
    """Inviters who brought someone, most first (ties: earliest last referral first)."""
    return await fetch_all(
        pool, "SELECT * FROM referral_inviter WHERE campaign_id = %s AND invitees > 0 "
              "ORDER BY invitees DESC, last_referral_at, inviter_id LIMIT %s",
        (campaign_id, first))


async def invitable(pool: AsyncPool, inviter_id: UUID, at: datetime) -> list[Row]:
    """Active campaigns open at ``at`` and the inviter's rewards in each so far."""
    return await fetch_all(
        pool, "SELECT c.*, coalesce(i.rewards, 0) AS my_rewards, "
              "coalesce(i.invitees, 0) AS my_invitees FROM referral_campaign c "
              "LEFT JOIN referral_inviter i ON i.campaign_id = c.campaign_id "
              "AND i.inviter_id = %s WHERE c.state = 'active' AND c.starts_at <= %s "
              "AND (c.ends_at IS NULL OR c.ends_at > %s) "
              "ORDER BY c.starts_at DESC, c.campaign_id", (inviter_id, at, at))
