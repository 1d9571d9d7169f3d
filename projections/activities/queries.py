"""Reads of ``activity`` and the figures of the journey facts attributed to an activity.

The projection keeps the attribution (docs/activities.md, "Which events count") on the
activity's current plan in ``siyu_activity_fact`` (:data:`.view.ATTRIBUTE`: which facts
enter and which count); the figures are grouped from those rows when read:

* **participants** — customers with, inside the period, a journey fact that names the
  activity (``ACTIVITY_JOINED``), one of its linked campaigns (a message sent, read or
  clicked), or a channel at or under one of its channels (``qr`` covers
  ``qr:store-01``). A participant counts under the channel of their first such fact
  (``campaign:<id>`` for a campaign, ``activity`` for a join without a channel);
* **steps** — ``reach``: every participant; ``visit``, ``cart``, ``order`` (placed or
  paid) and ``pay``: participants with such a fact inside the period. Visits are content
  views, live streams, joining this activity, clicks on a linked campaign's link and
  product views; with products, product views, carts and orders count only when they hold
  one of them;
* **money** — orders paid inside the period by participants (with products: holding one
  of them): GMV is their paid amounts less every refund of those orders recorded so far.
"""

from __future__ import annotations

from uuid import UUID

from projections.reads import AsyncPool, Row, fetch_all, fetch_one

_ACTIVITY = "SELECT * FROM activity "

ATTRIBUTED = """
WITH a AS MATERIALIZED (SELECT * FROM activity WHERE activity_id = %(id)s),
f AS MATERIALIZED (SELECT * FROM siyu_activity_fact WHERE activity_id = %(id)s),
participant AS (
    SELECT DISTINCT ON (customer_id) customer_id, occurred_at AS entered_at, day,
           entry AS channel
    FROM f WHERE entry IS NOT NULL ORDER BY customer_id, occurred_at, position),
fact AS (  -- the steps after reach (reach: the participants themselves)
    SELECT f.customer_id, p.channel, s.step, f.occurred_at AS at, f.day, f.order_id, f.amount_fen
    FROM f JOIN participant p USING (customer_id)
    CROSS JOIN LATERAL (VALUES (f.step), (CASE WHEN f.step = 'pay' THEN 'order' END)) s (step)
    WHERE f.counts AND s.step IS NOT NULL),
paid AS (
    SELECT DISTINCT ON (customer_id, order_id) customer_id, channel, order_id, at, day,
           amount_fen
    FROM fact WHERE step = 'pay' ORDER BY customer_id, order_id, at),
money AS (
    SELECT p.customer_id, p.channel, p.at, p.day, p.order_id,
           p.amount_fen - coalesce((SELECT sum(r.amount_fen) FROM customer_journey r
                                    WHERE r.customer_id = p.customer_id
                                      AND r.order_id = p.order_id AND r.step = 'refund'), 0)
               AS gmv_fen
    FROM paid p)
"""

#: One statement, two parts: distinct customers per step, and buyers, orders and GMV —
#: each overall, per channel and per business day (of the fact; of payment for money). A
#: participant has one channel, so a customer counted once per step and channel is counted
#: once per step too: plain counts over de-duplicated rows, no sorted DISTINCT aggregates
#: (reach: one row per participant already, nothing to de-duplicate).
_FIGURES = ATTRIBUTED.rstrip() + """,
by_channel AS (SELECT customer_id, channel, 'reach' AS step FROM participant
               UNION ALL SELECT DISTINCT customer_id, channel, step FROM fact),
by_day AS (SELECT customer_id, 'reach' AS step, day FROM participant
           UNION ALL SELECT DISTINCT customer_id, step, day FROM fact)
SELECT 'steps' AS part, CASE WHEN GROUPING(channel) = 0 THEN 'channel' ELSE 'all' END AS slice,
       coalesce(channel, '') AS key, step, count(*) AS customers, NULL::bigint AS buyers,
       NULL::bigint AS orders, NULL::numeric AS gmv_fen
FROM by_channel GROUP BY GROUPING SETS ((step), (step, channel))
UNION ALL
SELECT 'steps', 'day', day::text, step, count(*), NULL, NULL, NULL
FROM by_day GROUP BY step, day
UNION ALL
SELECT 'money',
       CASE WHEN GROUPING(channel) = 0 THEN 'channel'
            WHEN GROUPING(day) = 0 THEN 'day' ELSE 'all' END,
       coalesce(channel, day::text, ''), NULL,
       NULL, count(DISTINCT customer_id), count(*), sum(gmv_fen)
FROM money GROUP BY GROUPING SETS ((), (channel), (day))
"""


async def activity(pool: AsyncPool, activity_id: UUID) -> Row | None:
    return await fetch_one(pool, _ACTIVITY + "WHERE activity_id = %s", (activity_id,))


async def activities(pool: AsyncPool, *, include_cancelled: bool, before: int | None,
                     limit: int) -> list[Row]:
    """Activities, newest plan first, keyset-paginated on ``position``."""
    return await fetch_all(
        pool, _ACTIVITY + "WHERE (%s OR cancelled_at IS NULL) "
        "AND (%s::bigint IS NULL OR position < %s) ORDER BY position DESC LIMIT %s",
        (include_cancelled, before, before, limit))


async def figures(pool: AsyncPool, activity_id: UUID) -> tuple[list[Row], list[Row]]:
    """The attributed step counts and money of one activity (see the module)."""
    rows = await fetch_all(pool, _FIGURES, {"id": activity_id})
    return ([r for r in rows if r["part"] == "steps"],
            [r for r in rows if r["part"] == "money"])
