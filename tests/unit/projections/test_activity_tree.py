"""The four-level tree: its levels multiply back to the GMV and the gap splits exactly."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.activities.tree import build

STEPS = ["reach", "visit", "cart", "order", "pay"]


def test_levels_of_a_known_activity() -> None:
    tree = build(STEPS, {"reach": 1000, "visit": 400, "cart": 100, "order": 60, "pay": 50},
                 buyers=50, orders=80, gmv_fen=2_000_000, target_gmv_fen=2_500_000,
                 target_users=800, target_aov_fen=50_000)
    assert tree.achievement_rate == 0.8
    assert (tree.users, tree.conversion, tree.aov_fen) == (1000, 0.05, 40_000)
    assert [s.rate_from_previous for s in tree.journey] == [None, 0.4, 0.25, 0.6, 50 / 60]
    assert math.prod(s.rate_from_previous or 1 for s in tree.journey) == pytest.approx(0.05)
    assert (tree.orders_per_buyer, tree.gmv_per_order_fen) == (1.6, 25_000)
    parts = {c.factor: c.gap_fen for c in tree.contributions}
    assert sum(p or 0 for p in parts.values()) == pytest.approx(-500_000)
    # more users than planned helped; a lower conversion and AOV than planned hurt
    assert parts["users"] and parts["users"] > 0
    assert parts["conversion"] and parts["conversion"] < 0
    assert parts["aov"] and parts["aov"] < 0


def test_no_buyers_leaves_the_parts_unknown_not_wrong() -> None:
    tree = build(STEPS, {"reach": 10}, buyers=0, orders=0, gmv_fen=0, target_gmv_fen=100,
                 target_users=10, target_aov_fen=10)
    assert (tree.conversion, tree.aov_fen, tree.achievement_rate) == (0.0, None, 0.0)
    assert [c.gap_fen for c in tree.contributions] == [None, None, None]
    assert [s.rate_from_previous for s in tree.journey] == [None, 0.0, None, None, None]


def test_without_factor_targets_there_are_no_parts() -> None:
    tree = build(["visit", "pay"], {"visit": 4, "pay": 2}, buyers=2, orders=2, gmv_fen=100,
                 target_gmv_fen=50)
    assert tree.contributions == () and tree.achievement_rate == 2.0 and tree.users == 4


@given(users=st.integers(1, 10**6), buyers_share=st.floats(0.001, 1.0),
       gmv=st.integers(1, 10**11), t_users=st.integers(1, 10**6), t_aov=st.integers(1, 10**7),
       t_share=st.floats(0.001, 1.0))
def test_lmdi_parts_always_sum_to_the_gap(users: int, buyers_share: float, gmv: int,
                                          t_users: int, t_aov: int, t_share: float) -> None:
    buyers = max(1, int(users * buyers_share))
    target = max(1, int(t_users * t_aov * t_share))
    tree = build(["reach", "pay"], {"reach": users, "pay": buyers}, buyers=buyers,
                 orders=buyers, gmv_fen=gmv, target_gmv_fen=target, target_users=t_users,
                 target_aov_fen=t_aov)
    total = sum(c.gap_fen or 0 for c in tree.contributions)
    assert total == pytest.approx(gmv - target, rel=1e-9, abs=1e-3)
    assert (tree.users * (tree.conversion or 0) * (tree.aov_fen or 0)) == pytest.approx(gmv)
