"""Reads of ``daily_report`` (the API) and ``daily_report_activity`` (the report job), and
the job's per-day lock."""

from __future__ import annotations

from datetime import date

from psycopg import Connection

from domain.daily_report import MEASURES
from projections.reads import AsyncPool, Pool, Row, fetch_all

#: Advisory lock keys of the report job: this base plus the day's ordinal.
DAY_LOCK_BASE = 7368100_00000


async def reports(pool: AsyncPool, recipient_id: str | None, day: date | None) -> list[Row]:
    """Reports of ``day`` (of the latest day reported when ``None``), to one recipient or
    all, by scope and recipient."""
    return await fetch_all(
        pool, "SELECT * FROM daily_report WHERE (%s::text IS NULL OR recipient_id = %s) "
              "AND day = coalesce(%s::date, (SELECT max(day) FROM daily_report)) "
              "ORDER BY scope, recipient_id", (recipient_id, recipient_id, day))


def activity(pool: Pool, day: date) -> dict[str, dict[str, int]]:
    """Each staff member's measures of ``day`` (:data:`domain.daily_report.MEASURES`)."""
    with pool.connection() as conn:
        rows = conn.execute(f"SELECT staff_id, {', '.join(MEASURES)} FROM "
                            "daily_report_activity WHERE day = %s", (day,)).fetchall()
    return {r[0]: dict(zip(MEASURES, (int(v) for v in r[1:]), strict=True)) for r in rows}


def lock_day(conn: Connection[object], day: date) -> None:
    """Take the day's session advisory lock on ``conn`` (it outlives the transaction)."""
    conn.execute("SELECT pg_advisory_lock(%s)", (DAY_LOCK_BASE + day.toordinal(),))
    conn.commit()


def unlock_day(conn: Connection[object], day: date) -> None:
    conn.execute("SELECT pg_advisory_unlock(%s)", (DAY_LOCK_BASE + day.toordinal(),))
    conn.commit()
