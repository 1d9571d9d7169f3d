"""The product library as segment rules see it: ``segment_product`` (SKU -> category).

``boughtFromCategory`` names a library category; which SKUs that means changes when a
product is listed or moved to another category. The membership projection keeps its own
copy of the library (``segment_product``, internal, maintained in log order in the same
transaction as the memberships) and evaluates each rule *resolved* against it: every
``boughtFromCategory`` node gains ``skus``, the SKUs filed under the category or a category
under it. When a product's category changes, the buyers of that SKU are re-evaluated for
the segments whose resolution changed (:meth:`projections.segments.store.SegmentPage.
product_moved`), so the live memberships equal a rebuild's. A category's name is not part
of a rule (rules name the code), so renaming a category changes no membership.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg import Cursor
from psycopg.rows import DictRow

from domain.segment_rules import Rule
from projections.reads import AsyncPool, fetch_all

Library = Mapping[str, str]  # SKU -> category code


def within_category(category: str | None, wanted: str) -> bool:
    """``tea:green`` is within ``tea`` (and within itself)."""
    return category is not None and (category == wanted or category.startswith(wanted + ":"))


def resolved(rule: Rule, library: Library) -> Rule:
    """The rule with each ``boughtFromCategory`` node's SKUs (sorted) added as ``skus``."""
    (name, value), = rule.items()
    if name in ("all", "any"):
        return {name: [resolved(r, library) for r in value]}
    if name == "not":
        return {"not": resolved(value, library)}
    if name == "boughtFromCategory":
        skus = sorted(s for s, c in library.items() if within_category(c, value["category"]))
        return {name: {**value, "skus": skus}}
    return rule


def categories(rule: Rule) -> set[str]:
    """The categories a rule's ``boughtFromCategory`` nodes name."""
    (name, value), = rule.items()
    if name in ("all", "any"):
        return set().union(*(categories(r) for r in value))
    if name == "not":
        return categories(value)
    return {value["category"]} if name == "boughtFromCategory" else set()


def reads_category(rule: Rule, *codes: str | None) -> bool:
    """True if a product filed under any of ``codes`` counts for one of the rule's nodes."""
    return any(within_category(code, wanted) for wanted in categories(rule) for code in codes)


def load(curs: Cursor[DictRow]) -> dict[str, str]:
    curs.execute("SELECT sku, category FROM segment_product")
    return {r["sku"]: r["category"] for r in curs.fetchall()}


async def current(pool: AsyncPool, rules: list[Rule]) -> dict[str, str]:
    """The projection's library (empty when none of ``rules`` names a category)."""
    if not any(categories(r) for r in rules):
        return {}
    return {r["sku"]: r["category"]
            for r in await fetch_all(pool, "SELECT sku, category FROM segment_product")}


def placed(curs: Cursor[DictRow], product_id: Any, sku: str | None,
           category: str) -> tuple[str, str | None]:
    """Record the product's category (``sku``: when it is listed; a revision names the
    product by its id): its SKU and its category before (None: not in the library)."""
    curs.execute("SELECT sku, category FROM segment_product WHERE product_id = %s",
                 (product_id,))
    found: Any = curs.fetchone()
    if found is None and sku is None:
        raise ValueError(f"product {product_id} is revised before it is listed")
    sku = str(found["sku"]) if found is not None else sku
    curs.execute("INSERT INTO segment_product VALUES (%s, %s, %s) ON CONFLICT (product_id) "
                 "DO UPDATE SET category = excluded.category", (product_id, sku, category))
    return str(sku), None if found is None else str(found["category"])
