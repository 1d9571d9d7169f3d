"""Reads of ``staff_target``."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from projections.reads import AsyncPool, Pool, Row, fetch_all, fetch_one


async def target(pool: AsyncPool, target_id: UUID) -> Row | None:
    return await fetch_one(pool, "SELECT * FROM staff_target WHERE target_id = %s", (target_id,))


async def targets_of(pool: AsyncPool, scope: str, subject: str, period_kind: str,
                     period_start: date, *, include_removed: bool) -> list[Row]:
    """One subject's targets for one period, by KPI."""
    return await fetch_all(
        pool, "SELECT * FROM staff_target WHERE scope = %s AND subject = %s "
              "AND period_kind = %s AND period_start = %s AND (%s OR removed_at IS NULL) "
              "ORDER BY kpi", (scope, subject, period_kind, period_start, include_removed))


def live_targets_with_actuals(pool: Pool, day: date, scope: str, subject: str | None,
                              chat_timeout_seconds: int) -> list[tuple[Any, ...]]:
    """Live targets of ``scope`` (one subject, or all) whose period holds ``day``: (kpi, scope,
    subject, value, met_at, exceeded_at, trial, actuals) where ``actuals`` is the
    ``staff_kpi_rollup`` row from the period's start to ``day``, as JSON."""
    with pool.connection() as conn:
        rows: list[tuple[Any, ...]] = conn.execute(
            "SELECT t.kpi, t.scope, t.subject, t.value, t.met_at, t.exceeded_at, t.trial, "
            "to_jsonb(r) AS actuals FROM staff_target t, LATERAL staff_kpi_rollup("
            "CASE WHEN t.scope = 'staff' THEN ARRAY[t.subject] END, "
            "CASE WHEN t.scope = 'department' THEN t.subject END, t.period_start, %s, %s) r "
            "WHERE t.removed_at IS NULL AND %s BETWEEN t.period_start AND t.period_end "
            "AND t.scope = %s AND (%s::text IS NULL OR t.subject = %s) ORDER BY t.subject, t.kpi",
            (day, chat_timeout_seconds, day, scope, subject, subject)).fetchall()
    return rows
