"""Reads of ``private_domain_link`` and of the manager overview's other figures."""

from __future__ import annotations

from datetime import date

from projections.reads import AsyncPool, Row, fetch_all


async def users_daily(pool: AsyncPool, first_day: date, last_day: date,
                      department: str | None) -> list[Row]:
    """Customers in each touchpoint at the end of each business day (a department: its
    members' WeCom and personal-WeChat friends that day; the rest null)."""
    return await fetch_all(pool, "SELECT * FROM private_domain_users_daily(%s, %s, %s)",
                           (first_day, last_day, department))


async def retention_by_channel(pool: AsyncPool, first_day: date, last_day: date,
                               department: str | None, as_of: date) -> list[Row]:
    """New WeCom friends of the period per channel (a department: credited to the member's
    department on the day of the add), and per window (7 and 30 days) the adds **due** by
    business day ``as_of`` (``retention_due``, the rule of ``friend_retention_by_channel``)
    and those of them retained. Adds not yet due are neither retained nor lost."""
    return await fetch_all(
        pool, "SELECT c.channel, sum(c.friends_new)::bigint AS friends_new, "
              "coalesce(sum(c.friends_new) FILTER (WHERE retention_due(c.day, 7, %(a)s)), 0)"
              "::bigint AS due_7d, "
              "coalesce(sum(c.retained_7d) FILTER (WHERE retention_due(c.day, 7, %(a)s)), 0)"
              "::bigint AS retained_7d, "
              "coalesce(sum(c.friends_new) FILTER (WHERE retention_due(c.day, 30, %(a)s)), 0)"
              "::bigint AS due_30d, "
              "coalesce(sum(c.retained_30d) FILTER (WHERE retention_due(c.day, 30, %(a)s)), 0)"
              "::bigint AS retained_30d "
              "FROM staff_daily_channel c WHERE c.day BETWEEN %(f)s AND %(l)s "
              "AND (%(d)s::text IS NULL OR (lower(c.staff_id), c.day) IN ("
              "SELECT h.staff_id::text, h.day FROM staff_departments_daily(%(f)s, %(l)s) h "
              "WHERE h.department = %(d)s)) "
              "GROUP BY c.channel ORDER BY c.channel",
        {"f": first_day, "l": last_day, "d": department, "a": as_of})


async def staff_with_roles(pool: AsyncPool, first_day: date, last_day: date,
                           department: str | None) -> list[Row]:
    """Staff employed during the period with their role now (within ``department``:
    assigned to it at some time in the period)."""
    return await fetch_all(
        pool, "WITH p AS (SELECT (%(f)s::timestamp AT TIME ZONE 'Asia/Shanghai') AS f, "
              "((%(l)s::date + 1)::timestamp AT TIME ZONE 'Asia/Shanghai') AS t) "
              "SELECT d.staff_id::text AS staff_id, d.role FROM staff_directory d, p "
              "WHERE d.hired_at < p.t AND (d.left_at IS NULL OR d.left_at >= p.f) "
              "AND (%(d)s::text IS NULL OR EXISTS (SELECT 1 FROM staff_assignment a "
              "WHERE a.staff_id = d.staff_id AND a.department = %(d)s "
              "AND a.since < p.t AND (a.until IS NULL OR a.until > p.f))) "
              "ORDER BY d.role, d.staff_id",
        {"f": first_day, "l": last_day, "d": department})


async def member_kpis(pool: AsyncPool, staff_ids: list[str], kind: str, first_day: date,
                      last_day: date, timeout_seconds: int) -> list[Row]:
    """Each member's ``staff_kpi_rollup`` over the period (as JSON) and live targets."""
    return await fetch_all(
        pool, "SELECT m.staff_id, to_jsonb(r) AS kpis, (SELECT coalesce(jsonb_agg(to_jsonb(t)), "
              "'[]') FROM staff_target t WHERE t.scope = 'staff' AND t.subject = m.staff_id "
              "AND t.period_kind = %s AND t.period_start = %s AND t.removed_at IS NULL) "
              "AS targets FROM unnest(%s::text[]) m(staff_id) CROSS JOIN LATERAL "
              "staff_kpi_rollup(ARRAY[m.staff_id], NULL, %s, %s, %s) r",
        (kind, first_day, staff_ids, first_day, last_day, timeout_seconds))


async def long_term_value(pool: AsyncPool, first_day: date, last_day: date) -> Row | None:
    """Customers first seen in the period (business days) and their realised lifetime GMV:
    every paid order of theirs up to now, in fen."""
    rows = await fetch_all(
        pool, "SELECT count(*) AS customers, coalesce(sum(p.gmv_fen), 0)::bigint AS gmv_fen "
              "FROM customer_profile p "
              "WHERE (p.first_seen_at AT TIME ZONE 'Asia/Shanghai')::date BETWEEN %s AND %s",
        (first_day, last_day))
    return rows[0] if rows else None


async def company_rollup(pool: AsyncPool, kind: str, start: date, timeout_seconds: int) -> Row:
    """``staff_kpi_rollup`` of every staff member with figures (the company's KPIs)."""
    rows = await fetch_all(
        pool, "SELECT p.first_day, p.last_day, r.* FROM kpi_period(%s, %s) p, LATERAL "
              "staff_kpi_rollup(ARRAY(SELECT DISTINCT staff_id FROM staff_daily_performance "
              "WHERE day BETWEEN p.first_day AND p.last_day), NULL, p.first_day, p.last_day, "
              "%s) r", (kind, start, timeout_seconds))
    return rows[0]
