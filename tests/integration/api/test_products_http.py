"""The product library over HTTP: imports that record nothing twice, typed refusals, and
sales by product, category and activity recomputed from the raw event log.

The recomputation reads the stored events through the library's mapper and applies the
rules of ``docs/products.md`` ("Sales") with code of its own: exact fractions for the
shares, no read-model code.
"""

from __future__ import annotations

import math
import random
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any
from uuid import UUID

import pytest

from adapters.tokens import issue_token
from application.app import Siyu
from domain.customer import Customer
from domain.product import Product, ProductCategory
from tests.integration.api.conftest import Api
from tests.integration.api.test_activities_http import PLAN, figures, plan_input, record
from tests.integration.api.test_campaigns_http import draft
from tests.integration.api.test_segments_http import define
from tests.integration.api.test_tag_groups_http import data, error
from tests.support.directory import hire_as

pytestmark = pytest.mark.integration

CATEGORY = """mutation($c: String!, $n: String!) { defineProductCategory(code: $c, name: $n) {
  category { code name parent } projected } }"""
PUT = """mutation($p: ProductInput!) { putProduct(input: $p) {
  product { sku name category priceFen listed } outcome projected } }"""
IMPORT = """mutation($p: [ProductInput!]!) { importProducts(products: $p) {
  listed revised unchanged rejected projected results { index sku outcome code field } } }"""
DELIST = """mutation($s: String!) { delistProduct(sku: $s, reason: "停产") {
  product { listed delistReason } } }"""
RELIST = """mutation($s: String!) { relistProduct(sku: $s) { product { listed } } }"""
LIST = """query($c: String, $d: Boolean!) { products(category: $c, includeDelisted: $d) {
  edges { node { sku } } } }"""
SALES = """query($by: SalesGrouping!, $from: DateTime, $to: DateTime, $level: Int!,
  $category: String, $activity: ID) { productSales(by: $by, from: $from, to: $to,
  level: $level, category: $category, activityId: $activity) {
  key listed name orders buyers units grossFen refundedFen netFen } }"""

LIBRARY = [("tea", "茶"), ("tea:green", "绿茶"), ("tea:black", "红茶"), ("ware", "茶具")]
PRODUCTS = [("T-1", "龙井", "tea:green", 12_800), ("T-2", "碧螺春", "tea:green", 9_900),
            ("T-3", "正山小种", "tea:black", 15_000), ("W-1", "盖碗", "ware", 6_800)]
SKUS = ["T-1", "T-2", "T-3", "W-1", "X-9"]  # sold, never listed


def product(sku: str, name: str, category: str, price: int) -> dict[str, Any]:
    return {"sku": sku, "name": name, "category": category, "priceFen": price}


def stock(api: Api) -> None:
    for code, name in LIBRARY:
        data(api.gql(CATEGORY, {"c": code, "n": name}))
    body = data(api.gql(IMPORT, {"p": [product(*p) for p in PRODUCTS]}))["importProducts"]
    assert (body["listed"], body["rejected"], body["projected"]) == (4, 0, True)


def test_imports_record_nothing_twice_and_refuse_with_reasons(api: Api, pg_app: Siyu,
                                                              pg_url: str) -> None:
    # A category's parent comes first
    found = error(api.gql(CATEGORY, {"c": "tea:green", "n": "绿茶"}))
    assert (found["code"], found["field"]) == ("UNKNOWN_CATEGORY", "code")
    assert error(api.gql(CATEGORY, {"c": "tea::x", "n": "x"}))["code"] == "BAD_INPUT"
    stock(api)
    # An import run again records nothing; a bad row names its reason, the others stand
    before = pg_app.recorder.max_notification_id()
    rows = [*(product(*p) for p in PRODUCTS), product("Z-1", "x", "coffee", 100),
            product(" T-5", "x", "tea", 100), product("T-6", "x", "tea", -1)]
    body = data(api.gql(IMPORT, {"p": rows}))["importProducts"]
    assert (body["listed"], body["revised"], body["unchanged"], body["rejected"]) == (0, 0, 4, 3)
    assert [(r["outcome"], r["code"], r["field"]) for r in body["results"][4:]] == [
        ("rejected", "UNKNOWN_CATEGORY", "category"), ("rejected", "BAD_INPUT", "sku"),
        ("rejected", "BAD_INPUT", "priceFen")]
    assert pg_app.recorder.max_notification_id() == before
    # putProduct revises in place; delisting keeps it out of the default list only
    put = data(api.gql(PUT, {"p": product("T-1", "西湖龙井", "tea:green", 13_800)}))["putProduct"]
    assert put == {"product": {"sku": "T-1", "name": "西湖龙井", "category": "tea:green",
                               "priceFen": 13_800, "listed": True},
                   "outcome": "revised", "projected": True}
    assert data(api.gql(DELIST, {"s": "W-1"}))["delistProduct"]["product"] == {
        "listed": False, "delistReason": "停产"}
    skus = [e["node"]["sku"] for e in data(api.gql(LIST, {"c": None, "d": False}))["products"][
        "edges"]]
    assert skus == ["T-1", "T-2", "T-3"]
    tea = data(api.gql(LIST, {"c": "tea", "d": True}))["products"]["edges"]
    assert [e["node"]["sku"] for e in tea] == ["T-1", "T-2", "T-3"]
    assert data(api.gql(RELIST, {"s": "W-1"}))["relistProduct"]["product"]["listed"] is True
    assert error(api.gql(RELIST, {"s": "nope"}))["code"] == "UNKNOWN_PRODUCT"
    # The library is kept by managers and product operators only
    assert error(api.gql(PUT, {"p": product(*PRODUCTS[0])}, as_="staff"))["code"] == "FORBIDDEN"
    data(api.gql(LIST, {"c": None, "d": False}, as_="staff"))  # every staff member reads it
    operator = "0a6f0000-0000-4000-8000-0000000000b7"
    hire_as(pg_app, operator, "product_operator", "middle_office")
    token = issue_token(pg_url, "staff", operator, None, "tests")
    put = data(api.gql(PUT, {"p": product("T-1", "龙井", "tea:green", 12_800)}, token=token))
    assert put["putProduct"]["outcome"] == "revised"


# -- the independent recomputation -----------------------------------------------------------
def orders(seed: int, start: datetime, activity_id: str | None = None) -> list[dict[str, Any]]:
    """Paid orders of several lines (some free, some of unlisted SKUs), refunds, some inside
    [start, start + 10 days), some not."""
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    for n in range(30):
        who = {"namespace": "wx_unionid", "value": f"oPrd{seed}-{n}"}

        def add(kind: str, at: datetime, who: dict[str, str] = who, **fields: Any) -> None:
            events.append({"eventId": f"prd-{who['value']}-{len(events)}", "type": kind,
                           "customer": who, "occurredAt": at.isoformat(), **fields})

        first = start + timedelta(hours=rng.uniform(-48, 260))
        add("REGISTERED", first - timedelta(hours=1), channel="mini_program")
        if activity_id is not None and rng.random() < 0.6:
            add("ACTIVITY_JOINED", first - timedelta(minutes=30), activityId=activity_id,
                activityKind="promotion")
        for k in range(rng.randint(1, 3)):
            items = [{"sku": sku, "quantity": rng.randint(1, 3),
                      "priceFen": rng.choice([0, 990, 12_800, 6_800])}
                     for sku in rng.sample(SKUS, rng.randint(1, 3))]
            amount = rng.randint(1, 400) * 100
            at = first + timedelta(hours=k)
            add("ORDER_PAID", at, orderId=f"p{seed}-{n}-{k}", amountFen=amount, items=items,
                channel="mini_program")
            if rng.random() < 0.3:
                add("ORDER_REFUNDED", at + timedelta(days=rng.choice([1, 5])),
                    orderId=f"p{seed}-{n}-{k}", amountFen=amount // 3)
    return events


def recompute(app: Siyu, start: datetime, end: datetime, key: Any,
              only: set[tuple[UUID, str]] | None = None) -> dict[Any, dict[str, Any]]:
    """Sales per ``key(sku, category)`` from the raw log (docs/products.md, "Sales")."""
    category: dict[str, str] = {}
    sku_of: dict[UUID, str] = {}
    paid: list[Any] = []
    refunds: dict[tuple[UUID, str], int] = defaultdict(int)
    for n in app.recorder.select_notifications(start=1, limit=1_000_000):
        e = app.mapper.to_domain_event(n)
        if isinstance(e, Product.Listed):
            sku_of[e.originator_id] = e.sku
        if isinstance(e, (Product.Listed, Product.Revised)):
            category[sku_of[e.originator_id]] = e.category
        elif isinstance(e, Customer.OrderPaid) and start <= e.occurred_at < end:
            paid.append(e)
        elif isinstance(e, Customer.OrderRefunded):
            refunds[(e.originator_id, e.order_id)] += e.amount_fen
    out: dict[Any, dict[str, Any]] = defaultdict(lambda: {
        "orders": set(), "buyers": set(), "units": 0, "gross": Fraction(0), "refunded": Fraction(0)})
    for e in paid:
        order = (e.originator_id, e.order_id)
        if only is not None and order not in only:
            continue
        values = [i["quantity"] * i["price_fen"] for i in e.items]
        weights = values if sum(values) else [i["quantity"] for i in e.items]
        for item, weight in zip(e.items, weights, strict=True):
            share = Fraction(e.amount_fen * weight, sum(weights))
            group = out[key(item["sku"], category.get(item["sku"]))]
            group["orders"].add(order)
            group["buyers"].add(e.originator_id)
            group["units"] += item["quantity"]
            group["gross"] += share
            group["refunded"] += Fraction(refunds[order]) * share / e.amount_fen
    return {k: {"orders": len(v["orders"]), "buyers": len(v["buyers"]), "units": v["units"],
                "grossFen": float(v["gross"]), "netFen": float(v["gross"] - v["refunded"])}
            for k, v in out.items()}


def sales(api: Api, **variables: Any) -> dict[Any, dict[str, Any]]:
    rows = data(api.gql(SALES, {"level": 4, **variables}, as_="staff"))["productSales"]
    return {r["key"]: {k: r[k] for k in ("orders", "buyers", "units", "grossFen", "netFen")}
            for r in rows}


def assert_same(got: dict[Any, dict[str, Any]], expected: dict[Any, dict[str, Any]]) -> None:
    assert set(got) == set(expected)
    for k, figures_ in expected.items():
        for name, value in figures_.items():
            assert math.isclose(got[k][name], value, abs_tol=1e-3), (k, name, got[k], value)


def wait_for_lines(api: Api, start: datetime, end: datetime, orders_: int) -> None:
    for _ in range(200):  # recordCustomerEvents waits for customer_profile only
        rows = data(api.gql(SALES, {"by": "PRODUCT", "from": start.isoformat(),
                                    "to": end.isoformat(), "level": 4}))["productSales"]
        if sum(r["orders"] for r in rows) >= orders_:
            return
        time.sleep(0.05)


def test_sales_equal_a_recomputation_from_the_raw_log(api: Api, pg_app: Siyu) -> None:
    start = (datetime.now(UTC) - timedelta(days=20)).replace(microsecond=0)
    end = start + timedelta(days=10)
    stock(api)
    record(api, orders(5, start))
    # a product revised into another category after its sales: they follow it
    data(api.gql(PUT, {"p": product("T-2", "碧螺春", "tea:black", 9_900)}))
    by_sku = recompute(pg_app, start, end, lambda sku, _: sku)
    wait_for_lines(api, start, end, sum(v["orders"] for v in by_sku.values()))
    period = {"from": start.isoformat(), "to": end.isoformat()}
    got = sales(api, by="PRODUCT", **period)
    assert_same(got, by_sku)
    assert "X-9" in got and got["X-9"]["units"] > 0
    assert_same(sales(api, by="CATEGORY", **period),
                recompute(pg_app, start, end, lambda _, c: c))
    assert_same(sales(api, by="CATEGORY", level=1, **period),
                recompute(pg_app, start, end, lambda _, c: c and c.split(":")[0]))
    assert_same(sales(api, by="PRODUCT", category="tea", **period),
                {k: v for k, v in by_sku.items() if k in ("T-1", "T-2", "T-3")})
    # bad ranges and levels are typed
    assert error(api.gql(SALES, {"by": "PRODUCT", "level": 4}))["code"] == "BAD_INPUT"
    assert error(api.gql(SALES, {"by": "PRODUCT", "level": 5, **period}))["field"] == "level"
    assert error(api.gql(SALES, {"by": "PRODUCT", "level": 4, "from": end.isoformat(),
                                 "to": start.isoformat()}))["field"] == "to"


def test_sales_of_an_activity_are_its_gmv(api: Api, pg_app: Siyu) -> None:
    stock(api)
    campaign = draft(api, define(api, "buyers", {"ordered": {"atLeast": 1}}))
    start = (datetime.now(UTC) - timedelta(days=20)).replace(microsecond=0)
    plan = plan_input(start, campaign, channels=[], products=[])
    activity_id = data(api.gql(PLAN, {"input": plan}))["planActivity"]["activity"]["id"]
    record(api, orders(9, start, activity_id))
    total = None
    for _ in range(200):
        total = figures(api, activity_id)["total"]
        rows = data(api.gql(SALES, {"by": "PRODUCT", "level": 4, "activity": activity_id}))[
            "productSales"]
        if total["gmvFen"] and math.isclose(sum(r["netFen"] for r in rows), total["gmvFen"]):
            break
        time.sleep(0.05)
    assert total is not None and total["gmvFen"] > 0
    # every order here has items: the products' net sales sum to the activity's GMV
    assert math.isclose(sum(r["netFen"] for r in rows), total["gmvFen"])
    assert sum(r["orders"] for r in rows) >= total["orders"]
    assert error(api.gql(SALES, {"by": "PRODUCT", "level": 4,
                                 "activity": "0a6f0000-0000-4000-8000-0000000000ff"}))[
        "code"] == "NOT_FOUND"


def test_category_ids_are_not_product_ids() -> None:
    assert ProductCategory.create_id("T-1") != Product.create_id("T-1")
