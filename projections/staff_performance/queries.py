"""KPI reads over staff_kpi_rollup (one selection of staff, one period) and the
leaderboard (a rollup per member, with their target)."""

from __future__ import annotations

from datetime import date
from typing import Any

from projections.reads import AsyncPool, Row, fetch_all, fetch_one

_LEADERBOARD = """
WITH p AS (
    SELECT k.first_day, k.last_day,
           (k.first_day::timestamp AT TIME ZONE 'Asia/Shanghai') AS from_ts,
           ((k.last_day + 1)::timestamp AT TIME ZONE 'Asia/Shanghai') AS to_ts
    FROM kpi_period(%(kind)s, %(start)s) k
), members AS (
    SELECT d.staff_id::text AS staff_id FROM staff_directory d, p
    WHERE d.hired_at < p.to_ts AND (d.left_at IS NULL OR d.left_at >= p.from_ts)
      AND (%(department)s::text IS NULL OR EXISTS (
          SELECT 1 FROM staff_assignment a
          WHERE a.staff_id = d.staff_id AND a.department = %(department)s
            AND a.since < p.to_ts AND (a.until IS NULL OR a.until > p.from_ts)))
)
SELECT p.first_day, p.last_day, m.staff_id, (to_jsonb(r) ->> %(kpi)s)::numeric AS value,
       to_jsonb(t) AS target
FROM p CROSS JOIN members m
CROSS JOIN LATERAL staff_kpi_rollup(ARRAY[m.staff_id], NULL, p.first_day, p.last_day,
                                    %(timeout)s) r
LEFT JOIN staff_target t ON t.scope = 'staff' AND t.subject = m.staff_id
     AND t.period_kind = %(kind)s AND t.period_start = p.first_day AND t.kpi = %(kpi)s
     AND t.removed_at IS NULL
"""


async def rollup(pool: AsyncPool, kind: str, start: date, staff_id: str | None,
                 department: str | None, timeout_seconds: int) -> Row:
    """``first_day``, ``last_day`` and every rollup column of one selection and period."""
    row = await fetch_one(
        pool, "SELECT p.first_day, p.last_day, r.* FROM kpi_period(%s, %s) p, "
              "LATERAL staff_kpi_rollup(%s, %s, p.first_day, p.last_day, %s) r",
        (kind, start, None if staff_id is None else [staff_id], department, timeout_seconds))
    assert row is not None
    return row


async def period(pool: AsyncPool, kind: str, start: date) -> Row:
    """The period of ``kind`` holding ``start``: ``first_day`` and ``last_day``."""
    row = await fetch_one(pool, "SELECT * FROM kpi_period(%s, %s)", (kind, start))
    assert row is not None
    return row


async def leaderboard(pool: AsyncPool, kind: str, start: date, department: str | None,
                      kpi: str, timeout_seconds: int) -> list[dict[str, Any]]:
    """Per member employed in the period (within ``department`` when given: assigned to it
    at some time in the period): the period, the KPI's value and the member's live target
    for it (JSON, or ``None``)."""
    return await fetch_all(pool, _LEADERBOARD, {
        "kind": kind, "start": start, "department": department, "kpi": kpi,
        "timeout": timeout_seconds})
