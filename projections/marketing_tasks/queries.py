"""Reads of ``marketing_task_view``."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from projections.reads import AsyncPool, Row, fetch_all, fetch_one


async def task(pool: AsyncPool, task_id: UUID) -> Row | None:
    return await fetch_one(pool, "SELECT * FROM marketing_task_view WHERE task_id = %s",
                           (task_id,))


async def tasks(pool: AsyncPool, *, staff_id: str | None, status: str | None,
                overdue: bool | None, due_from: datetime | None, due_to: datetime | None,
                campaign_id: UUID | None, after: tuple[datetime, int] | None,
                limit: int) -> list[Row]:
    """Tasks by due time (earliest first), keyset-paginated on ``(due_at, position)``;
    every filter left ``None`` is not applied."""
    return await fetch_all(
        pool, "SELECT * FROM marketing_task_view WHERE (%s::text IS NULL OR staff_id = %s) "
              "AND (%s::text IS NULL OR status = %s) "
              "AND (%s::boolean IS NULL OR overdue = %s) "
              "AND (%s::timestamptz IS NULL OR due_at >= %s) "
              "AND (%s::timestamptz IS NULL OR due_at < %s) "
              "AND (%s::uuid IS NULL OR campaign_id = %s) "
              "AND (%s::timestamptz IS NULL OR (due_at, position) > (%s, %s)) "
              "ORDER BY due_at, position LIMIT %s",
        (staff_id, staff_id, status, status, overdue, overdue, due_from, due_from, due_to,
         due_to, campaign_id, campaign_id, after and after[0], after and after[0],
         after and after[1], limit))
