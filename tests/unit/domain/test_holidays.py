"""The holiday calendar: stricter caps and quiet hours on its dates, typed refusals."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID, uuid4

import pytest

from domain.contact_policy import ContactPolicy
from domain.errors import DomainError
from domain.holidays import Holiday
from domain.restraint import Caps, Plan, Policy, Recipient, Variant, decide

CAMPAIGN = UUID("00000000-0000-4000-8000-0000000011d0")
SPRING = Holiday("h1", "春节", date(2027, 2, 5), date(2027, 2, 11),
                 {"wecom_mass": Caps(day=1, week=1, month=2)}, 2, time(20, 0), time(10, 0))
POLICY = Policy(holidays=(SPRING,))
EVE = datetime(2027, 2, 6, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai, during the holiday
AT = datetime(2026, 12, 7, tzinfo=UTC)
TODAY = date(2026, 12, 7)


def plan(channel: str = "wecom_mass", message_class: str = "marketing") -> Plan:
    return Plan(CAMPAIGN, channel, (Variant("v"),), message_class=message_class,
                purpose="service" if message_class == "service" else "marketing")


def who(*contacts: tuple[datetime, str]) -> Recipient:
    return Recipient(uuid4(), "ACTIVE", friends=("s1",), contacts=contacts)


def test_on_a_holiday_its_stricter_weekly_cap_excludes_with_a_holiday_reason() -> None:
    # Given one WeCom message 3 days ago: the normal weekly cap (2) allows one more
    earlier = who((EVE - timedelta(days=3), "wecom_mass"))
    assert decide(plan(), Policy(), earlier, EVE).included
    # Then on the holiday (weekly cap 1) it is excluded, and the plan names the holiday
    decision = decide(plan(), POLICY, earlier, EVE)
    assert (decision.included, decision.reason, decision.holiday) == \
        (False, "HOLIDAY_CAP_WEEK", "春节")


def test_the_holiday_total_counts_every_channel_over_the_holiday() -> None:
    two = who((EVE - timedelta(days=1), "sms"), (EVE - timedelta(hours=20), "mini_program"))
    assert decide(plan("sms"), POLICY, two, EVE).reason == "HOLIDAY_CAP_TOTAL"
    assert decide(plan("sms"), Policy(), two, EVE).included


def test_holiday_quiet_hours_defer_a_send_the_normal_ones_would_let_through() -> None:
    # 20:30 in Shanghai: outside the normal 21:00-09:00, inside the holiday's 20:00-10:00
    evening = datetime(2027, 2, 6, 12, 30, tzinfo=UTC)
    decision = decide(plan(), POLICY, who(), evening)
    assert decision.deferred and decision.holiday == "春节"
    assert decision.send_at == datetime(2027, 2, 7, 2, 0, tzinfo=UTC)  # 10:00 next day


def test_outside_the_holiday_the_normal_rules_apply_and_no_holiday_is_named() -> None:
    after = datetime(2027, 2, 12, 4, 0, tzinfo=UTC)
    decision = decide(plan(), POLICY, who((after - timedelta(days=3), "wecom_mass")), after)
    assert decision.included and decision.holiday is None


def test_service_messages_are_not_held_by_a_holiday() -> None:
    evening = datetime(2027, 2, 6, 12, 30, tzinfo=UTC)
    busy = who((EVE - timedelta(days=1), "sms"), (EVE - timedelta(hours=20), "wecom_mass"))
    decision = decide(plan(message_class="service"), POLICY, busy, evening)
    assert decision.included and not decision.deferred and decision.holiday is None


def test_a_normal_policy_tighter_than_the_holiday_still_applies_on_it() -> None:
    tight = Policy(caps={"wecom_mass": Caps(day=0)}, holidays=(SPRING,))
    assert decide(plan(), tight, who(), EVE).reason == "CAP_DAY"


def define(policy: ContactPolicy, start: date, end: date, **options: object) -> str:
    base: dict[str, object] = {"caps": {}, "total": None, "quiet_start": "21:00",
                               "quiet_end": "09:00"}
    merged = {**base, **options}
    return policy.define_holiday("节", start, end, merged["caps"], merged["total"],  # type: ignore[arg-type]
                                 merged["quiet_start"], merged["quiet_end"],  # type: ignore[arg-type]
                                 "staff:m", AT, TODAY)


@pytest.mark.parametrize(("start", "end", "options", "code", "field"), [
    (date(2027, 2, 9), date(2027, 2, 5), {}, "INVALID_HOLIDAY", "end"),
    (date(2026, 11, 1), date(2026, 11, 3), {}, "INVALID_HOLIDAY", "end"),
    (date(2027, 1, 1), date(2027, 3, 1), {}, "INVALID_HOLIDAY", "end"),
    (date(2027, 2, 10), date(2027, 2, 14), {}, "HOLIDAY_OVERLAP", "start"),
    (date(2027, 5, 1), date(2027, 5, 5), {"caps": {"sms": {"day": 3}}},
     "HOLIDAY_NOT_STRICTER", "caps.sms.day"),
    (date(2027, 5, 1), date(2027, 5, 5), {"caps": {"sms": {"day": 1, "week": None}}},
     "HOLIDAY_NOT_STRICTER", "caps.sms.week"),
    (date(2027, 5, 1), date(2027, 5, 5), {"quiet_start": "22:00"},
     "HOLIDAY_NOT_STRICTER", "quietStart"),
    (date(2027, 5, 1), date(2027, 5, 5), {"caps": {"fax": {}}}, "INVALID_HOLIDAY", "caps.fax"),
    (date(2027, 5, 1), date(2027, 5, 5), {"total": -1}, "INVALID_HOLIDAY", "total"),
])
def test_bad_holidays_are_refused_with_a_typed_error(start: date, end: date,
                                                     options: dict[str, object], code: str,
                                                     field: str) -> None:
    policy = ContactPolicy.create()
    define(policy, date(2027, 2, 5), date(2027, 2, 11))
    with pytest.raises(DomainError) as refused:
        define(policy, start, end, **options)
    assert (refused.value.code, refused.value.field) == (code, field)


def test_holidays_are_events_the_policy_replays_and_removes() -> None:
    policy = ContactPolicy.create()
    first = define(policy, date(2027, 2, 5), date(2027, 2, 11), total=1,
                   caps={"wecom_mass": {"day": 1, "week": 1, "month": 2}},
                   quiet_start="19:00", quiet_end="10:00")
    define(policy, date(2027, 10, 1), date(2027, 10, 7))
    assert [h.name for h in policy.policy().holidays] == ["节", "节"]
    assert policy.policy().holidays[0].caps["wecom_mass"] == Caps(1, 1, 2)
    policy.remove_holiday(first, "staff:m", AT)
    assert [h.start for h in policy.policy().holidays] == [date(2027, 10, 1)]
    with pytest.raises(DomainError) as refused:
        policy.remove_holiday(first, "staff:m", AT)
    assert refused.value.code == "UNKNOWN_HOLIDAY"
    kinds = [type(e).__name__ for e in policy.collect_events()]
    assert kinds.count("HolidayDefined") == 2 and kinds.count("HolidayRemoved") == 1
