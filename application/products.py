"""The product library (商品库): categories, and products listed, revised, delisted.

Products and categories change rarely and from any process: each change reads them fresh
from the store, decides, saves, and decides again on a storage conflict (two processes
listing one SKU at once: the second revises what the first listed). ``put`` is an upsert
(list, or revise when the SKU is listed already), so an import run twice records nothing
the second time. A product's category must be defined first (``UNKNOWN_CATEGORY``), and
a category's parent before it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from application.unit_of_work import EventStore, UnitOfWork
from domain.errors import DomainError, InvalidInput
from domain.product import (
    Product,
    ProductCategory,
    ProductSpec,
    UnknownCategory,
    UnknownProduct,
    check_category,
    check_sku,
    parent_of,
)

MAX_IMPORT = 500
Outcome = Literal["listed", "revised", "unchanged"]


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One row of an import: its outcome, or the refusal's code, message and field."""

    index: int
    sku: str
    outcome: Outcome | Literal["rejected"]
    code: str | None = None
    message: str | None = None
    field: str | None = None
    position: int | None = None  # of what the row recorded


class Products:
    def __init__(self, store: EventStore) -> None:
        self.store = store

    # -- categories
    def define_category(self, code: str, name: str, by: str, occurred_at: datetime
                        ) -> int | None:
        """Define a category, or rename it when it exists; None when nothing changes."""
        checked = check_category(code, "code")

        def decide(unit: UnitOfWork[ProductCategory]) -> None:
            found = self.store.find(ProductCategory.create_id(checked), ProductCategory,
                                    fresh=True)
            if found is not None:
                if found.rename(name, by, occurred_at):
                    unit.add(found)
                return
            parent = parent_of(checked)
            if parent is not None and not self._category_exists(parent):
                raise UnknownCategory(f"define the parent category {parent!r} first",
                                      field="code")
            unit.add(ProductCategory.define(checked, name, by, occurred_at))

        return self.store.transact(ProductCategory, decide)[1]

    def _category_exists(self, code: str) -> bool:
        found = self.store.find(ProductCategory.create_id(code), ProductCategory)
        return found is not None

    # -- products
    def put(self, spec: ProductSpec, by: str, occurred_at: datetime
            ) -> tuple[Outcome, int | None]:
        """List the product, or revise it when its SKU is listed already."""
        checked = spec.checked()
        if not self._category_exists(checked.category):
            raise UnknownCategory(f"no category {checked.category!r}", field="category")

        def decide(unit: UnitOfWork[Product]) -> Outcome:
            found = self.store.find(Product.create_id(checked.sku), Product, fresh=True)
            if found is None:
                unit.add(Product.list(checked, by, occurred_at))
                return "listed"
            if found.revise(checked, by, occurred_at):
                unit.add(found)
                return "revised"
            return "unchanged"

        return self.store.transact(Product, decide)

    def import_products(self, specs: Sequence[ProductSpec], by: str, occurred_at: datetime
                        ) -> list[ImportRow]:
        """``put`` each row on its own: a refused row names its reason, the others stand."""
        if len(specs) > MAX_IMPORT:
            raise InvalidInput(f"at most {MAX_IMPORT} products per import", field="products")
        rows: list[ImportRow] = []
        for index, spec in enumerate(specs):
            try:
                outcome, position = self.put(spec, by, occurred_at)
            except DomainError as error:
                rows.append(ImportRow(index, spec.sku, "rejected", error.code, error.message,
                                      error.field))
            else:
                rows.append(ImportRow(index, spec.sku, outcome, position=position))
        return rows

    def delist(self, sku: str, reason: str, by: str, occurred_at: datetime) -> int | None:
        return self._change(sku, lambda p: p.delist(reason, by, occurred_at))

    def relist(self, sku: str, by: str, occurred_at: datetime) -> int | None:
        return self._change(sku, lambda p: p.relist(by, occurred_at))

    def _change(self, sku: str, change: Callable[[Product], bool]) -> int | None:
        checked = check_sku(sku)

        def decide(unit: UnitOfWork[Product]) -> None:
            found = self.store.find(Product.create_id(checked), Product, fresh=True)
            if found is None:
                raise UnknownProduct(f"no product with SKU {checked!r}", field="sku")
            if change(found):
                unit.add(found)

        return self.store.transact(Product, decide)[1]
