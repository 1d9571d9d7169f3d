"""Reads of the funnel rollups and survey answers (definitions in docs/funnels.md).

Every read sums ``funnel_daily`` or ``cohort_daily`` over the days asked, grouped by the
top-level channel (``qr`` for ``qr:store-01``) or by the exact channel code; a ``channel``
filter keeps that code and the codes under it. The rollups hold a few rows per day and
channel whatever the number of customers, so a year reads in milliseconds.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from projections.funnels.rows import CHECKPOINTS, FUNNEL_COUNTS, add_months, checkpoint
from projections.reads import AsyncPool, Row, fetch_all

_MONTH = "date_trunc('month', day)"
_KEY = {"channel": "split_part(channel, ':', 1)", "code": "channel"}
_UNDER = ("(%(channel)s::text IS NULL OR channel = %(channel)s OR starts_with(channel, "
          "%(channel)s || ':'))")


def _params(start: date, end: date, channel: str | None, **more: Any) -> dict[str, Any]:
    return {"start": start, "end": end, "channel": channel, **more}


def funnel_sql(by: str) -> str:
    sums = ", ".join(f"sum({c})::bigint AS {c}" for c in FUNNEL_COUNTS)
    return (f"SELECT {_KEY[by]} AS key, {sums}, "
            "sum(acquired * (%(as_of)s::date - day))::bigint AS customer_days "
            f"FROM funnel_daily WHERE day BETWEEN %(start)s AND %(end)s AND {_UNDER} "
            f"GROUP BY GROUPING SETS (({_KEY[by]}), ()) HAVING sum(acquired) > 0 "
            "ORDER BY 1 NULLS FIRST")


async def funnel(pool: AsyncPool, start: date, end: date, channel: str | None, by: str,
                 as_of: date) -> list[Row]:
    """Stage counts per key, the all-channel total first (``key`` None)."""
    return await fetch_all(pool, funnel_sql(by), _params(start, end, channel, as_of=as_of))


_LOCAL = "AT TIME ZONE 'Asia/Shanghai')::date"
#: Each staff assignment as the business days it is credited with, by the rule of
#: ``staff_department_on`` (projections/staff_performance): from the day it began; to the
#: day before it ended, or the day it ended by leaving (unless at its midnight); a later
#: period of the same member takes over from its first day.
CREDITED_DAYS = f"""
SELECT staff_id::text AS owner, department, first_day,
       least(last_day, lead(first_day) OVER (PARTITION BY staff_id ORDER BY period) - 1)
           AS last_day
FROM (SELECT staff_id, period, department, (since {_LOCAL} AS first_day,
             CASE WHEN until IS NULL THEN 'infinity'::date
                  WHEN ended_reason = 'left' AND until > (((until {_LOCAL})::timestamp
                       AT TIME ZONE 'Asia/Shanghai') THEN (until {_LOCAL}
                  ELSE (until {_LOCAL} - 1 END AS last_day
      FROM staff_assignment) a"""


def department_funnel_sql() -> str:
    """The ``funnel_owner_daily`` rows of the period summed per department credited."""
    sums = ", ".join(f"sum(o.{c})::bigint AS {c}" for c in FUNNEL_COUNTS)
    return (f"WITH credit AS ({CREDITED_DAYS}) "
            f"SELECT c.department AS key, {sums}, "
            "sum(o.acquired * (%(as_of)s::date - o.day))::bigint AS customer_days "
            "FROM funnel_owner_daily o JOIN credit c ON c.owner = o.owner "
            "AND o.day BETWEEN c.first_day AND c.last_day "
            "WHERE o.day BETWEEN %(start)s AND %(end)s "
            "AND (%(department)s::text IS NULL OR c.department = %(department)s) "
            "GROUP BY c.department HAVING sum(o.acquired) > 0 ORDER BY 1")


async def department_funnel(pool: AsyncPool, start: date, end: date, department: str | None,
                            as_of: date) -> list[Row]:
    """Stage counts per department: each customer acquired in the period counts for the
    department held, on the acquisition day, by their owner at the end of that day."""
    params = {"start": start, "end": end, "department": department, "as_of": as_of}
    async with pool.connection() as conn:
        # never prepared: a generic plan of the range join (after a few runs) took seconds
        cur = await conn.execute(department_funnel_sql(), params, prepare=False)
        return [dict(r) for r in await cur.fetchall()]


def last_join_day(as_of: date, days: int, months: int) -> date:
    """The last join day whose checkpoint has come by ``as_of`` (checkpoints only grow with
    the join day, so "checkpoint <= as_of" is "join day <= this")."""
    day = add_months(as_of - timedelta(days=days), -months)
    while checkpoint(day + timedelta(days=1), days, months) <= as_of:
        day += timedelta(days=1)
    while checkpoint(day, days, months) > as_of:
        day -= timedelta(days=1)
    return day


def cohort_sql(by: str) -> str:
    columns = []
    for column, _, _ in CHECKPOINTS:
        due = f"day <= %(due_{column})s"
        columns.append(f"sum(joined) FILTER (WHERE {due})::bigint AS {column}_eligible, "
                       f"sum({column}) FILTER (WHERE {due})::bigint AS {column}")
    return (f"SELECT {_MONTH}::date AS month, {_KEY[by]} AS key, "
            f"sum(joined)::bigint AS joined, {', '.join(columns)} "
            "FROM cohort_daily WHERE touchpoint = %(touchpoint)s "
            f"AND day BETWEEN %(start)s AND %(end)s AND day <= %(as_of)s AND {_UNDER} "
            f"GROUP BY GROUPING SETS (({_MONTH}, {_KEY[by]}), ({_MONTH})) "
            "HAVING sum(joined) > 0 ORDER BY 1, 2 NULLS FIRST")


async def cohorts(pool: AsyncPool, touchpoint: str, start: date, end: date,
                  channel: str | None, by: str, as_of: date) -> list[Row]:
    """Per acquisition (join) month and key — and per month for every channel (``key``
    None) — the members who joined and, per checkpoint, those due and those retained."""
    due = {f"due_{c}": last_join_day(as_of, d, m) for c, d, m in CHECKPOINTS}
    return await fetch_all(pool, cohort_sql(by), _params(
        start, end, channel, touchpoint=touchpoint, as_of=as_of, **due))


COST_SQL = f"""
SELECT channel AS key, sum(cost_fen)::bigint AS cost_fen FROM campaign
WHERE launched_at IS NOT NULL AND cancelled_at IS NULL
  AND (launched_at AT TIME ZONE 'Asia/Shanghai')::date BETWEEN %(start)s AND %(end)s
  AND {_UNDER}
GROUP BY GROUPING SETS ((channel), ())"""


async def campaign_costs(pool: AsyncPool, start: date, end: date, channel: str | None
                         ) -> dict[str | None, int]:
    """Campaign costs launched in the period, per campaign channel and in total (None)."""
    rows = await fetch_all(pool, COST_SQL, _params(start, end, channel))
    return {r["key"]: int(r["cost_fen"] or 0) for r in rows}


SATISFACTION_SQL = """
SELECT staff_id, survey_kind, count(*)::bigint AS answers,
       count(*) FILTER (WHERE survey_kind = 'csat' AND score >= 4)::bigint AS satisfied,
       count(*) FILTER (WHERE survey_kind = 'nps' AND score >= 9)::bigint AS promoters,
       count(*) FILTER (WHERE survey_kind = 'nps' AND score <= 6)::bigint AS detractors,
       sum(score)::bigint AS score_sum, GROUPING(staff_id) = 1 AS grouped
FROM survey_answer
WHERE day BETWEEN %(start)s AND %(end)s
  AND (%(everyone)s OR staff_id = ANY(%(staff_ids)s))
GROUP BY GROUPING SETS ((staff_id, survey_kind), (survey_kind))
ORDER BY staff_id NULLS FIRST, survey_kind"""


async def satisfaction(pool: AsyncPool, start: date, end: date, everyone: bool,
                       staff_ids: list[str]) -> list[Row]:
    """Per staff member and survey kind, and per kind over the answers in scope
    (``staff_id`` None)."""
    return await fetch_all(pool, SATISFACTION_SQL, {
        "start": start, "end": end, "everyone": everyone, "staff_ids": staff_ids})
