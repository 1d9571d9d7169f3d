"""Reads of the product library and its sales (docs/products.md, "Sales").

Sales are the lines of orders paid in a period (business time), grouped by product (SKU)
or by the library's category of the SKU — cut to its first ``level`` segments, so level 1
rolls ``apparel:shoes`` up into ``apparel``. Lines whose SKU the library does not list are
grouped under a null key ("unlisted"). For each group: orders, buyers, units, gross (the
paid amounts allocated to the lines), refunded (every refund of those orders recorded so
far, shared among an order's lines in proportion to their gross) and net = gross -
refunded. With an activity, only the orders its attribution credits to it (the same
orders as its GMV, :mod:`projections.activities.queries`) and, when it names products,
only their lines.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from projections.activities.queries import ATTRIBUTED
from projections.reads import AsyncPool, Row, fetch_all, fetch_one

GroupBy = Literal["product", "category"]


async def categories(pool: AsyncPool) -> list[Row]:
    return await fetch_all(pool, "SELECT * FROM product_category ORDER BY code")


async def product(pool: AsyncPool, sku: str) -> Row | None:
    return await fetch_one(pool, "SELECT * FROM product WHERE sku = %s", (sku,))


async def products(pool: AsyncPool, *, category: str | None, include_delisted: bool,
                   after: str | None, limit: int) -> list[Row]:
    """Products in SKU order, keyset-paginated on the SKU; a category includes those
    under it."""
    return await fetch_all(
        pool, "SELECT * FROM product WHERE (%(all)s OR listed) "
        "AND (%(cat)s::text IS NULL OR category = %(cat)s OR category LIKE %(under)s) "
        "AND (%(after)s::text IS NULL OR sku > %(after)s) ORDER BY sku LIMIT %(limit)s",
        {"all": include_delisted, "cat": category, "under": _under(category),
         "after": after, "limit": limit})


def _under(category: str | None) -> str | None:
    # category codes hold no LIKE wildcards (domain.product.check_category), but '_' does
    return None if category is None else category.replace("_", "\\_") + ":%"


_LINES = """
lib AS (
    SELECT p.sku, p.name, p.category, {key} AS key FROM product p),
line AS (
    SELECT l.customer_id, l.order_id, l.quantity, l.gmv_fen, l.order_amount_fen, lib.name,
           lib.sku IS NOT NULL AS listed, {line_key} AS key
    FROM order_line l LEFT JOIN lib ON lib.sku = l.sku
    WHERE l.paid_at >= %(from)s AND l.paid_at < %(to)s
      AND (%(cat)s::text IS NULL OR lib.category = %(cat)s OR lib.category LIKE %(under)s)
      {activity}),
per_order AS (
    SELECT key, customer_id, order_id, bool_and(listed) AS listed, min(name) AS name,
           sum(quantity) AS units, sum(gmv_fen) AS gross_fen,
           min(order_amount_fen) AS order_amount_fen
    FROM line GROUP BY key, customer_id, order_id),
refund AS (
    SELECT customer_id, order_id, sum(amount_fen) AS amount_fen
    FROM order_refund GROUP BY customer_id, order_id),
shared AS (
    SELECT o.*, CASE WHEN o.order_amount_fen > 0
                     THEN coalesce(r.amount_fen, 0) * o.gross_fen / o.order_amount_fen
                     ELSE 0 END AS refunded_fen
    FROM per_order o LEFT JOIN refund r USING (customer_id, order_id))
SELECT key, bool_and(listed) AS listed, min(name) AS name, count(*) AS orders,
       count(DISTINCT customer_id) AS buyers, sum(units) AS units,
       sum(gross_fen) AS gross_fen, sum(refunded_fen) AS refunded_fen,
       sum(gross_fen) - sum(refunded_fen) AS net_fen
FROM shared GROUP BY key
ORDER BY sum(gross_fen) - sum(refunded_fen) DESC, key NULLS LAST
"""

_ACTIVITY_LINES = """
      AND (l.customer_id, l.order_id) IN (SELECT customer_id, order_id FROM paid)
      AND (SELECT cardinality(products) = 0 OR l.sku = ANY (products) FROM a)"""

#: The group key of a listed product, and of a line (unlisted SKUs: by SKU, or none).
_KEYS = {"product": ("p.sku", "l.sku"),
         "category": ("array_to_string((string_to_array(p.category, ':'))[1:%(level)s], ':')",
                      "lib.key")}


async def sales(pool: AsyncPool, *, by: GroupBy, starts_at: datetime, ends_at: datetime,
                level: int = 4, category: str | None = None,
                activity_id: UUID | None = None) -> list[Row]:
    """One row per product or category (see the module), best-selling first."""
    key, line_key = _KEYS[by]
    lines = _LINES.format(key=key, line_key=line_key,
                          activity="" if activity_id is None else _ACTIVITY_LINES)
    sql = ("WITH " + lines if activity_id is None
           else ATTRIBUTED.rstrip() + ",\n" + lines)
    return await fetch_all(pool, sql, {"from": starts_at, "to": ends_at, "cat": category,
                                       "under": _under(category), "level": level,
                                       "id": activity_id})
