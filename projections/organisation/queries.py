"""Reads of ``staff_assignment`` and ``customer_ownership``."""

from __future__ import annotations

from uuid import UUID

from projections.reads import AsyncPool, Pool, Row, fetch_all


async def assignments(pool: AsyncPool, staff_id: UUID) -> list[Row]:
    """A staff member's department and role periods, oldest first."""
    return await fetch_all(pool, "SELECT * FROM staff_assignment WHERE staff_id = %s "
                                 "ORDER BY period", (staff_id,))


async def ownership(pool: AsyncPool, customer_id: UUID) -> list[Row]:
    """Who owned a customer when, oldest first."""
    return await fetch_all(pool, "SELECT * FROM customer_ownership WHERE customer_id = %s "
                                 "ORDER BY period", (customer_id,))


async def owned_now(pool: AsyncPool, staff_id: str) -> list[UUID]:
    """The customers a staff member owns now, in the order they came."""
    rows = await fetch_all(pool, "SELECT customer_id FROM customer_ownership "
                                 "WHERE staff_id = %s AND until IS NULL ORDER BY cause_position",
                           (staff_id,))
    return [r["customer_id"] for r in rows]


async def owned_page(pool: AsyncPool, staff_id: str, before: int | None, limit: int
                     ) -> list[Row]:
    """The customers a staff member owns now, newest first, keyset-paginated on
    ``cause_position``."""
    return await fetch_all(
        pool, "SELECT customer_id, since, reason, cause_position FROM customer_ownership "
              "WHERE staff_id = %s AND until IS NULL "
              "AND (%s::bigint IS NULL OR cause_position < %s) "
              "ORDER BY cause_position DESC LIMIT %s", (staff_id, before, before, limit))


def current_owner(pool: Pool, customer_id: UUID) -> str | None:
    """The staff member who owns the customer now (``customer_current_owner``)."""
    with pool.connection() as conn:
        row = conn.execute("SELECT staff_id FROM customer_current_owner "
                           "WHERE customer_id = %s", (customer_id,)).fetchone()
    return None if row is None else str(row[0])
