"""Shared by the segment tests: rule strategies and customers made of real events."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from domain.customer import Customer
from domain.segment_rules import LIFECYCLES, POSITIONINGS, Rule, parse_rule
from projections.customer_profile import apply
from projections.segments.library import resolved

TAGS = ("vip", "宝妈", "价格敏感", "黑名单")
STAFF = ("wecom_user:s0", "wecom_user:s1", "wecom_user:s2", "wecom_user:s3")
GROUPS = ("grp0", "grp1", "grp2")
CHANNELS = ("qr", "mall", "h5", "store", "qr:store-shanghai-01")  # nested: qr matches it
LEVELS = ("gold", "silver", "member")
SKUS = ("TEA-LJ", "TEA-BLR", "COF-1", "CUP-9")
#: The product library the rules are resolved against (CUP-9 is not listed).
LIBRARY = {"TEA-LJ": "tea:green", "TEA-BLR": "tea", "COF-1": "coffee"}
CATEGORIES = ("tea", "tea:green", "coffee", "cups")

Row = dict[str, Any]


def fold(customer: Customer) -> Row:
    """The customer_profile row of a customer's pending events."""
    row: Row | None = None
    for position, event in enumerate(customer.collect_events(), start=1):
        row = apply(row, event, position)
    assert row is not None
    return row


def random_customer(rng: random.Random, now: datetime, days: int = 200) -> Customer:
    """A customer with a random history over the last ``days`` days (business time)."""
    def when() -> datetime:
        return now - timedelta(minutes=rng.randrange(60 * 24 * days))

    first = when()
    customer = Customer(first_channel=rng.choice(CHANNELS), by="service:test", occurred_at=first)
    for n in range(rng.randrange(8)):
        at = max(first, when())
        kind = rng.random()
        if kind < 0.2:
            customer.pay_order(f"o{n}", rng.choice([0, 500, 9_000, 30_000, 120_000]),
                               order_items(rng), "mall", "service:test", at)
        elif kind < 0.35:
            customer.add_friend(rng.choice(STAFF), rng.choice(CHANNELS), None, None,
                                "service:test", at)
        elif kind < 0.45:
            customer.delete_friend(rng.choice(STAFF), "customer", "service:test", at)
        elif kind < 0.6:
            customer.tag(rng.choice(TAGS), "staff:x", at)
        elif kind < 0.65:
            customer.untag(rng.choice(TAGS), "staff:x", at)
        elif kind < 0.75:
            customer.join_group(rng.choice(GROUPS), "service:test", at)
        elif kind < 0.8:
            customer.register_member(rng.choice(LEVELS), "service:test", at)
        elif kind < 0.85:
            customer.record_fact(Customer.ReferralBrought, invitee_id=f"i{n}", campaign_id="c",
                                 by="service:test", occurred_at=at)
        else:
            customer.view_content(f"c{n}", "h5", "service:test", at)
    return customer


def order_items(rng: random.Random) -> list[dict[str, Any]]:
    """0-3 lines of the SKUs above (a SKU may come twice, a line may be free)."""
    return [{"sku": rng.choice(SKUS), "quantity": rng.randrange(1, 4),
             "price_fen": rng.choice([0, 990, 12_800])} for _ in range(rng.randrange(4))]


# -- rules ------------------------------------------------------------------------------------
DAYS = st.sampled_from([1, 7, 30, 60, 90, 180, 365])
tags = st.lists(st.sampled_from(TAGS), min_size=1, max_size=3)

predicates: st.SearchStrategy[dict[str, Any]] = st.one_of(
    st.builds(lambda v: {"tagIn": v}, tags),
    st.builds(lambda v: {"hasAllTags": v}, tags),
    st.builds(lambda v: {"lifecycle": v}, st.sampled_from(LIFECYCLES)),
    st.builds(lambda n, d: {"ordered": {"atLeast": n, "withinDays": d}},
              st.integers(1, 4), st.none() | DAYS),
    st.builds(lambda f, d: {"gmv": {"atLeastFen": f, "withinDays": d}},
              st.sampled_from([1, 5_000, 30_000, 150_000]), st.none() | DAYS),
    st.builds(lambda d: {"inactiveDays": d}, DAYS),
    st.builds(lambda d: {"activeWithinDays": d}, DAYS),
    st.builds(lambda n: {"referralsAtLeast": n}, st.integers(1, 3)),
    st.builds(lambda s: {"friendOf": s}, st.sampled_from(STAFF)),
    st.builds(lambda b: {"isFriend": b}, st.booleans()),
    st.builds(lambda c: {"joinedVia": c}, st.sampled_from(CHANNELS)),
    st.builds(lambda g: {"inGroup": g}, st.sampled_from(GROUPS)),
    st.builds(lambda r, f, m: {"rfm": {"recencyAtLeast": r, "frequencyAtLeast": f,
                                       "monetaryAtLeast": m}},
              st.none() | st.integers(0, 5), st.none() | st.integers(0, 5),
              st.integers(0, 5)),
    st.builds(lambda p: {"positioning": p}, st.sampled_from(POSITIONINGS)),
    st.builds(lambda lv: {"memberLevel": lv}, st.sampled_from(LEVELS)),
    st.builds(lambda c, n, f, d: {"boughtFromCategory": {"category": c, "atLeast": n,
                                                         "atLeastFen": f, "withinDays": d}},
              st.sampled_from(CATEGORIES), st.none() | st.integers(1, 3),
              st.none() | st.sampled_from([1, 5_000, 30_000]), st.none() | DAYS),
    st.builds(lambda k, n, f, d: {"boughtProduct": {"sku": k, "atLeast": n, "atLeastFen": f,
                                                    "withinDays": d}},
              st.sampled_from(SKUS), st.none() | st.integers(1, 3),
              st.none() | st.sampled_from([1, 5_000, 30_000]), st.none() | DAYS),
)


def _compose(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.builds(lambda rs: {"all": rs}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda rs: {"any": rs}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda r: {"not": r}, children),
    )


#: Rules in canonical form, resolved against :data:`LIBRARY` (as the projection evaluates them).
rules: st.SearchStrategy[Rule] = st.recursive(predicates, _compose, max_leaves=6).map(
    lambda r: resolved(parse_rule(r), LIBRARY))
