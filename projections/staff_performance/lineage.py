"""KPI lineage: the ledger facts (one per event, by log position) that make a staff KPI
figure, credited exactly as ``staff_kpi_rollup`` credits them — a member's own (staff, day)
pairs, or for a department each day of a member who held it that day (the
``staff_daily_performance`` rows the rollup sums). Read-only; see docs/staff-kpis.md."""

from __future__ import annotations

from datetime import date

from domain.lexicon import BUILT_IN_CATEGORIES
from projections.reads import AsyncPool, Row, fetch_all
from projections.staff_performance.sensitive import (
    CATEGORY_KPIS,
    CUSTOMER_HIT,
    CUSTOMER_TOTAL,
    STAFF_HIT,
)

#: KPI (rollup column) → the ledger kinds it counts and each one's sign. ``gmv_fen`` and
#: ``refund_fen`` add the facts' amounts; the rest add one per fact.
LEDGER_KPIS: dict[str, dict[str, int]] = {
    "friends_new": {"friend_added": 1},
    "friends_deleted_by_customer": {"friend_deleted_by_customer": 1},
    "friends_deleted_by_staff": {"friend_deleted_by_staff": 1},
    "friends_net": {"friend_added": 1, "friend_deleted_by_customer": -1,
                    "friend_deleted_by_staff": -1},
    "messages_received": {"message_received": 1},
    "messages_sent": {"message_sent": 1},
    "orders_paid": {"order_paid": 1},
    "gmv_fen": {"order_paid": 1},
    "refunds": {"order_refunded": 1},
    "refund_fen": {"order_refunded": 1},
    "moments_posts": {"moment_posted": 1},
    "greetings_sent": {"greeting_sent": 1},
    "follow_ups": {"follow_up": 1},
    "sensitive_word_hits": {STAFF_HIT: 1},
    **{kpi: {CUSTOMER_HIT: 1} for kpi in (CUSTOMER_TOTAL, *CATEGORY_KPIS)},
}
AMOUNT_KPIS = frozenset({"gmv_fen", "refund_fen"})
#: KPIs whose facts are the member's answered waits (``staff_kpi_wait``), not ledger rows.
WAIT_KPIS = frozenset({"first_responses"})
LINEAGE_KPIS = frozenset(LEDGER_KPIS) | WAIT_KPIS

_CREDITED = """
credited AS (  -- the (staff, day) pairs staff_kpi_rollup sums for this selection
    SELECT s AS staff_id, NULL::timestamptz AS since, NULL::timestamptz AS until,
           NULL::text AS ended_reason
    FROM unnest(%(staff)s::text[]) s WHERE %(department)s::text IS NULL
    UNION ALL
    SELECT a.staff_id::text, a.since, a.until, a.ended_reason FROM staff_assignment a
    WHERE a.department = %(department)s
      AND a.since < ((%(to)s::date + 1)::timestamp AT TIME ZONE 'Asia/Shanghai')
      AND (a.until IS NULL OR a.until > (%(from)s::timestamp AT TIME ZONE 'Asia/Shanghai'))
)"""
_HELD = """
    (c.since IS NULL OR (c.since < ((f.day + 1)::timestamp AT TIME ZONE 'Asia/Shanghai')
      AND (c.until IS NULL OR c.until >= ((f.day + 1)::timestamp AT TIME ZONE 'Asia/Shanghai')
           OR (c.ended_reason = 'left'
               AND c.until > (f.day::timestamp AT TIME ZONE 'Asia/Shanghai')))))"""

_LEDGER = f"""
WITH {_CREDITED}
SELECT f.position, f.kind, f.staff_id, f.customer_id, f.at, f.day, f.channel, f.amount_fen,
       NULL::integer AS response_seconds, h.categories, p.current_staff_ids
FROM credited c JOIN staff_kpi_ledger f ON f.staff_id = c.staff_id
-- by name through JSON: a version-4 ledger (still live while version 5 is built beside it)
-- has no categories column, and its lineage reads them as null (as for facts not hits)
CROSS JOIN LATERAL (SELECT array_agg(x.k ORDER BY x.n) AS categories
    FROM jsonb_array_elements_text(CASE jsonb_typeof(to_jsonb(f) -> 'categories')
         WHEN 'array' THEN to_jsonb(f) -> 'categories' END) WITH ORDINALITY AS x(k, n)) h
LEFT JOIN customer_profile p ON p.customer_id = f.customer_id
WHERE f.kind = ANY(%(kinds)s) AND f.day BETWEEN %(from)s AND %(to)s AND f.position > %(after)s
  AND {_HELD}
  AND (NOT %(by_category)s OR EXISTS (  -- a breakdown KPI: the hits of its category
      SELECT 1 FROM unnest(h.categories) k
      WHERE CASE WHEN %(category)s::text IS NULL THEN k <> ALL(%(built_in)s::text[])
                 ELSE k = %(category)s END))
ORDER BY f.position LIMIT %(limit)s
"""
_WAITS = f"""
WITH {_CREDITED}
SELECT f.opened_position AS position, 'first_response' AS kind, f.staff_id, f.customer_id,
       f.opened_at AS at, f.day, NULL::text AS channel, NULL::bigint AS amount_fen,
       f.response_seconds, NULL::text[] AS categories, p.current_staff_ids
FROM credited c JOIN staff_kpi_wait f ON f.staff_id = c.staff_id
LEFT JOIN customer_profile p ON p.customer_id = f.customer_id
WHERE f.answered_at IS NOT NULL AND f.day BETWEEN %(from)s AND %(to)s
  AND f.opened_position > %(after)s AND {_HELD}
ORDER BY f.opened_position LIMIT %(limit)s
"""


async def lineage(pool: AsyncPool, kpi: str, staff_id: str | None, department: str | None,
                  first_day: date, last_day: date, after: int, limit: int) -> list[Row]:
    """The facts after log position ``after`` (at most ``limit``) that make ``kpi`` for one
    member or department over [first_day, last_day], in log order."""
    params = {"staff": [] if staff_id is None else [staff_id], "department": department,
              "from": first_day, "to": last_day, "after": after, "limit": limit,
              "kinds": sorted(LEDGER_KPIS.get(kpi, {})), "by_category": kpi in CATEGORY_KPIS,
              "category": CATEGORY_KPIS.get(kpi), "built_in": sorted(BUILT_IN_CATEGORIES)}
    return await fetch_all(pool, _WAITS if kpi in WAIT_KPIS else _LEDGER, params)
