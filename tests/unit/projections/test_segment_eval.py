"""Evaluating segment rules over one customer_profile row: truth, explanation, horizon."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.customer import Customer
from domain.segment_rules import Rule, parse_rule
from projections.json_codec import loads
from projections.postgres_views import _dumps
from projections.segments.compiled import compiled
from projections.segments.evaluation import evaluate, explain
from projections.segments.library import resolved
from tests.support.segment_support import fold, random_customer, rules

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
US = timedelta(microseconds=1)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def customer(channel: str = "qr") -> Customer:
    return Customer(first_channel=channel, by="service:test", occurred_at=T0)


def truth(rule: dict[str, Any], row: dict[str, Any], at: datetime) -> bool:
    return evaluate(parse_rule(rule), row, at)[0]


def horizon(rule: dict[str, Any], row: dict[str, Any], at: datetime) -> datetime | None:
    return evaluate(parse_rule(rule), row, at)[1]


def as_read_back(row: dict[str, Any]) -> dict[str, Any]:
    """The row as the projection reads it from PostgreSQL: its jsonb columns (lists and
    objects) decoded from JSON, so the times inside them are strings."""
    return {k: loads(_dumps(v)) if isinstance(v, (list, dict)) else v for k, v in row.items()}


def buyer(*orders: tuple[float, int]) -> dict[str, Any]:
    """A customer seen at T0 who paid (day, amount) orders."""
    c = customer()
    for n, (d, amount) in enumerate(orders):
        c.pay_order(f"o{n}", amount, [], "mall", "service:mall", day(d))
    return fold(c)


# -- predicates without time ------------------------------------------------------------------
def test_tag_in_holds_when_any_tag_is_held_and_observes_which() -> None:
    c = customer()
    c.tag("vip", "staff:x", T0)
    c.tag("宝妈", "staff:x", T0)
    row = fold(c)
    rule = parse_rule({"tagIn": ["vip", "黑名单"]})
    node = explain(rule, row, T0)
    assert (node["result"], node["observed"], node["horizon"]) == (True, ["vip"], None)
    assert truth({"tagIn": ["黑名单"]}, row, T0) is False


def test_has_all_tags_observes_the_missing_ones() -> None:
    c = customer()
    c.tag("vip", "staff:x", T0)
    row = fold(c)
    node = explain(parse_rule({"hasAllTags": ["vip", "宝妈", "a"]}), row, T0)
    assert (node["result"], node["observed"]) == (False, {"missing": ["a", "宝妈"]})
    assert truth({"hasAllTags": ["vip"]}, row, T0) is True


def test_an_untagged_customer_no_longer_matches_the_tag() -> None:
    c = customer()
    c.tag("vip", "staff:x", T0)
    c.untag("vip", "staff:x", day(1))
    assert truth({"tagIn": ["vip"]}, fold(c), day(2)) is False


def friends(*changes: tuple[str, str]) -> dict[str, Any]:
    """A customer's row after ("add" | "delete", staff id) changes on successive days."""
    c = customer()
    for n, (kind, staff) in enumerate(changes):
        if kind == "add":
            c.add_friend(staff, "qr", None, None, "service:wecom", day(n))
        else:
            c.delete_friend(staff, "customer", "service:wecom", day(n))
    return fold(c)


def test_friend_of_and_is_friend_follow_current_friendships() -> None:
    # Given a customer who befriended s1 and s2, then deleted s1
    row = friends(("add", "s1"), ("add", "s2"), ("delete", "s1"))
    # Then they are a friend of s2 only, and a friend of someone
    assert truth({"friendOf": "s2"}, row, day(3)) is True
    assert truth({"friendOf": "s1"}, row, day(3)) is False
    assert explain(parse_rule({"friendOf": "s1"}), row, day(3))["observed"] == 1
    assert truth({"isFriend": True}, row, day(3)) is True
    assert truth({"isFriend": False}, row, day(3)) is False
    # When s2 is deleted too, isFriend false holds
    row = friends(("add", "s1"), ("add", "s2"), ("delete", "s1"), ("delete", "s2"))
    assert truth({"isFriend": False}, row, day(5)) is True
    assert explain(parse_rule({"isFriend": False}), row, day(5))["observed"] is False


def test_joined_via_matches_the_first_channel_or_any_friend_channel() -> None:
    c = customer(channel="mall")
    c.add_friend("s1", "qr", None, None, "service:wecom", T0)
    c.delete_friend("s1", "customer", "service:wecom", day(1))  # a closed relation still says how
    row = fold(c)
    node = explain(parse_rule({"joinedVia": "qr"}), row, day(2))
    assert (node["result"], node["observed"]) == (True, ["mall", "qr"])
    assert truth({"joinedVia": "mall"}, row, day(2)) is True
    assert truth({"joinedVia": "store"}, row, day(2)) is False


def test_in_group_referrals_and_member_level() -> None:
    c = customer()
    c.join_group("grp1", "service:wecom", T0)
    c.join_group("grp2", "service:wecom", T0)
    c.leave_group("grp2", "service:wecom", day(1))
    for n in range(2):
        c.record_fact(Customer.ReferralBrought, invitee_id=f"i{n}", campaign_id="c1",
                      by="service:test", occurred_at=day(1))
    c.register_member("gold", "service:mall", day(1))
    row = fold(c)
    assert truth({"inGroup": "grp1"}, row, day(2)) is True
    assert truth({"inGroup": "grp2"}, row, day(2)) is False
    assert explain(parse_rule({"referralsAtLeast": 2}), row, day(2))["observed"] == 2
    assert truth({"referralsAtLeast": 3}, row, day(2)) is False
    assert truth({"memberLevel": "gold"}, row, day(2)) is True
    assert truth({"memberLevel": "silver"}, row, day(2)) is False


def test_a_customer_without_a_member_level_matches_no_level_and_its_negation_holds() -> None:
    row = fold(customer())
    assert truth({"memberLevel": "gold"}, row, T0) is False
    assert truth({"not": {"memberLevel": "gold"}}, row, T0) is True


def test_positioning_quadrants_by_frequency_and_average_ticket() -> None:
    assert truth({"positioning": "TRANSACTION_HUB"},
                 buyer((1, 20_000), (2, 30_000), (3, 25_000)), day(4)) is True
    assert truth({"positioning": "INFORMATION_HUB"},
                 buyer((1, 100), (2, 200), (3, 59_000)), day(4)) is True  # average 19,766
    assert truth({"positioning": "SERVICE_HUB"}, buyer((1, 40_000)), day(4)) is True
    assert truth({"positioning": "MERCHANT_ALLIANCE_HUB"}, buyer((1, 19_999)), day(4)) is True
    node = explain(parse_rule({"positioning": "SERVICE_HUB"}), fold(customer()), T0)
    assert (node["result"], node["observed"]) == (False, None)


def test_rfm_scores_are_observed_and_each_given_score_is_a_floor() -> None:
    # Given a buyer of 3 orders totalling 150,000 fen, the last 3 days before `at`, 20,000 refunded
    c = customer()
    for n, d in enumerate((1, 5, 10)):
        c.pay_order(f"o{n}", 50_000, [], "mall", "service:mall", day(d))
    c.refund_order("o0", 20_000, "service:mall", day(11))
    row = fold(c)
    node = explain(parse_rule({"rfm": {"recencyAtLeast": 5, "monetaryAtLeast": 4}}), row, day(13))
    # Then recency 5 (within 7 days), frequency 3, monetary 4 (net 130,000)
    assert node["observed"] == {"recency": 5, "frequency": 3, "monetary": 4}
    assert node["result"] is True
    assert truth({"rfm": {"frequencyAtLeast": 4}}, row, day(13)) is False
    assert truth({"rfm": {"monetaryAtLeast": 5}}, row, day(13)) is False


# -- time windows and their horizons ----------------------------------------------------------
def test_inactive_days_flips_exactly_at_the_last_interaction_plus_n_days() -> None:
    # Given a customer who last viewed content on day 10
    c = customer()
    c.view_content("c1", "h5", "customer:x", day(10))
    row = fold(c)
    rule = {"inactiveDays": 30}
    # Then just before day 40 they are not inactive, and the horizon is day 40
    assert truth(rule, row, day(40) - US) is False
    assert horizon(rule, row, day(40) - US) == day(40)
    # and from day 40 on they are, and only an event can change that
    assert truth(rule, row, day(40)) is True
    assert horizon(rule, row, day(40)) is None
    assert explain(parse_rule(rule), row, day(40))["observed"] == day(10).isoformat()


def test_inactivity_counts_from_first_sight_when_there_is_no_interaction() -> None:
    row = fold(customer()) | {"last_interaction_at": None}
    assert horizon({"inactiveDays": 7}, row, T0) == day(7)
    assert truth({"inactiveDays": 7}, row, day(7)) is True


def test_active_within_days_ends_at_the_last_interaction_plus_n_days() -> None:
    c = customer()
    c.view_content("c1", "h5", "customer:x", day(10))
    row = fold(c)
    rule = {"activeWithinDays": 7}
    assert truth(rule, row, day(17) - US) is True
    assert horizon(rule, row, day(17) - US) == day(17)
    assert truth(rule, row, day(17)) is False
    assert horizon(rule, row, day(17)) is None


def test_ordered_twice_within_30_days_stops_at_the_second_newest_order_plus_30_days() -> None:
    # Given orders on days 1, 5 and 10
    row = buyer((1, 100), (5, 100), (10, 100))
    rule = {"ordered": {"atLeast": 2, "withinDays": 30}}
    # Then on day 12 the rule holds until the second-newest order (day 5) is 30 days old
    assert truth(rule, row, day(12)) is True
    assert horizon(rule, row, day(12)) == day(35)
    assert explain(parse_rule(rule), row, day(12))["observed"] == 3
    assert truth(rule, row, day(35) - US) is True
    assert truth(rule, row, day(35)) is False
    # and once false, time alone cannot make it true again
    assert horizon(rule, row, day(35)) is None


def test_ordered_without_a_window_never_expires() -> None:
    row = buyer((1, 100), (5, 100))
    assert truth({"ordered": {"atLeast": 2}}, row, day(1000)) is True
    assert horizon({"ordered": {"atLeast": 2}}, row, day(6)) is None


def test_ordered_counts_paid_orders_recorded_out_of_order() -> None:
    row = buyer((10, 100), (1, 100), (5, 100))  # the day-1 order arrives late
    assert horizon({"ordered": {"atLeast": 2, "withinDays": 30}}, row, day(12)) == day(35)


def test_gmv_in_a_window_lasts_until_the_order_that_makes_the_sum_leaves() -> None:
    # Given 9,000 fen on day 1, 3,000 on day 5 and 5,000 on day 10
    row = buyer((1, 9_000), (5, 3_000), (10, 5_000))
    rule = {"gmv": {"atLeastFen": 7_000, "withinDays": 30}}
    # Then on day 12 the newest two (8,000) suffice: the day-5 order leaving ends it
    node = explain(parse_rule(rule), row, day(12))
    assert (node["result"], node["observed"], node["horizon"]) == (True, 17_000, day(35))
    assert truth(rule, row, day(31)) is True  # day 1 left: 8,000 remain
    assert truth(rule, row, day(35) - US) is True
    assert truth(rule, row, day(35)) is False  # 5,000 remain
    assert horizon(rule, row, day(35)) is None


def test_gmv_without_a_window_is_the_total_paid() -> None:
    row = buyer((1, 9_000), (5, 3_000))
    assert truth({"gmv": {"atLeastFen": 12_000}}, row, day(900)) is True
    assert truth({"gmv": {"atLeastFen": 12_001}}, row, day(6)) is False
    assert horizon({"gmv": {"atLeastFen": 12_000}}, row, day(6)) is None


def test_lifecycle_turns_from_new_to_active_thirty_days_after_first_sight() -> None:
    # Given a customer first seen on day 0 who interacted again on day 20, with no order
    c = customer()
    c.view_content("c1", "h5", "customer:x", day(20))
    row = fold(c)
    # Then they are NEW until day 30, which is the horizon
    node = explain(parse_rule({"lifecycle": "NEW"}), row, day(1))
    assert (node["result"], node["observed"], node["horizon"]) == (True, "NEW", day(30))
    assert truth({"lifecycle": "NEW"}, row, day(30) - US) is True
    # and ACTIVE from day 30, until 30 days after the last interaction
    assert truth({"lifecycle": "ACTIVE"}, row, day(30)) is True
    assert horizon({"lifecycle": "ACTIVE"}, row, day(30)) == day(50)
    assert truth({"lifecycle": "SILENT"}, row, day(50)) is True
    assert horizon({"lifecycle": "SILENT"}, row, day(50)) is None


def test_a_paid_order_makes_a_new_customer_active() -> None:
    row = buyer((2, 100))
    assert truth({"lifecycle": "ACTIVE"}, row, day(3)) is True


def test_a_customer_who_deleted_every_staff_friend_is_churned_whatever_the_time() -> None:
    c = customer()
    c.add_friend("s1", "qr", None, None, "service:wecom", T0)
    c.delete_friend("s1", "customer", "service:wecom", day(1))
    row = fold(c)
    for at in (day(2), day(31), day(400)):
        assert truth({"lifecycle": "CHURNED"}, row, at) is True


def test_recency_drops_a_score_at_each_bin_edge_and_says_when() -> None:
    row = buyer((0, 100))
    rule = {"rfm": {"recencyAtLeast": 5}}
    assert truth(rule, row, day(7) - US) is True
    assert horizon(rule, row, day(1)) == day(7)
    assert truth(rule, row, day(7)) is False
    # The next edge of the score comes after: 30, 90, 180 days
    assert horizon(rule, row, day(7)) == day(30)
    assert horizon(rule, row, day(100)) == day(180)
    assert horizon(rule, row, day(180)) is None
    assert horizon({"rfm": {"frequencyAtLeast": 1}}, row, day(1)) is None


# -- composition ------------------------------------------------------------------------------
def test_not_negates_the_truth_and_keeps_the_horizon() -> None:
    c = customer()
    c.view_content("c1", "h5", "customer:x", day(10))
    row = fold(c)
    inner = {"inactiveDays": 30}
    for at in (day(39), day(40), day(41)):
        assert truth({"not": inner}, row, at) is (not truth(inner, row, at))
        assert horizon({"not": inner}, row, at) == horizon(inner, row, at)


def test_a_composite_horizon_is_the_earliest_child_horizon() -> None:
    # Given a buyer on days 1 and 5 who last interacted on day 5
    row = buyer((1, 100), (5, 100))
    rule = {"all": [{"ordered": {"atLeast": 2, "withinDays": 60}},  # until day 61
                    {"any": [{"activeWithinDays": 20},  # until day 25
                             {"tagIn": ["vip"]}]},
                    {"not": {"inactiveDays": 40}}]}  # flips on day 45
    # Then the rule's horizon is the earliest of them, the same from evaluate and explain
    assert evaluate(parse_rule(rule), row, day(6)) == (True, day(25))
    tree = explain(parse_rule(rule), row, day(6))
    assert (tree["node"], tree["result"], tree["horizon"]) == ("all", True, day(25))
    assert [child["horizon"] for child in tree["children"]] == [day(61), day(25), day(45)]
    assert tree["children"][1]["children"][1] == {
        "node": "tagIn", "value": ["vip"], "result": False, "observed": [], "horizon": None,
        "children": []}
    # and after day 25 the next horizon is day 45
    assert evaluate(parse_rule(rule), row, day(30)) == (False, day(45))


def test_an_explanation_of_not_shows_the_child_that_matched() -> None:
    c = customer()
    c.tag("黑名单", "staff:x", T0)
    tree = explain(parse_rule({"not": {"tagIn": ["黑名单"]}}), fold(c), T0)
    assert (tree["node"], tree["result"]) == ("not", False)
    assert (tree["children"][0]["result"], tree["children"][0]["observed"]) == (True, ["黑名单"])


# -- properties -------------------------------------------------------------------------------
NOW = datetime(2026, 9, 1, tzinfo=UTC)


@settings(max_examples=300, deadline=None)
@given(rule=rules, seed=st.integers(0, 10**6), offset=st.integers(-30 * 24, 300 * 24),
       probes=st.lists(st.integers(0, 10**6), min_size=1, max_size=8))
def test_the_truth_holds_until_the_horizon_and_explain_agrees_with_evaluate(
        rule: Rule, seed: int, offset: int, probes: list[int]) -> None:
    # Given a random customer and an instant `at`
    row = fold(random_customer(random.Random(seed), NOW))
    at = NOW + timedelta(hours=offset)
    held, until = evaluate(rule, row, at)
    # Then explain, and the rule compiled for the membership engine, give the same answer
    # and horizon (on the folded row, and on the row as read back from its table's JSON)
    tree = explain(rule, row, at)
    assert (tree["result"], tree["horizon"]) == (held, until)
    assert compiled(rule)(row, at) == (held, until)
    assert compiled(rule)(as_read_back(row), at) == (held, until)
    if until is not None:  # and at the horizon itself, where a boundary is easy to get wrong
        assert compiled(rule)(row, until) == evaluate(rule, row, until)
    assert until is None or until > at
    # and at every later instant before the horizon the answer is the same
    end = until if until is not None else at + timedelta(days=4000)
    span = end - at
    for probe in [0, *probes]:
        later = at + span * (probe / 10**6) - (US if probe == 10**6 else timedelta(0))
        assert evaluate(rule, row, later)[0] is held, (later, until)


def test_a_category_counts_the_orders_with_its_lines_and_what_they_spent_on_them() -> None:
    # Given a customer who paid an order of green tea and a cup (line values 3:1), then a
    # coffee, and a library filing the tea under tea:green and the coffee under coffee
    c = customer()
    c.pay_order("o1", 1_000, [{"sku": "TEA", "quantity": 3, "price_fen": 100},
                              {"sku": "CUP", "quantity": 1, "price_fen": 100}],
                "mall", "service:mall", day(1))
    c.pay_order("o2", 500, [{"sku": "COF", "quantity": 1, "price_fen": 0}], "mall",
                "service:mall", day(10))
    row = fold(c)
    library = {"TEA": "tea:green", "COF": "coffee"}

    def held(rule: dict[str, Any], at: datetime) -> tuple[bool, datetime | None]:
        return evaluate(resolved(parse_rule(rule), library), row, at)

    # Then "tea" holds (tea:green is under it) with 750 fen spent on tea — not 1,000
    tree = explain(resolved(parse_rule({"boughtFromCategory": {"category": "tea"}}), library),
                   row, day(20))
    assert tree["result"] and tree["observed"] == {"orders": 1, "spentFen": 750}
    assert held({"boughtFromCategory": {"category": "tea", "atLeastFen": 751}}, day(20))[0] \
        is False
    # and a tea order within 30 days holds until that order is 30 days old
    windowed = {"boughtFromCategory": {"category": "tea", "withinDays": 30}}
    assert held(windowed, day(20)) == (True, day(31))
    assert held(windowed, day(31))[0] is False
    assert held({"boughtProduct": {"sku": "COF", "atLeast": 2}}, day(20)) == (False, None)
    # and an unlisted SKU is in no category
    assert held({"boughtFromCategory": {"category": "cups"}}, day(20)) == (False, None)
