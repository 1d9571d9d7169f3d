"""Reads of ``staff_target``."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from projections.reads import AsyncPool, Row, fetch_all, fetch_one


async def target(pool: AsyncPool, target_id: UUID) -> Row | None:
    return await fetch_one(pool, "SELECT * FROM staff_target WHERE target_id = %s", (target_id,))


async def targets_of(pool: AsyncPool, scope: str, subject: str, period_kind: str,
                     period_start: date, *, include_removed: bool) -> list[Row]:
    """One subject's targets for one period, by KPI."""
    return await fetch_all(
        pool, "SELECT * FROM staff_target WHERE scope = %s AND subject = %s "
              "AND period_kind = %s AND period_start = %s AND (%s OR removed_at IS NULL) "
              "ORDER BY kpi", (scope, subject, period_kind, period_start, include_removed))
