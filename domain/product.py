"""The product library (商品库): ``Product``, one per SKU, and the category it sits in.

A product is listed once per SKU (its stream id is derived from the SKU, which is not
personal data), revised (name, category, list price), delisted and listed again. Order
items keep naming SKUs as clients report them; the read model ``projections/products``
joins them to the library when figures are read, so a product listed or recategorised
after its orders still has its sales, under its current category (docs/products.md).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError, InvalidInput
from domain.tag_group import check_label

_NAMESPACE = uuid5(NAMESPACE_URL, "siyu:product")
MAX_SKU = 128  # as order items (domain.item_fields)
MAX_PRICE_FEN = 10**10  # a hundred million yuan
#: A category code: 1-4 segments of letters, digits, ``_`` or ``-``, joined by ``:``
#: (``apparel:shoes`` sits under ``apparel``).
_CATEGORY = re.compile(r"[^\W][\w-]{0,31}(:[^\W][\w-]{0,31}){0,3}")


class UnknownProduct(DomainError):
    code = "UNKNOWN_PRODUCT"


class UnknownCategory(DomainError):
    code = "UNKNOWN_CATEGORY"


def check_sku(value: str, field: str = "sku") -> str:
    """A SKU as order items report it: 1-128 characters, no control characters, no
    surrounding spaces (an order item's SKU is matched exactly)."""
    if not 1 <= len(value) <= MAX_SKU or value != value.strip():
        raise InvalidInput(f"{field} must be 1-{MAX_SKU} characters without surrounding "
                           "spaces", field=field)
    if any(unicodedata.category(c) in ("Cc", "Cs", "Cf") for c in value):
        raise InvalidInput(f"{field} must not contain control characters", field=field)
    return value


def check_category(value: str, field: str = "category") -> str:
    code = value.strip()
    if not _CATEGORY.fullmatch(code):
        raise InvalidInput(f"{field} must be 1-4 segments of letters, digits, _ or - joined "
                           "by ':' (each at most 32 characters), e.g. apparel:shoes",
                           field=field)
    return code


def parent_of(category: str) -> str | None:
    """``apparel:shoes`` → ``apparel``; a top-level category has no parent."""
    head, _, _ = category.rpartition(":")
    return head or None


@dataclass(frozen=True, slots=True)
class ProductSpec:
    """What a product is (validated by :meth:`checked`)."""

    sku: str
    name: str
    category: str
    price_fen: int

    def checked(self) -> ProductSpec:
        if isinstance(self.price_fen, bool) or not 0 <= self.price_fen <= MAX_PRICE_FEN:
            raise InvalidInput(f"priceFen must be 0-{MAX_PRICE_FEN}", field="priceFen")
        return ProductSpec(check_sku(self.sku), check_label(self.name, "name"),
                           check_category(self.category), self.price_fen)


class Product(Aggregate):
    class Event(Aggregate.Event):
        by: str
        occurred_at: datetime

    class Listed(Aggregate.Created):
        sku: str
        name: str
        category: str
        price_fen: int
        by: str
        occurred_at: datetime

    class Revised(Event):
        """The product as it stands after the revision (the SKU never changes)."""

        name: str
        category: str
        price_fen: int

    class Delisted(Event):
        reason: str

    class Relisted(Event):
        pass

    @staticmethod
    def create_id(sku: str) -> UUID:
        return uuid5(_NAMESPACE, sku)

    @classmethod
    def list(cls, spec: ProductSpec, by: str, occurred_at: datetime) -> Product:
        checked = spec.checked()
        return cls._create(cls.Listed, id=cls.create_id(checked.sku), sku=checked.sku,
                           name=checked.name, category=checked.category,
                           price_fen=checked.price_fen, by=by, occurred_at=occurred_at)

    @event(Listed)
    def __init__(self, sku: str, name: str, category: str, price_fen: int, by: str,
                 occurred_at: datetime) -> None:
        self.spec = ProductSpec(sku, name, category, price_fen)
        self.listed = True

    def revise(self, spec: ProductSpec, by: str, occurred_at: datetime) -> bool:
        """Replace name, category and price; False (no event) when nothing changes."""
        checked = spec.checked()
        if checked.sku != self.spec.sku:
            raise InvalidInput("a product's SKU cannot change", field="sku")
        if checked == self.spec:
            return False
        self._revise(name=checked.name, category=checked.category,
                     price_fen=checked.price_fen, by=by, occurred_at=occurred_at)
        return True

    def delist(self, reason: str, by: str, occurred_at: datetime) -> bool:
        if not self.listed:
            return False
        self._delist(reason=check_label(reason, "reason"), by=by, occurred_at=occurred_at)
        return True

    def relist(self, by: str, occurred_at: datetime) -> bool:
        if self.listed:
            return False
        self._relist(by=by, occurred_at=occurred_at)
        return True

    @event(Revised)
    def _revise(self, name: str, category: str, price_fen: int, by: str,
                occurred_at: datetime) -> None:
        self.spec = ProductSpec(self.spec.sku, name, category, price_fen)

    @event(Delisted)
    def _delist(self, reason: str, by: str, occurred_at: datetime) -> None:
        self.listed = False

    @event(Relisted)
    def _relist(self, by: str, occurred_at: datetime) -> None:
        self.listed = True


class ProductCategory(Aggregate):
    """A category of the library; its parent (the code before the last ``:``) must exist."""

    class Defined(Aggregate.Created):
        code: str
        name: str
        by: str
        occurred_at: datetime

    class Renamed(Aggregate.Event):
        name: str
        by: str
        occurred_at: datetime

    @staticmethod
    def create_id(code: str) -> UUID:
        return uuid5(_NAMESPACE, f"category:{code}")

    @classmethod
    def define(cls, code: str, name: str, by: str, occurred_at: datetime) -> ProductCategory:
        checked = check_category(code, "code")
        return cls._create(cls.Defined, id=cls.create_id(checked), code=checked,
                           name=check_label(name, "name"), by=by, occurred_at=occurred_at)

    @event(Defined)
    def __init__(self, code: str, name: str, by: str, occurred_at: datetime) -> None:
        self.code = code
        self.name = name

    def rename(self, name: str, by: str, occurred_at: datetime) -> bool:
        checked = check_label(name, "name")
        if checked == self.name:
            return False
        self._rename(name=checked, by=by, occurred_at=occurred_at)
        return True

    @event(Renamed)
    def _rename(self, name: str, by: str, occurred_at: datetime) -> None:
        self.name = name
