"""``product`` and ``product_category`` (the library as it stands), ``order_line`` (one row
per item of a paid order) and ``order_refund`` (one row per refund).

:func:`order_lines` is the pure mapping from ``ORDER_PAID`` to its lines, with the order's
paid amount shared among them by line value (quantity * unit price; by quantity when every
line is free), the last line taking the remainder so the shares sum to the amount exactly.
Lines and refunds are keyed by log position, inserted ``ON CONFLICT DO NOTHING``: a replay
adds nothing and a rebuild gives the same rows. The library is joined to the lines when
sales are read (:mod:`.queries`), so sales follow the library as it stands.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from eventsourcing.application import Application
from psycopg import Cursor
from psycopg.rows import DictRow

from domain.customer import Customer
from domain.product import Product, ProductCategory, parent_of
from projections.position_rows import insert_once
from projections.postgres_views import fold_page
from projections.schema_lock import serialise_ddl

VERSION = 1
Row = dict[str, Any]
_PLACES = Decimal("0.000001")


def _shares(amount_fen: int, weights: list[int]) -> list[Decimal]:
    total = sum(weights)
    shares = [(Decimal(amount_fen) * w / total).quantize(_PLACES) for w in weights[:-1]]
    return [*shares, Decimal(amount_fen) - sum(shares, Decimal(0))]


def order_lines(position: int, event: Any) -> list[Row]:
    """The lines of an ``ORDER_PAID`` event (none when it lists no items)."""
    items = [i for i in event.items if isinstance(i, dict)]
    if not items:
        return []
    values = [int(i["quantity"]) * int(i["price_fen"]) for i in items]
    weights = values if sum(values) > 0 else [int(i["quantity"]) for i in items]
    return [{"position": position, "line_no": n, "customer_id": event.originator_id,
             "order_id": event.order_id, "paid_at": event.occurred_at,
             "channel": event.channel, "sku": str(item["sku"]),
             "quantity": int(item["quantity"]), "price_fen": int(item["price_fen"]),
             "reported_category": item.get("category"), "order_amount_fen": event.amount_fen,
             "gmv_fen": share}
            for n, (item, share) in enumerate(zip(items, _shares(event.amount_fen, weights),
                                                  strict=True))]


def product_row(row: Row | None, event: Any, position: int) -> Row | None:
    if isinstance(event, Product.Listed):
        if row is not None:
            return row
        return {"product_id": event.originator_id, "sku": event.sku, "name": event.name,
                "category": event.category, "price_fen": event.price_fen, "listed": True,
                "listed_by": event.by, "listed_at": event.occurred_at, "revised_by": None,
                "revised_at": None, "delisted_at": None, "delist_reason": None,
                "position": position, "last_version": event.originator_version}
    if row is None or event.originator_version <= row["last_version"]:
        return row
    row = dict(row, last_version=event.originator_version)
    if isinstance(event, Product.Revised):
        row.update(name=event.name, category=event.category, price_fen=event.price_fen,
                   revised_by=event.by, revised_at=event.occurred_at)
    elif isinstance(event, Product.Delisted):
        row.update(listed=False, delisted_at=event.occurred_at, delist_reason=event.reason)
    elif isinstance(event, Product.Relisted):
        row.update(listed=True, delisted_at=None, delist_reason=None)
    return row


def category_row(row: Row | None, event: Any, position: int) -> Row | None:
    if isinstance(event, ProductCategory.Defined):
        if row is not None:
            return row
        return {"category_id": event.originator_id, "code": event.code, "name": event.name,
                "parent": parent_of(event.code), "defined_by": event.by,
                "defined_at": event.occurred_at, "renamed_at": None,
                "last_version": event.originator_version}
    if row is None or event.originator_version <= row["last_version"]:
        return row
    if isinstance(event, ProductCategory.Renamed):
        return dict(row, name=event.name, renamed_at=event.occurred_at,
                    last_version=event.originator_version)
    return dict(row, last_version=event.originator_version)


#: The sales tables' columns and their types, for a binary COPY (projections.position_rows).
ORDER_LINE = (("position", "int8"), ("line_no", "int4"), ("customer_id", "uuid"),
              ("order_id", "text"), ("paid_at", "timestamptz"), ("channel", "text"),
              ("sku", "text"), ("quantity", "int8"), ("price_fen", "int8"),
              ("reported_category", "text"), ("order_amount_fen", "int8"),
              ("gmv_fen", "numeric"))
ORDER_REFUND = (("position", "int8"), ("customer_id", "uuid"), ("order_id", "text"),
                ("amount_fen", "int8"), ("refunded_at", "timestamptz"))


class ProductLibraryView:
    name = "product"
    version = VERSION
    events = (Product, ProductCategory, Customer.OrderPaid, Customer.OrderRefunded)

    def bind(self, app: Application[Any]) -> None:
        """Folds events only."""

    def create(self, curs: Cursor[DictRow]) -> None:
        serialise_ddl(curs)
        curs.execute((Path(__file__).parent / "products.sql").read_text())

    def drop(self, curs: Cursor[DictRow]) -> None:
        curs.execute("DROP TABLE IF EXISTS product, product_category, order_line, order_refund "
                     "CASCADE")

    def clear(self, curs: Cursor[DictRow]) -> None:
        curs.execute("TRUNCATE product, product_category, order_line, order_refund")

    def apply_page(self, curs: Cursor[DictRow], events: Sequence[tuple[int, Any]]) -> None:
        lines: list[Row] = []
        refunds: list[Row] = []
        catalogue: list[tuple[int, Any]] = []
        for position, event in events:  # one pass: a page is mostly orders
            if isinstance(event, Customer.OrderPaid):
                lines.extend(order_lines(position, event))
            elif isinstance(event, Customer.OrderRefunded):
                refunds.append({"position": position, "customer_id": event.originator_id,
                                "order_id": event.order_id, "amount_fen": event.amount_fen,
                                "refunded_at": event.occurred_at})
            else:
                catalogue.append((position, event))
        fold_page(curs, "product_category", "category_id", catalogue,
                  lambda e: isinstance(e, (ProductCategory.Defined, ProductCategory.Renamed)),
                  category_row)
        fold_page(curs, "product", "product_id", catalogue,
                  lambda e: isinstance(e, (Product.Listed, Product.Event)), product_row)
        insert_once(curs, [("order_line", ORDER_LINE, lines),
                           ("order_refund", ORDER_REFUND, refunds)])
