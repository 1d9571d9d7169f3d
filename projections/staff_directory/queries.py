"""Reads of ``staff_directory``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from projections.reads import AsyncPool, Pool, Row, fetch_all


def employed_between(pool: Pool, start: datetime, end: datetime) -> list[tuple[Any, ...]]:
    """(staff id, role, WeCom UserID) of members hired before ``end`` who had not left by
    ``start``, by staff id."""
    with pool.connection() as conn:
        rows: list[tuple[Any, ...]] = conn.execute(
            "SELECT staff_id::text, role, wecom_user_id FROM staff_directory "
            "WHERE hired_at < %s AND (left_at IS NULL OR left_at >= %s) ORDER BY staff_id",
            (end, start)).fetchall()
    return rows


async def headcounts(pool: AsyncPool) -> dict[str, int]:
    """Staff employed now, per department."""
    rows = await fetch_all(pool, "SELECT department, count(*) AS n FROM staff_directory "
                                 "WHERE left_at IS NULL GROUP BY department")
    return {r["department"]: r["n"] for r in rows}


async def of_department(pool: AsyncPool, department: str, *, include_left: bool) -> list[Row]:
    """Members of a department, by hire date."""
    return await fetch_all(pool, "SELECT * FROM staff_directory WHERE department = %s "
                                 "AND (%s OR left_at IS NULL) ORDER BY hired_at, staff_id",
                           (department, include_left))
