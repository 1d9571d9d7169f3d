"""Reads of content and its figures (docs/content.md, "Figures").

For a period ``[from, to)`` (business time), per piece, author, operator or kind:

* **produced** — pieces published in the period;
* **views**, **readers**, **seconds** — ``CONTENT_VIEWED`` events, distinct viewers and their
  reported time; **forwards**, **comments** — the other two content events; all in the period;
* **credited** facts, last touch: a friend add or an official-account follow in the period is
  credited to the piece its customer viewed last in the 24 hours up to it; an order paid in
  the period to the piece viewed last in the 7 days up to the payment; **GMV** is those
  orders' paid amounts less every refund of them recorded so far.

Events name pieces by reference; a reference no piece is registered under is grouped by
itself (per piece) or under a null key (per author, per kind).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from projections.reads import AsyncPool, Row, fetch_all, fetch_one

GroupBy = Literal["piece", "author", "operator", "kind"]
#: The last-touch windows: follows and friend adds, and paid orders.
FOLLOW_WINDOW, ORDER_WINDOW = "1 day", "7 days"

_FILTER = ("(%(kind)s::text IS NULL OR p.kind = %(kind)s) "
           "AND (%(author)s::text IS NULL OR p.author_id = %(author)s)")
_KEYS = {"piece": "{ref}", "author": "p.author_id", "operator": "p.operator_id",
         "kind": "p.kind"}

_FIGURES = """
WITH made AS (
    SELECT {made_key} AS key, count(*) AS produced FROM content p
    WHERE p.published_at >= %(from)s AND p.published_at < %(to)s AND {filter}
    GROUP BY 1),
eng AS (
    SELECT {eng_key} AS key,
           count(*) FILTER (WHERE e.action = 'view') AS views,
           count(DISTINCT e.customer_id) FILTER (WHERE e.action = 'view') AS readers,
           coalesce(sum(e.seconds) FILTER (WHERE e.action = 'view'), 0) AS seconds,
           count(*) FILTER (WHERE e.action = 'forward') AS forwards,
           count(*) FILTER (WHERE e.action = 'comment') AS comments
    FROM content_engagement e LEFT JOIN content p ON p.reference = e.reference
    WHERE e.occurred_at >= %(from)s AND e.occurred_at < %(to)s AND {filter}
    GROUP BY 1),
credited AS (
    SELECT c.kind, c.customer_id, c.order_id, c.amount_fen, v.reference
    FROM content_conversion c
    CROSS JOIN LATERAL (
        SELECT e.reference FROM content_engagement e
        WHERE e.customer_id = c.customer_id AND e.action = 'view'
          AND e.occurred_at <= c.occurred_at
          AND e.occurred_at > c.occurred_at - CASE WHEN c.kind = 'pay'
              THEN interval '{order_window}' ELSE interval '{follow_window}' END
        ORDER BY e.occurred_at DESC, e.position DESC LIMIT 1) v
    WHERE c.occurred_at >= %(from)s AND c.occurred_at < %(to)s AND c.kind <> 'refund'),
refund AS (
    SELECT customer_id, order_id, sum(amount_fen) AS amount_fen FROM content_conversion
    WHERE kind = 'refund' GROUP BY customer_id, order_id),
won AS (
    SELECT {eng_key} AS key,
           count(*) FILTER (WHERE e.kind = 'friend_add') AS friend_adds,
           count(*) FILTER (WHERE e.kind = 'follow') AS follows,
           count(*) FILTER (WHERE e.kind = 'pay') AS orders,
           coalesce(sum(e.amount_fen - coalesce(r.amount_fen, 0))
                    FILTER (WHERE e.kind = 'pay'), 0) AS gmv_fen
    FROM credited e LEFT JOIN content p ON p.reference = e.reference
    LEFT JOIN refund r ON r.customer_id = e.customer_id AND r.order_id = e.order_id
    WHERE {filter}
    GROUP BY 1)
SELECT key, sum(produced) AS produced, sum(views) AS views, sum(readers) AS readers,
       sum(seconds) AS seconds, sum(forwards) AS forwards, sum(comments) AS comments,
       sum(friend_adds) AS friend_adds, sum(follows) AS follows, sum(orders) AS orders,
       sum(gmv_fen) AS gmv_fen
FROM (SELECT key, produced, 0 AS views, 0 AS readers, 0 AS seconds, 0 AS forwards,
             0 AS comments, 0 AS friend_adds, 0 AS follows, 0 AS orders, 0 AS gmv_fen
      FROM made
      UNION ALL
      SELECT key, 0, views, readers, seconds, forwards, comments, 0, 0, 0, 0 FROM eng
      UNION ALL
      SELECT key, 0, 0, 0, 0, 0, 0, friend_adds, follows, orders, gmv_fen FROM won) x
GROUP BY key ORDER BY sum(views) DESC, key NULLS LAST
"""

_CADENCE = """
SELECT c.kind, c.author_id, c.per_week,
       c.per_week * extract(epoch FROM (%(to)s::timestamptz - %(from)s::timestamptz))
           / 604800 AS planned,
       (SELECT count(*) FROM content p
        WHERE p.kind = c.kind AND (c.author_id IS NULL OR p.author_id = c.author_id)
          AND p.published_at >= %(from)s AND p.published_at < %(to)s) AS produced
FROM content_cadence c ORDER BY c.kind, c.author_id NULLS FIRST
"""


async def piece(pool: AsyncPool, reference: str) -> Row | None:
    return await fetch_one(pool, "SELECT * FROM content WHERE reference = %s", (reference,))


async def pieces(pool: AsyncPool, *, kind: str | None, author: str | None,
                 include_withdrawn: bool, limit: int) -> list[Row]:
    return await fetch_all(
        pool, "SELECT * FROM content p WHERE " + _FILTER
        + " AND (%(all)s OR withdrawn_at IS NULL) ORDER BY published_at DESC, reference "
        "LIMIT %(limit)s", {"kind": kind, "author": author, "all": include_withdrawn,
                            "limit": limit})


async def figures(pool: AsyncPool, *, by: GroupBy, starts_at: datetime, ends_at: datetime,
                  kind: str | None = None, author: str | None = None) -> list[Row]:
    """One row per piece, author or kind (see the module), most viewed first."""
    sql = _FIGURES.format(made_key=_KEYS[by].format(ref="p.reference"),
                          eng_key=_KEYS[by].format(ref="e.reference"), filter=_FILTER,
                          order_window=ORDER_WINDOW, follow_window=FOLLOW_WINDOW)
    return await fetch_all(pool, sql, {"from": starts_at, "to": ends_at, "kind": kind,
                                       "author": author})


async def cadence(pool: AsyncPool, starts_at: datetime, ends_at: datetime) -> list[Row]:
    """Each cadence plan, the pieces it plans over the period and those published."""
    return await fetch_all(pool, _CADENCE, {"from": starts_at, "to": ends_at})
