"""Restraint rules: who is excluded by which rule, quiet hours, variants, draws."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from uuid import UUID, uuid4

import pytest

from domain.campaign import Campaign, InvalidTemplate, check_text, render, send_key
from domain.errors import InvalidInput
from domain.restraint import Caps, Plan, Policy, Recipient, Variant, decide, draw

CAMPAIGN = UUID("00000000-0000-4000-8000-00000000c0de")
NOON = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
VARIANTS = (Variant("new", ("NEW",)), Variant("any"))


def plan(channel: str = "mini_program", holdout: int = 0) -> Plan:
    return Plan(CAMPAIGN, channel, VARIANTS, holdout)


def who(**fields: object) -> Recipient:
    base: dict[str, object] = {"customer_id": uuid4(), "lifecycle": "ACTIVE",
                               "friends": ("s1",)}
    base.update(fields)
    return Recipient(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(("fields", "channel", "reason"), [
    ({"dnd": True}, "mini_program", "DO_NOT_DISTURB"),
    ({"consent_withdrawn": True}, "mini_program", "CONSENT_WITHDRAWN"),
    ({"friends": ()}, "wecom_mass", "NOT_FRIEND"),
    ({"contacts": [(NOON - timedelta(hours=2), "mini_program")]}, "mini_program", "CAP_DAY"),
    ({"contacts": [(NOON - timedelta(days=2), "sms"), (NOON - timedelta(days=3), "sms")]},
     "sms", "CAP_WEEK"),
])
def test_each_rule_excludes_with_its_reason(fields: dict[str, object], channel: str,
                                            reason: str) -> None:
    decision = decide(plan(channel), Policy(), who(**fields), NOON)
    assert (decision.included, decision.reason) == (False, reason)


def test_the_first_rule_that_applies_is_the_reason() -> None:
    decision = decide(plan(), Policy(), who(dnd=True, consent_withdrawn=True), NOON)
    assert decision.reason == "DO_NOT_DISTURB"


def test_caps_count_only_the_campaigns_channel() -> None:
    contacts = [(NOON - timedelta(hours=1), "sms")]
    assert decide(plan("mini_program"), Policy(), who(contacts=contacts), NOON).included


def test_the_wecom_quota_counts_mass_messages_in_the_natural_month() -> None:
    # Given the corp's default rule (as many per natural month as December has days: 31),
    # 31 WeCom mass messages earlier this month (Shanghai) and caps out of the way
    mid = datetime(2026, 12, 31, 4, 0, tzinfo=UTC)
    policy = Policy(caps={"wecom_mass": Caps(day=None, week=None, month=None)})
    this_month = [(mid - timedelta(days=d), "wecom_mass") for d in range(31)]
    assert decide(plan("wecom_mass"), policy, who(contacts=this_month), mid).reason == \
        "WECOM_QUOTA"
    # When one of them was last month (before 1 December, Shanghai), it is included
    one_earlier = [*this_month[:30], (datetime(2026, 11, 30, 15, 59, tzinfo=UTC), "wecom_mass")]
    assert decide(plan("wecom_mass"), policy, who(contacts=one_earlier), mid).included


def test_quiet_hours_defer_to_their_end_in_the_customers_time_zone() -> None:
    late = datetime(2026, 12, 1, 14, 30, tzinfo=UTC)  # 22:30 in Shanghai
    decision = decide(plan(), Policy(), who(), late)
    assert decision.included and decision.deferred
    assert decision.send_at == datetime(2026, 12, 2, 1, 0, tzinfo=UTC)  # 09:00 next morning
    early = datetime(2026, 12, 1, 23, 0, tzinfo=UTC)  # 07:00 in Shanghai, 2 December
    assert decide(plan(), Policy(), who(), early).send_at == datetime(2026, 12, 2, 1, 0,
                                                                      tzinfo=UTC)
    daytime = decide(plan(), Policy(quiet_start=time(23, 0), quiet_end=time(6, 0)), who(),
                     late)
    assert not daytime.deferred and daytime.send_at == late


def test_a_stage_variant_comes_before_the_catch_all() -> None:
    assert decide(plan(), Policy(), who(lifecycle="NEW"), NOON).variant_id == "new"
    assert decide(plan(), Policy(), who(lifecycle="ACTIVE"), NOON).variant_id == "any"
    only_new = Plan(CAMPAIGN, "sms", (Variant("new", ("NEW",)),))
    assert decide(only_new, Policy(), who(), NOON).reason == "NO_VARIANT"


def test_holdout_and_ab_draws_are_stable_and_near_their_shares() -> None:
    ids = [uuid4() for _ in range(4000)]
    held = [i for i in ids if not decide(plan(holdout=10), Policy(), who(customer_id=i),
                                         NOON).included]
    assert 300 < len(held) < 500
    assert held == [i for i in ids if draw(CAMPAIGN, i, "holdout") * 100 < 10]
    ab = Plan(CAMPAIGN, "sms", (Variant("a", weight=3), Variant("b", weight=1)))
    picks = [decide(ab, Policy(), who(customer_id=i), NOON).variant_id for i in ids]
    assert 2800 < picks.count("a") < 3200


def test_wecom_sends_go_through_the_first_friend_the_owner() -> None:
    decision = decide(plan("wecom_mass"), Policy(), who(friends=("owner", "other")), NOON)
    assert decision.sender == "owner"


def test_texts_allow_only_safe_variables() -> None:
    assert render(check_text("您有 {points_balance} 积分", "text"), {"points_balance": 120}) \
        == "您有 120 积分"
    with pytest.raises(InvalidTemplate) as refused:
        check_text("Hi {nickname}", "variants[0].text")
    assert refused.value.field == "variants[0].text"
    with pytest.raises(InvalidTemplate):
        check_text("broken {points_balance", "text")


def test_a_draft_validates_its_inputs() -> None:
    ok = {"variant_id": "a", "text": "hello", "template_id": "tpl-1"}
    with pytest.raises(InvalidInput) as bad_channel:
        Campaign.draft("x", "staff:m", "fax", uuid4(), [ok], "staff:m", NOON)
    assert bad_channel.value.field == "channel"
    with pytest.raises(InvalidInput) as twice:
        Campaign.draft("x", "staff:m", "sms", uuid4(), [ok, ok], "staff:m", NOON)
    assert twice.value.field == "variants[1].variantId"
    with pytest.raises(InvalidInput):
        Campaign.draft("x", "staff:m", "sms", uuid4(), [ok], "staff:m", NOON,
                       holdout_percent=60)


def test_send_keys_are_deterministic_per_campaign_customer_and_step() -> None:
    customer = uuid4()
    assert send_key(CAMPAIGN, customer) == send_key(CAMPAIGN, customer, 0)
    assert send_key(CAMPAIGN, customer, 1) != send_key(CAMPAIGN, customer)
