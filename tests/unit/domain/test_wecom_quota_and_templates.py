"""WeCom's quota rule, the missing-value rule and the fallbacks of campaign texts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from domain.campaign import Campaign
from domain.contact_policy import ContactPolicy
from domain.errors import InvalidInput
from domain.restraint import (
    MEMBER_MASS,
    QUOTA_FULL,
    Caps,
    Plan,
    Policy,
    Recipient,
    Variant,
    decide,
    wecom_quota_period,
)
from domain.templates import InvalidTemplate, UnknownVariable, fill, needs

CAMPAIGN = UUID("00000000-0000-4000-8000-00000000c0de")
NO_CAPS = {"wecom_mass": Caps(day=None, week=None, month=None)}
# Wednesday 2027-02-17, 12:00 in Shanghai
WEDNESDAY = datetime(2027, 2, 17, 4, 0, tzinfo=UTC)


def wecom(*variants: Variant) -> Plan:
    return Plan(CAMPAIGN, "wecom_mass", variants or (Variant("any"),))


def who(**fields: object) -> Recipient:
    base: dict[str, object] = {"customer_id": uuid4(), "lifecycle": "ACTIVE", "friends": ("s1",)}
    base.update(fields)
    return Recipient(**base)  # type: ignore[arg-type]


def test_each_rule_has_its_period_in_beijing_time_and_its_limit() -> None:
    since, until, limit = wecom_quota_period(WEDNESDAY, "month")
    assert (since.isoformat(), until.isoformat(), limit) == (
        "2027-02-01T00:00:00+08:00", "2027-03-01T00:00:00+08:00", 28)
    since, until, limit = wecom_quota_period(WEDNESDAY, "week")
    assert (since.isoformat(), until.isoformat(), limit) == (
        "2027-02-15T00:00:00+08:00", "2027-02-22T00:00:00+08:00", 7)
    # 23:30 UTC on the 16th is already the 17th in Beijing
    since, _, limit = wecom_quota_period(datetime(2027, 2, 16, 16, 30, tzinfo=UTC), "day")
    assert (since.isoformat(), limit) == ("2027-02-17T00:00:00+08:00", 1)


@pytest.mark.parametrize(("rule", "earlier", "excluded"), [
    ("day", [timedelta(hours=1)], True),
    ("day", [timedelta(days=1)], False),  # yesterday
    ("week", [timedelta(days=d) for d in range(2)] * 3 + [timedelta(days=2)], True),
    ("week", [timedelta(days=d) for d in range(2)] * 3, False),  # 6 this week
    ("week", [timedelta(days=3)] * 7, False),  # last week (Sunday 14th)
])
def test_the_corps_rule_sets_the_quota(rule: str, earlier: list[timedelta],
                                       excluded: bool) -> None:
    policy = Policy(caps=NO_CAPS, wecom_quota_rule=rule)
    contacts = [(WEDNESDAY - d, "wecom_mass") for d in earlier]
    decision = decide(wecom(), policy, who(contacts=contacts), WEDNESDAY)
    assert (decision.reason == "WECOM_QUOTA") is excluded


def test_member_sends_count_and_a_status_3_fills_the_period() -> None:
    policy = Policy(caps=NO_CAPS, wecom_quota_rule="week")
    # Given 6 platform sends and 1 a member sent from the WeCom client this week
    contacts = [(WEDNESDAY - timedelta(hours=h), "wecom_mass") for h in range(6)]
    member = [(WEDNESDAY - timedelta(hours=7), MEMBER_MASS)]
    assert decide(wecom(), policy, who(contacts=contacts + member), WEDNESDAY).reason == \
        "WECOM_QUOTA"
    assert decide(wecom(), policy, who(contacts=contacts), WEDNESDAY).included
    # WeCom said "already received the period's mass messages" (status 3) this week: full
    full = [(WEDNESDAY - timedelta(days=1), QUOTA_FULL)]
    assert decide(wecom(), policy, who(contacts=full), WEDNESDAY).reason == "WECOM_QUOTA"
    # ... but last week's status 3 says nothing of this week
    old = [(WEDNESDAY - timedelta(days=4), QUOTA_FULL)]
    assert decide(wecom(), policy, who(contacts=old), WEDNESDAY).included
    # member sends are not the platform's: they do not count toward the platform's caps
    capped = Policy(caps={"wecom_mass": Caps(day=1)}, wecom_quota_rule="month")
    assert decide(wecom(), capped, who(contacts=member), WEDNESDAY).included


def test_a_customer_missing_a_value_the_variant_needs_is_excluded() -> None:
    variant = Variant("vip", needs=("member_level",))
    missing = decide(wecom(variant), Policy(), who(missing=frozenset({"member_level"})),
                     WEDNESDAY)
    assert (missing.included, missing.reason, missing.variant_id) == (
        False, "MISSING_VALUE", "vip")
    other = decide(wecom(variant), Policy(), who(missing=frozenset({"favourite_category"})),
                   WEDNESDAY)
    assert other.included


def test_fill_uses_the_value_then_the_fallback_and_never_leaves_a_blank() -> None:
    variant = {"text": "{member_level} 会员专享: 您有 {points_balance} 积分",
               "fallbacks": {"member_level": "尊敬的"}}
    assert needs(variant) == {"points_balance"}
    assert fill(variant, {"member_level": "金卡", "points_balance": 0}) == \
        "金卡 会员专享: 您有 0 积分"
    assert fill(variant, {"member_level": None, "points_balance": 120}) == \
        "尊敬的 会员专享: 您有 120 积分"
    assert fill(variant, {"member_level": "金卡", "points_balance": None}) is None
    assert fill({"text": "{member_level}"}, {"member_level": "  "}) is None


def test_a_draft_refuses_unknown_variables_and_bad_fallbacks() -> None:
    def draft(variant: dict[str, object]) -> Campaign:
        return Campaign.draft("x", "staff:m", "wecom_mass", uuid4(),
                              [{"variant_id": "a", **variant}], "staff:m", WEDNESDAY)

    with pytest.raises(UnknownVariable) as unknown:
        draft({"text": "Hi {nickname}"})
    assert (unknown.value.code, unknown.value.field) == (
        "UNKNOWN_TEMPLATE_VARIABLE", "variants[0].text")
    with pytest.raises(UnknownVariable) as fallback:
        draft({"text": "Hi {member_level}", "fallbacks": {"nickname": "x"}})
    assert fallback.value.field == "variants[0].fallbacks.nickname"
    with pytest.raises(InvalidTemplate) as braces:
        draft({"text": "Hi {member_level}", "fallbacks": {"member_level": "{lifecycle}"}})
    assert braces.value.code == "INVALID_TEMPLATE"
    campaign = draft({"text": "Hi {member_level}", "fallbacks": {"member_level": " 朋友 "}})
    assert campaign.variants[0]["fallbacks"] == {"member_level": "朋友"}
    assert campaign.plan().variants[0].needs == ()


def test_the_contact_policy_takes_the_corps_rule() -> None:
    policy = ContactPolicy.create()
    policy.change({}, "week", "21:00", "09:00", "staff:m", WEDNESDAY)
    assert policy.policy().wecom_quota_rule == "week"
    with pytest.raises(InvalidInput) as bad:
        policy.change({}, "fortnight", "21:00", "09:00", "staff:m", WEDNESDAY)
    assert bad.value.field == "wecomQuotaRule"


def test_a_v1_policy_change_reads_as_the_month_rule() -> None:
    state = {"wecom_monthly_quota": 4}
    ContactPolicy.Changed.upcast_v1_v2(state)
    assert state == {"wecom_quota_rule": "month"}  # type: ignore[comparison-overlap]
