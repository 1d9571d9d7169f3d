"""The product library (商品库) over GraphQL: categories, products, imports, and sales by
product, by category and by activity.

Company managers and product operators (商品运营) write the library; every staff member
reads it and its sales (figures only, no personal data). Reads come from ``product``,
``product_category``, ``order_line`` and ``order_refund``; docs/products.md defines them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from api.commands import run_command
from api.context import Context
from api.errors import BAD_INPUT, NOT_FOUND, ApiError, forbidden
from api.policy import Access
from api.projection_wait import caught_up
from api.types import Long, PageInfo, to_uuid
from domain.product import ProductSpec
from projections.activities import queries as activity_queries
from projections.products import queries

VIEW = "product"
MAX_PAGE = 200
LONGEST_RANGE = timedelta(days=400)
WRITER_ROLES = frozenset({"product_operator"})
_CODES = {"INVALID_INPUT": BAD_INPUT}
Row = dict[str, Any]


@strawberry.type(description="A category of the library (read model `product_category`).")
class ProductCategory:
    code: str = strawberry.field(description="`apparel:shoes` sits under `apparel`.")
    name: str
    parent: str | None
    defined_at: datetime

    @classmethod
    def from_row(cls, row: Row) -> ProductCategory:
        return cls(code=row["code"], name=row["name"], parent=row["parent"],
                   defined_at=row["defined_at"])


@strawberry.type(description="A product of the library (read model `product`).")
class Product:
    sku: str
    name: str
    category: str
    price_fen: Long = strawberry.field(description="List price in fen.")
    listed: bool = strawberry.field(description="False: delisted (its sales still count).")
    listed_at: datetime
    revised_at: datetime | None
    delisted_at: datetime | None
    delist_reason: str | None

    @classmethod
    def from_row(cls, row: Row) -> Product:
        return cls(sku=row["sku"], name=row["name"], category=row["category"],
                   price_fen=Long(row["price_fen"]), listed=row["listed"],
                   listed_at=row["listed_at"], revised_at=row["revised_at"],
                   delisted_at=row["delisted_at"], delist_reason=row["delist_reason"])


@strawberry.type
class ProductEdge:
    cursor: str
    node: Product


@strawberry.type
class ProductConnection:
    edges: list[ProductEdge]
    page_info: PageInfo


@strawberry.enum
class SalesGrouping(Enum):
    PRODUCT = "product"
    CATEGORY = "category"


@strawberry.type(description="Sales of one product or category (docs/products.md, "
                             "\"Sales\"). Amounts are unrounded shares of orders' paid "
                             "amounts, in fen.")
class ProductSalesRow:
    key: str | None = strawberry.field(
        description="The SKU, or the category cut to `level`; null: SKUs the library does "
                    "not list.")
    listed: bool
    name: str | None = strawberry.field(description="The product's name (by PRODUCT).")
    orders: int
    buyers: int
    units: Long
    gross_fen: float
    refunded_fen: float
    net_fen: float

    @classmethod
    def from_row(cls, row: Row) -> ProductSalesRow:
        return cls(key=row["key"], listed=bool(row["listed"]), name=row["name"],
                   orders=int(row["orders"]), buyers=int(row["buyers"]),
                   units=Long(int(row["units"])), gross_fen=float(row["gross_fen"]),
                   refunded_fen=float(row["refunded_fen"]), net_fen=float(row["net_fen"]))


@strawberry.input(description="A product: SKU (as order items name it), name, category "
                              "(defined first) and list price.")
class ProductInput:
    sku: str
    name: str
    category: str
    price_fen: Long

    def spec(self) -> ProductSpec:
        return ProductSpec(self.sku, self.name, self.category, int(self.price_fen))


@strawberry.type
class ProductPayload:
    product: Product | None
    outcome: str | None = strawberry.field(
        description="putProduct: listed | revised | unchanged.")
    projected: bool


@strawberry.type
class ProductCategoryPayload:
    category: ProductCategory | None
    projected: bool


@strawberry.type(description="One import row: its outcome, or why it was refused.")
class ProductImportResult:
    index: int
    sku: str
    outcome: str = strawberry.field(description="listed | revised | unchanged | rejected")
    code: str | None
    message: str | None
    field: str | None


@strawberry.type
class ImportProductsPayload:
    listed: int
    revised: int
    unchanged: int
    rejected: int
    results: list[ProductImportResult]
    projected: bool


def _writer(info: Info[Context, None]) -> None:
    principal = info.context.principal
    if not (principal.access is Access.COMPANY_MANAGER or principal.role in WRITER_ROLES):
        raise forbidden("the product library is kept by managers and product operators")


async def _run(command: Callable[[], Any]) -> Any:
    return await run_command(command, _CODES)


async def _product(info: Info[Context, None], sku: str, position: int | None,
                   outcome: str | None = None) -> ProductPayload:
    done = await caught_up(info, VIEW, position)
    row = await queries.product(info.context.services.read_models.pool, sku.strip())
    return ProductPayload(product=Product.from_row(row) if row else None, outcome=outcome,
                          projected=done)


async def _period(info: Info[Context, None], starts_at: datetime | None,
                  ends_at: datetime | None, activity_id: strawberry.ID | None
                  ) -> tuple[datetime, datetime]:
    if activity_id is not None and (starts_at is None or ends_at is None):
        row = await activity_queries.activity(info.context.services.read_models.pool,
                                              to_uuid(activity_id, "activityId"))
        if row is None:
            raise ApiError(NOT_FOUND, f"no activity {activity_id}", field="activityId")
        starts_at = starts_at or row["starts_at"]
        ends_at = ends_at or row["ends_at"]
    if starts_at is None or ends_at is None:
        raise ApiError(BAD_INPUT, "give from and to (or an activityId)",
                       field="from" if starts_at is None else "to")
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise ApiError(BAD_INPUT, "from and to need a time zone", field="from")
    if not starts_at < ends_at <= starts_at + LONGEST_RANGE:
        raise ApiError(BAD_INPUT, f"to must be after from, at most {LONGEST_RANGE.days} days "
                                  "later", field="to")
    return starts_at, ends_at


@strawberry.type
class ProductQuery:
    @strawberry.field(description="Every category of the library, by code.")
    async def product_categories(self, info: Info[Context, None]) -> list[ProductCategory]:
        rows = await queries.categories(info.context.services.read_models.pool)
        return [ProductCategory.from_row(r) for r in rows]

    @strawberry.field(description="Products by SKU; category: that category and those under "
                                  "it.")
    async def products(self, info: Info[Context, None], category: str | None = None,
                       include_delisted: bool = False, first: int = 50,
                       after: str | None = None) -> ProductConnection:
        if not 1 <= first <= MAX_PAGE:
            raise ApiError(BAD_INPUT, f"first must be between 1 and {MAX_PAGE}", field="first")
        rows = await queries.products(info.context.services.read_models.pool,
                                      category=category, include_delisted=include_delisted,
                                      after=after, limit=first + 1)
        edges = [ProductEdge(cursor=r["sku"], node=Product.from_row(r)) for r in rows[:first]]
        return ProductConnection(edges=edges, page_info=PageInfo(
            has_next_page=len(rows) > first, end_cursor=edges[-1].cursor if edges else None))

    @strawberry.field(description="One product by SKU (null if the library does not list it).")
    async def product(self, info: Info[Context, None], sku: str) -> Product | None:
        row = await queries.product(info.context.services.read_models.pool, sku)
        return Product.from_row(row) if row else None

    @strawberry.field(description="Sales of orders paid in [from, to) (business time) by "
                                  "product or category, best-selling first; level cuts "
                                  "categories to their first segments; activityId: only the "
                                  "orders credited to that activity (its period by default).")
    async def product_sales(self, info: Info[Context, None], by: SalesGrouping,
                            from_: Annotated[datetime | None,
                                             strawberry.argument(name="from")] = None,
                            to: datetime | None = None, level: int = 4,
                            category: str | None = None,
                            activity_id: strawberry.ID | None = None) -> list[ProductSalesRow]:
        if not 1 <= level <= 4:
            raise ApiError(BAD_INPUT, "level must be 1-4", field="level")
        starts_at, ends_at = await _period(info, from_, to, activity_id)
        rows = await queries.sales(
            info.context.services.read_models.pool, by=by.value, starts_at=starts_at,
            ends_at=ends_at, level=level, category=category,
            activity_id=None if activity_id is None else to_uuid(activity_id, "activityId"))
        return [ProductSalesRow.from_row(r) for r in rows]


@strawberry.type
class ProductMutation:
    @strawberry.mutation(description="Define a category (its parent first), or rename it.")
    async def define_product_category(self, info: Info[Context, None], code: str, name: str
                                      ) -> ProductCategoryPayload:
        _writer(info)
        app, by = info.context.services.app, info.context.principal.actor
        position = await _run(lambda: app.products.define_category(code, name, by,
                                                                   datetime.now(UTC)))
        done = await caught_up(info, VIEW, position)
        rows = await queries.categories(info.context.services.read_models.pool)
        found = [r for r in rows if r["code"] == code.strip()]
        return ProductCategoryPayload(
            category=ProductCategory.from_row(found[0]) if found else None, projected=done)

    @strawberry.mutation(description="List a product, or revise it when its SKU is listed.")
    async def put_product(self, info: Info[Context, None], input: ProductInput
                          ) -> ProductPayload:
        _writer(info)
        app, by, spec = info.context.services.app, info.context.principal.actor, input.spec()
        outcome, position = await _run(lambda: app.products.put(spec, by, datetime.now(UTC)))
        return await _product(info, input.sku, position, outcome)

    @strawberry.mutation(description="Put up to 500 products, each on its own: a refused "
                                      "row names its reason; a second run records nothing.")
    async def import_products(self, info: Info[Context, None], products: list[ProductInput]
                              ) -> ImportProductsPayload:
        _writer(info)
        app, by = info.context.services.app, info.context.principal.actor
        specs = [p.spec() for p in products]
        rows = await _run(lambda: app.products.import_products(specs, by, datetime.now(UTC)))
        done = await caught_up(info, VIEW, max((r.position for r in rows
                                                if r.position is not None), default=None))
        count = {k: sum(1 for r in rows if r.outcome == k)
                 for k in ("listed", "revised", "unchanged", "rejected")}
        return ImportProductsPayload(
            **count, projected=done,
            results=[ProductImportResult(index=r.index, sku=r.sku, outcome=r.outcome,
                                         code=None if r.code is None
                                         else _CODES.get(r.code, r.code),
                                         message=r.message, field=r.field) for r in rows])

    @strawberry.mutation(description="Delist a product; its sales still count.")
    async def delist_product(self, info: Info[Context, None], sku: str, reason: str
                             ) -> ProductPayload:
        _writer(info)
        app, by = info.context.services.app, info.context.principal.actor
        position = await _run(lambda: app.products.delist(sku, reason, by, datetime.now(UTC)))
        return await _product(info, sku, position)

    @strawberry.mutation(description="List a delisted product again.")
    async def relist_product(self, info: Info[Context, None], sku: str) -> ProductPayload:
        _writer(info)
        app, by = info.context.services.app, info.context.principal.actor
        position = await _run(lambda: app.products.relist(sku, by, datetime.now(UTC)))
        return await _product(info, sku, position)
