"""Segments by product and by product-library category: a product moved to another category
re-evaluates its buyers, the live memberships equal a fresh rebuild, and both equal the rules
recomputed from the raw event log by independent code."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
from eventsourcing.persistence import StoredEvent
from psycopg.rows import dict_row

from application.app import Siyu
from domain.customer import Customer
from domain.product import ProductSpec
from projections.campaign_planning import plan_audience
from projections.campaigns import CampaignView
from projections.organisation.view import CustomerOwnershipView
from projections.postgres_views import CustomerProfileView
from projections.runner import BatchRunner
from tests.integration.projections.test_segment_sql_on_postgres import populate
from tests.integration.projections.test_segments_on_postgres import (
    assert_members_are_the_rules_at,
    assert_the_ledger_is_consistent,
    members_by_segment,
    snapshot,
    tracker_of,
)

pytestmark = pytest.mark.integration

RULES: dict[str, dict[str, Any]] = {
    "tea": {"boughtFromCategory": {"category": "tea"}},
    "green tea spenders": {"boughtFromCategory": {"category": "tea:green",
                                                  "atLeastFen": 5_000}},
    "coffee regulars": {"boughtFromCategory": {"category": "coffee", "atLeast": 2,
                                               "withinDays": 90}},
    "no cups": {"not": {"boughtFromCategory": {"category": "cups"}}},
    "cup buyers": {"boughtProduct": {"sku": "CUP-9", "atLeast": 2}},
}


def put(app: Siyu, sku: str, category: str, at: datetime) -> None:
    app.products.put(ProductSpec(sku, sku.lower(), category, 1_000), "staff:m", at)


# -- the independent recomputation ------------------------------------------------------------
def paid_orders(app: Siyu, url: str) -> dict[UUID, list[tuple[datetime, list[dict[str, Any]],
                                                                int]]]:
    """Every customer's paid orders (time, items, amount), read from the raw event log."""
    with psycopg.connect(url, row_factory=dict_row) as conn:
        stored = conn.execute("SELECT originator_id, originator_version, topic, state "
                              "FROM siyu_events ORDER BY notification_id").fetchall()
    orders: dict[UUID, list[tuple[datetime, list[dict[str, Any]], int]]] = defaultdict(list)
    for r in stored:
        event = app.mapper.to_domain_event(StoredEvent(
            r["originator_id"], r["originator_version"], r["topic"], bytes(r["state"])))
        if isinstance(event, Customer.OrderPaid):
            orders[event.originator_id].append((event.occurred_at, event.items, event.amount_fen))
    return orders


def spent_on(items: list[dict[str, Any]], amount: int, skus: set[str]) -> int | None:
    """Fen of ``amount`` spent on the lines of ``skus`` (None: the order has none): the amount
    split by line value (by quantity when all lines are free), shares rounded down, the
    last line taking what is left."""
    if not any(i["sku"] in skus for i in items):
        return None
    weights = [i["quantity"] * i["price_fen"] for i in items]
    if not any(weights):
        weights = [i["quantity"] for i in items]
    shares = [amount * w // sum(weights) for w in weights]
    shares[-1] = amount - sum(shares[:-1])
    return int(sum(s for i, s in zip(items, shares, strict=True) if i["sku"] in skus))


def holds(rule: dict[str, Any], orders: list[tuple[datetime, list[dict[str, Any]], int]],
          library: dict[str, str], at: datetime) -> bool:
    (name, value), = rule.items()
    if name == "not":
        return not holds(value, orders, library, at)
    if name == "boughtProduct":
        skus = {value["sku"]}
    else:
        skus = {s for s, c in library.items()
                if c == value["category"] or c.startswith(value["category"] + ":")}
    days = value.get("withinDays")
    spends = [spent_on(items, amount, skus) for t, items, amount in orders
              if days is None or t > at - timedelta(days=days)]
    bought = [s for s in spends if s is not None]
    return bool(len(bought) >= value.get("atLeast", 1)
                and sum(bought) >= value.get("atLeastFen", 0))


def recomputed(app: Siyu, url: str, ids: dict[str, UUID], library: dict[str, str],
               at: datetime) -> dict[UUID, set[UUID]]:
    orders = paid_orders(app, url)
    with psycopg.connect(url) as conn:
        customers = [r[0] for r in conn.execute("SELECT customer_id FROM customer_profile")]
    return {ids[name]: {c for c in customers if holds(rule, orders.get(c, []), library, at)}
            for name, rule in RULES.items()}


def audience(app: Siyu, campaign_id: UUID, at: datetime) -> set[UUID]:
    """The customers the campaign's audience planning decides about (included or not)."""
    for view in (CustomerOwnershipView(), CampaignView()):
        BatchRunner(app, view, tracker_of(app)).catch_up()
    campaign = app.campaigns.get(campaign_id)
    with app.factory.datastore.get_connection() as conn:  # type: ignore[attr-defined]
        planned = plan_audience(conn, campaign.plan(), UUID(campaign.segment_id),
                                app.campaigns.contact_policy(), at)
    return {d.customer_id for d in planned.decisions}


def test_a_product_moved_to_another_category_moves_its_buyers_and_live_equals_a_rebuild(
        pg_app: Siyu, pg_url: str, now: datetime) -> None:
    # Given a library (CUP-9 not listed yet), segments by category and product, and customers
    # who bought those SKUs (order items), projected live in small pages
    for code in ("tea", "tea:green", "coffee", "cups"):
        pg_app.products.define_category(code, code, "staff:m", now)
    library = {"TEA-LJ": "tea:green", "TEA-BLR": "tea", "COF-1": "coffee"}
    for sku, category in library.items():
        put(pg_app, sku, category, now)
    live = BatchRunner(pg_app, CustomerProfileView(), tracker_of(pg_app), page_size=50)
    populate(pg_app, now, customers=150, events=900, seed=5)
    live.catch_up()
    ids = {name: pg_app.segments.define(name, "", rule, "staff:m", now)[0]
           for name, rule in RULES.items()}
    populate(pg_app, now, customers=150, events=600, seed=6)
    tick = now + timedelta(hours=1)
    pg_app.segments.record_tick(tick)
    live.catch_up()
    # Then each segment's members are its rule recomputed from the raw events
    members = members_by_segment(pg_url)
    expected = recomputed(pg_app, pg_url, ids, library, tick)
    assert {i: members.get(i, set()) for i in ids.values()} == expected
    assert all(expected.values()), "every segment has members"
    tea_before = expected[ids["tea"]]
    campaign_id, _ = pg_app.campaigns.draft("tea lovers", "staff:m", "mini_program", ids["tea"],
                                            [{"variant_id": "a", "text": "新茶上市"}],
                                            "staff:m", now)

    # When coffee is filed under green tea, the cups are listed, and time passes
    put(pg_app, "COF-1", "tea:green", now)
    put(pg_app, "CUP-9", "cups", now)
    library.update({"COF-1": "tea:green", "CUP-9": "cups"})
    tick = now + timedelta(days=2)
    pg_app.segments.record_tick(tick)
    live.catch_up()
    # Then the buyers moved with the product: the coffee buyers are now tea buyers, the coffee
    # regulars are gone, and the cup buyers left "no cups" — by the product change itself
    members = members_by_segment(pg_url)
    expected = recomputed(pg_app, pg_url, ids, library, tick)
    assert {i: members.get(i, set()) for i in ids.values()} == expected
    assert expected[ids["tea"]] > tea_before
    assert not expected[ids["coffee regulars"]]
    with psycopg.connect(pg_url) as conn:
        causes = {r[0]: r[1] for r in conn.execute(
            "SELECT segment_id, count(*) FROM segment_ledger WHERE cause = 'PRODUCT' "
            "GROUP BY segment_id").fetchall()}
    assert {ids["tea"], ids["coffee regulars"], ids["no cups"]} <= set(causes)
    # and a campaign drafted on the tea segment before the move plans the buyers it has now
    assert audience(pg_app, campaign_id, tick) == expected[ids["tea"]]
    # and the rules in SQL against the projection's library say the same
    assert_members_are_the_rules_at(pg_url, tick)
    assert_the_ledger_is_consistent(pg_url)

    # When the projection is rebuilt from the log in pages of another size
    before = snapshot(pg_url)
    BatchRunner(pg_app, CustomerProfileView(), tracker_of(pg_app), page_size=1000).rebuild()
    # Then every segment table is the same, row for row
    after = snapshot(pg_url)
    for table in before:
        assert after[table] == before[table], table
