"""Reads of ``coupon_ledger``."""

from __future__ import annotations

from uuid import UUID

from projections.reads import AsyncPool, Row, fetch_all, fetch_one

_SUMMARY = """
SELECT count(*) AS issued, coalesce(sum(value_fen), 0) AS issued_value,
       count(*) FILTER (WHERE redeemed_at IS NOT NULL) AS redeemed,
       coalesce(sum(value_fen) FILTER (WHERE redeemed_at IS NOT NULL), 0) AS redeemed_value,
       count(*) FILTER (WHERE redeemed_at IS NULL AND expires_at <= now()) AS expired,
       coalesce(sum(value_fen) FILTER (WHERE redeemed_at IS NULL AND expires_at <= now()), 0)
           AS expired_value
FROM coupon_ledger WHERE %s::uuid IS NULL OR campaign_id = %s
"""


async def summary(pool: AsyncPool, campaign_id: UUID | None) -> Row:
    """Counts and values (fen) issued, redeemed and expired: of one campaign, or of all."""
    row = await fetch_one(pool, _SUMMARY, (campaign_id, campaign_id))
    assert row is not None  # an aggregate without GROUP BY always answers one row
    return row


async def coupons_of(pool: AsyncPool, customer_id: UUID) -> list[Row]:
    """A customer's coupons, newest first."""
    return await fetch_all(pool, "SELECT * FROM coupon_ledger WHERE customer_id = %s "
                                 "ORDER BY issued_at DESC, coupon_id", (customer_id,))
