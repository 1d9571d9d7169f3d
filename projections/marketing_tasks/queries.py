"""Reads of ``marketing_task_view`` (the API) and the confirmation-task loop's work."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import errors
from psycopg.rows import tuple_row

from projections.reads import AsyncPool, Pool, Row, fetch_all, fetch_one


async def task(pool: AsyncPool, task_id: UUID) -> Row | None:
    return await fetch_one(pool, "SELECT * FROM marketing_task_view WHERE task_id = %s",
                           (task_id,))


async def tasks(pool: AsyncPool, *, staff_id: str | None, status: str | None,
                overdue: bool | None, due_from: datetime | None, due_to: datetime | None,
                campaign_id: UUID | None, after: tuple[datetime, int] | None,
                limit: int, staff_ids: list[str] | None = None) -> list[Row]:
    """Tasks by due time (earliest first), keyset-paginated on ``(due_at, position)``;
    every filter left ``None`` is not applied (``staff_ids``: tasks of one of them)."""
    return await fetch_all(
        pool, "SELECT * FROM marketing_task_view WHERE (%s::text IS NULL OR staff_id = %s) "
              "AND (%s::text[] IS NULL OR staff_id = ANY(%s)) "
              "AND (%s::text IS NULL OR status = %s) "
              "AND (%s::boolean IS NULL OR overdue = %s) "
              "AND (%s::timestamptz IS NULL OR due_at >= %s) "
              "AND (%s::timestamptz IS NULL OR due_at < %s) "
              "AND (%s::uuid IS NULL OR campaign_id = %s) "
              "AND (%s::timestamptz IS NULL OR (due_at, position) > (%s, %s)) "
              "ORDER BY due_at, position LIMIT %s",
        (staff_id, staff_id, staff_ids, staff_ids, status, status, overdue, overdue, due_from,
         due_from, due_to, due_to, campaign_id, campaign_id, after and after[0], after and after[0],
         after and after[1], limit))


_UUID = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"

# The WeCom tasks with work left: no marketing task yet, or one still open whose WeCom
# task is confirmed or finished, each with its assignment key (prefix:campaign:task).
_CONFIRMATION_WORK = f"""
SELECT t.key, t.campaign_id, t.task_id, t.staff_id, t.created_at, t.confirmed_at,
       coalesce(v.finished, false) AS finished, m.status
FROM (SELECT *, %s::text || ':' || campaign_id || ':' || task_id AS key
      FROM staff_kpi_campaign_task) t
LEFT JOIN campaign_task_view v ON v.campaign_id = t.campaign_id AND v.task_id = t.task_id
LEFT JOIN marketing_task m ON m.assignment_key = t.key
WHERE t.staff_id ~* '{_UUID}' AND NOT (t.key = ANY(%s::text[]))
  AND (m.task_id IS NULL
       OR (m.status = 'open' AND (t.confirmed_at IS NOT NULL OR coalesce(v.finished, false))))
ORDER BY t.created_at, t.campaign_id, t.task_id
LIMIT %s
"""


def confirmation_work(pool: Pool, key_prefix: str, skipped: Sequence[str], limit: int
                      ) -> list[tuple[Any, ...]]:
    """The mass-send tasks whose confirmation task is to be assigned, completed or
    cancelled: (key, campaign id, WeCom task id, staff id, created at, confirmed at,
    finished, marketing task status or None); none before the read models exist."""
    with pool.connection() as conn:
        try:
            cur = conn.cursor(row_factory=tuple_row)
            rows: list[tuple[Any, ...]] = cur.execute(
                _CONFIRMATION_WORK, (key_prefix, list(skipped), limit)).fetchall()
            return rows
        except errors.UndefinedTable:  # the read models are not created yet
            return []
