"""A campaign's report, computed when read from the read models.

Groups: **recipients** (their send was recorded as sent; measured from that moment) and
the **holdout** (the random control group excluded at launch; measured from the launch).
For each: customers, reads and clicks (recipients only: the holdout was sent nothing, so
its ``read`` and ``clicked`` are null), conversions (paid orders within
``attribution_days`` of the reference time, business time), GMV of those orders, and harm
within ``harm_days``: deleted the staff member, muted, set do-not-disturb, withdrew the
marketing consent. The difference between the groups' rates is the campaign's effect;
with no holdout, only the recipients' figures are given. Orders are credited to the staff
member who owned the customer when the order was paid (``customer_owner_at``).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import DictRow

DAY = "interval '24 hours'"
HARM = ("friend_deleted", "muted", "dnd", "consent_withdrawn")

REPORT = f"""
WITH c AS (SELECT * FROM campaign WHERE campaign_id = %(id)s),
groups AS (
    SELECT s.customer_id, 'recipient' AS grp, s.outcome_at AS ref
    FROM campaign_send s WHERE s.campaign_id = %(id)s AND s.status = 'sent'
    UNION ALL
    SELECT x.customer_id, 'holdout', c.launched_at
    FROM campaign_exclusion x, c WHERE x.campaign_id = %(id)s AND x.reason = 'HOLDOUT'),
orders AS (
    SELECT g.customer_id, g.grp, u.t, u.a
    FROM groups g, c, customer_profile p, unnest(p.order_times, p.order_amounts) AS u(t, a)
    WHERE p.customer_id = g.customer_id AND u.t >= g.ref
      AND u.t < g.ref + c.attribution_days * {DAY}),
harm AS (
    SELECT g.customer_id, g.grp, e.kind
    FROM groups g, c, campaign_customer_event e
    WHERE e.customer_id = g.customer_id AND e.kind = ANY(%(harm)s) AND e.at >= g.ref
      AND e.at < g.ref + c.harm_days * {DAY}),
seen AS (
    SELECT DISTINCT e.customer_id, e.kind FROM campaign_customer_event e
    WHERE e.campaign_id = %(id)s AND e.kind IN ('read', 'clicked'))
SELECT g.grp,
       count(*) AS customers,
       CASE WHEN g.grp = 'recipient' THEN count(*) FILTER (WHERE EXISTS (
           SELECT 1 FROM seen s WHERE s.customer_id = g.customer_id AND s.kind = 'read'))
       END AS read,
       CASE WHEN g.grp = 'recipient' THEN count(*) FILTER (WHERE EXISTS (
           SELECT 1 FROM seen s WHERE s.customer_id = g.customer_id AND s.kind = 'clicked'))
       END AS clicked,
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = g.customer_id
                                      AND o.grp = g.grp)) AS converted,
       (SELECT count(*) FROM orders o WHERE o.grp = g.grp) AS orders,
       (SELECT coalesce(sum(o.a), 0) FROM orders o WHERE o.grp = g.grp) AS gmv_fen,
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM harm h WHERE h.customer_id = g.customer_id
                                      AND h.grp = g.grp)) AS harmed,
       (SELECT count(DISTINCT h.customer_id) FROM harm h WHERE h.grp = g.grp
        AND h.kind = 'friend_deleted') AS deleted,
       (SELECT count(DISTINCT h.customer_id) FROM harm h WHERE h.grp = g.grp
        AND h.kind = 'muted') AS muted,
       (SELECT count(DISTINCT h.customer_id) FROM harm h WHERE h.grp = g.grp
        AND h.kind IN ('dnd', 'consent_withdrawn')) AS opted_out
FROM groups g GROUP BY g.grp
"""

BY_STAFF = f"""
WITH c AS (SELECT * FROM campaign WHERE campaign_id = %(id)s)
SELECT coalesce(customer_owner_at(s.customer_id, u.t), '') AS staff_id,
       count(*) AS orders, sum(u.a) AS gmv_fen
FROM campaign_send s, c, customer_profile p, unnest(p.order_times, p.order_amounts) AS u(t, a)
WHERE s.campaign_id = %(id)s AND s.status = 'sent' AND p.customer_id = s.customer_id
  AND u.t >= s.outcome_at AND u.t < s.outcome_at + c.attribution_days * {DAY}
GROUP BY 1 ORDER BY gmv_fen DESC, staff_id
"""


async def report(conn: AsyncConnection[DictRow], campaign_id: UUID
                 ) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Figures per group (``recipient``, ``holdout``) and orders/GMV per crediting staff."""
    cur = await conn.execute(REPORT, {"id": campaign_id, "harm": list(HARM)})
    groups = {r["grp"]: dict(r) for r in await cur.fetchall()}
    cur = await conn.execute(BY_STAFF, {"id": campaign_id})
    return groups, [dict(r) for r in await cur.fetchall()]
