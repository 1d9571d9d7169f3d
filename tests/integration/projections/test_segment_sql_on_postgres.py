"""compile_rule's SQL selects exactly the customers segment_eval.evaluate says are in."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg.rows import dict_row

from application.app import Siyu
from domain.ingestion import EventItem
from domain.items import OrderItem
from domain.segment_rules import Rule
from projections.postgres_views import CustomerProfileView
from projections.runner import BatchRunner, Tracker
from projections.segments.evaluation import evaluate
from projections.segments.rule_sql import compile_rule
from tests.support.segment_support import (
    CHANNELS,
    GROUPS,
    LEVELS,
    STAFF,
    TAGS,
    order_items,
    rules,
)

pytestmark = pytest.mark.integration

Row = dict[str, Any]


def who(n: int) -> tuple[str, str]:
    return ("wx_unionid", f"u{n}")


def populate(app: Siyu, now: datetime, customers: int, events: int,
             seed: int = 11, days: int = 200) -> None:
    """Ingest a varied history through the application, as clients would report it."""
    rng = random.Random(seed)
    items: list[EventItem] = []
    for n in range(events):
        c = rng.randrange(customers)
        at = now - timedelta(minutes=rng.randrange(60 * 24 * days))
        kind = rng.random()
        key = f"e{seed}-{n}"
        if kind < 0.15:
            item = EventItem(key, "FRIEND_ADDED", who(c), at, channel=rng.choice(CHANNELS),
                             staff_id=rng.choice(STAFF))
        elif kind < 0.23:
            item = EventItem(key, "FRIEND_DELETED", who(c), at, staff_id=rng.choice(STAFF),
                             deleted_by=rng.choice(["customer", "staff"]))
        elif kind < 0.35:
            item = EventItem(key, "TAGGED", who(c), at, tag=rng.choice(TAGS))
        elif kind < 0.39:
            item = EventItem(key, "UNTAGGED", who(c), at, tag=rng.choice(TAGS))
        elif kind < 0.46:
            item = EventItem(key, "GROUP_JOINED", who(c), at, group_id=rng.choice(GROUPS))
        elif kind < 0.49:
            item = EventItem(key, "GROUP_LEFT", who(c), at, group_id=rng.choice(GROUPS))
        elif kind < 0.53:
            item = EventItem(key, "MEMBER_REGISTERED", who(c), at, member_level=rng.choice(LEVELS))
        elif kind < 0.58:
            item = EventItem(key, "REFERRED", who(c), at, inviter=who(rng.randrange(customers)),
                             campaign_id="c1")
        elif kind < 0.75:
            item = EventItem(key, "CONTENT_VIEWED", who(c), at, channel=rng.choice(CHANNELS),
                             content_id=f"c{n % 9}")
        elif kind < 0.95:
            item = EventItem(key, "ORDER_PAID", who(c), at, channel="mall", order_id=f"o{n}",
                             amount_fen=rng.choice([0, 100, 5_000, 20_000, 60_000, 250_000]),
                             items=[OrderItem(**i) for i in order_items(rng)])
        else:
            item = EventItem(key, "ORDER_REFUNDED", who(c), at, order_id=f"o{n - 1}",
                             amount_fen=50)
        items.append(item)
        if len(items) == 400:
            app.ingestion.record_batch(items, "service:test")
            items = []
    if items:
        app.ingestion.record_batch(items, "service:test")


def profiles(url: str) -> dict[UUID, Row]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return {r["customer_id"]: dict(r) for r in conn.execute("SELECT * FROM customer_profile")}


def selected(conn: psycopg.Connection[Any], rule: Rule, at: datetime) -> set[UUID]:
    condition, params = compile_rule(rule)
    found = conn.execute(f"SELECT p.customer_id FROM customer_profile p WHERE {condition}",
                         {**params, "at": at}).fetchall()
    return {r[0] for r in found}


def test_the_sql_of_a_rule_selects_the_customers_the_python_evaluation_lets_in(
        pg_app: Siyu, pg_url: str, now: datetime) -> None:
    # Given a few hundred customers with 200 days of varied history, projected to profiles
    populate(pg_app, now, customers=300, events=3_000)
    BatchRunner(pg_app, CustomerProfileView(),
                Tracker(pg_app.factory.datastore)).catch_up()  # type: ignore[attr-defined]
    rows = profiles(pg_url)
    assert len(rows) > 250
    ordered = sorted(rows.values(), key=lambda r: r["customer_id"])
    # and the instants worth probing: now, days around it, and exact window edges of customers
    offsets = st.sampled_from([0, -200, -90, -30, -7, -1, 1, 7, 30, 90, 181, 400])
    edges = st.builds(lambda i, d, which: (ordered[i % len(ordered)], d, which),
                      st.integers(0, 10**6), st.sampled_from([7, 30, 60, 90, 180, 365]),
                      st.sampled_from(["last_interaction_at", "first_seen_at",
                                       "last_order_at", "order_times"]))

    def edge_instant(pick: tuple[Row, int, str]) -> datetime:
        row, days, column = pick
        value = row[column]
        if column == "order_times":
            value = value[min(1, len(value) - 1)] if value else None
        base: datetime = value if value is not None else row["first_seen_at"]
        return base + timedelta(days=days)

    instants = st.one_of(offsets.map(lambda d: now + timedelta(days=d)), edges.map(edge_instant))

    with psycopg.connect(pg_url) as conn:
        checked: list[int] = []

        @settings(max_examples=400, deadline=None)
        @given(rule=rules, at=instants)
        def sql_equals_python(rule: Rule, at: datetime) -> None:
            # When the rule is evaluated in SQL over the table and in Python over each row
            expected = {cid for cid, row in rows.items() if evaluate(rule, row, at)[0]}
            # Then both select the same customers
            assert selected(conn, rule, at) == expected, (rule, at)
            checked.append(len(expected))

        sql_equals_python()
    # and the examples were not all trivial
    assert any(0 < n < len(rows) for n in checked)
