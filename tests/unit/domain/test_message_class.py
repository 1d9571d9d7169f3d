"""Service or marketing: what a service message is spared, and what it never is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from domain.campaign import Campaign
from domain.message_class import ServiceClassRefused, promotional_term
from domain.restraint import Caps, Plan, Policy, Recipient, Variant, decide
from domain.sop import InvalidSop, Sop

CAMPAIGN = UUID("00000000-0000-4000-8000-00000000c1a5")
NOON = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
LATE = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
AT = datetime(2026, 11, 1, tzinfo=UTC)


def plan(message_class: str, channel: str = "wecom_mass") -> Plan:
    return Plan(CAMPAIGN, channel, (Variant("v"),), purpose="service",
                message_class=message_class)


def who(**fields: object) -> Recipient:
    base: dict[str, object] = {"customer_id": uuid4(), "lifecycle": "ACTIVE", "friends": ("s1",)}
    return Recipient(**{**base, **fields})  # type: ignore[arg-type]


def test_a_service_message_goes_past_the_marketing_caps_a_promotion_stops_at() -> None:
    # Given a customer who got a WeCom message an hour ago (the daily cap is 1)
    busy = who(contacts=[(NOON - timedelta(hours=1), "wecom_mass")])
    # Then a promotion is capped and an order notice is not
    assert decide(plan("marketing"), Policy(), busy, NOON).reason == "CAP_DAY"
    assert decide(plan("service"), Policy(), busy, NOON).included


@pytest.mark.parametrize(("fields", "reason"), [
    ({"dnd": True}, "DO_NOT_DISTURB"),
    ({"consent_withdrawn": True}, "CONSENT_WITHDRAWN"),
    ({"friends": ()}, "NOT_FRIEND"),
])
def test_a_service_message_never_passes_dnd_withdrawn_consent_or_a_missing_friendship(
        fields: dict[str, object], reason: str) -> None:
    assert decide(plan("service"), Policy(), who(**fields), NOON).reason == reason


def test_the_wecom_quota_holds_service_messages_too_wecom_counts_every_mass_send() -> None:
    mid = datetime(2026, 12, 15, 4, 0, tzinfo=UTC)
    today = [(mid - timedelta(hours=1), "wecom_mass")]  # the corp's rule: 1 a day
    policy = Policy(caps={"wecom_mass": Caps(None, None, None)}, wecom_quota_rule="day")
    assert decide(plan("service"), policy, who(contacts=today), mid).reason == "WECOM_QUOTA"


def test_a_service_message_at_night_waits_for_the_morning() -> None:
    decision = decide(plan("service"), Policy(), who(), LATE)
    assert decision.included and decision.deferred
    assert decision.send_at == datetime(2026, 12, 2, 1, 0, tzinfo=UTC)  # 09:00 Shanghai


def draft(**options: object) -> Campaign:
    base: dict[str, object] = {"message_class": "service", "service_reason": "order_notice",
                               "service_reference": "ship-2026-12-01"}
    return Campaign.draft("发货通知", "staff:m", "wecom_mass", uuid4(),
                          [{"variant_id": "a", "text": "您的订单已发货"}], "staff:m", AT,
                          **{**base, **options})  # type: ignore[arg-type]


def test_a_service_campaign_records_why_and_plans_as_service_with_the_service_purpose() -> None:
    campaign = draft()
    assert campaign.message_class == "service"
    assert (campaign.plan().message_class, campaign.plan().purpose) == ("service", "service")
    declared = [e for e in campaign.collect_events() if isinstance(e, Campaign.ServiceDeclared)]
    assert [(e.reason, e.reference) for e in declared] == [("order_notice", "ship-2026-12-01")]


@pytest.mark.parametrize(("options", "field"), [
    ({"service_reason": None}, "serviceReason"),
    ({"service_reason": "because"}, "serviceReason"),
    ({"service_reference": None}, "serviceReference"),
    ({"service_reference": "订单 1"}, "serviceReference"),
    ({"purpose": "marketing"}, "purpose"),
    ({"holdout_percent": 10}, "holdoutPercent"),
])
def test_a_service_campaign_without_its_reason_reference_or_purpose_is_refused(
        options: dict[str, object], field: str) -> None:
    with pytest.raises(ServiceClassRefused) as refused:
        draft(**options)
    assert (refused.value.code, refused.value.field) == ("SERVICE_CLASS_REFUSED", field)


def test_marketing_wording_cannot_be_sent_as_service() -> None:
    with pytest.raises(ServiceClassRefused) as refused:
        Campaign.draft("x", "staff:m", "wecom_mass", uuid4(),
                       [{"variant_id": "a", "text": "订单已发货"},
                        {"variant_id": "b", "text": "双十二限时折扣, 快来抢购"}], "staff:m", AT,
                       message_class="service", service_reason="order_notice",
                       service_reference="ship-1")
    assert refused.value.field == "variants[1].text"
    assert promotional_term("Big SALE today") == "sale"
    assert promotional_term("wholesale order shipped") is None


def test_a_marketing_campaign_carries_no_service_reason_and_is_marketing_by_default() -> None:
    with pytest.raises(ServiceClassRefused):
        draft(message_class="marketing")
    plain = Campaign.draft("x", "staff:m", "sms", uuid4(),
                           [{"variant_id": "a", "text": "hi", "template_id": "t"}], "staff:m", AT)
    assert (plain.message_class, plain.purpose) == ("marketing", "marketing")


def steps(**step: object) -> list[dict[str, object]]:
    return [{"offset_hours": 0, "channel": "wecom_mass",
             "variants": [{"variant_id": "a", "text": "售后指南: 如何保养"}], **step}]


def test_a_sop_step_may_be_service_with_a_reason_and_group_steps_need_a_group_trigger() -> None:
    sop = Sop.define("售后", "staff:m", {"kind": "friend_added"},
                     steps(message_class="service", service_reason="after_sales"),
                     "staff:m", AT)
    defined = sop.collect_events()[0]
    assert defined.steps[0]["message_class"] == "service"  # type: ignore[attr-defined]
    with pytest.raises(ServiceClassRefused):
        Sop.define("x", "staff:m", {"kind": "friend_added"}, steps(message_class="service"),
                   "staff:m", AT)
    with pytest.raises(InvalidSop) as refused:
        Sop.define("x", "staff:m", {"kind": "friend_added"},
                   steps(target="group", sender_user_id="zhangsan"), "staff:m", AT)
    assert refused.value.field == "steps[0].target"
    group = {"kind": "group_joined"}
    with pytest.raises(InvalidSop) as refused:
        Sop.define("x", "staff:m", group, steps(target="group"), "staff:m", AT)
    assert refused.value.field == "steps[0].senderUserId"
    with pytest.raises(InvalidSop) as refused:
        Sop.define("x", "staff:m", group, [{**steps(target="group", sender_user_id="z")[0],
                   "variants": [{"variant_id": "a", "text": "{member_level} 欢迎"}]}],
                   "staff:m", AT)
    assert refused.value.field == "steps[0].variants[0].text"
    assert Sop.define("x", "staff:m", group, steps(target="group", sender_user_id="z"),
                      "staff:m", AT).revision == 1
    with pytest.raises(InvalidSop):
        Sop.define("x", "staff:m", {"kind": "group_joined"},
                   [{**steps(target="group")[0], "channel": "mini_program"}], "staff:m", AT)
