"""Service or marketing over HTTP: service campaigns past the caps, who may declare one,
and the holiday calendar's stricter rules in the plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from adapters.tokens import issue_token
from application.app import Siyu
from tests.integration.api.conftest import Api
from tests.integration.api.test_campaigns_http import DRY_RUN, LAUNCH, draft, seed
from tests.integration.api.test_segments_http import define
from tests.support.directory import hire_as

pytestmark = pytest.mark.integration

SERVICE = """
mutation($segment: ID!, $text: String!, $reference: String) {
  draftCampaign(input: {name: "发货通知", segmentId: $segment, channel: "wecom_mass",
    messageClass: "service", serviceReason: "order_notice", serviceReference: $reference,
    variants: [{variantId: "a", text: $text}]}) { campaignId } }"""

HOLIDAY = """
mutation($start: Date!, $end: Date!, $day: Int) {
  defineHoliday(input: {name: "春节", start: $start, end: $end, total: 3,
    caps: [{channel: "wecom_mass", day: $day, week: 1, month: 2}],
    quietStart: "20:00", quietEnd: "10:00"}) {
    holiday { holidayId name start end total quietStart quietEnd caps { channel day } } } }"""

SAMPLE = """
query($id: ID!) { campaignDryRun(campaignId: $id) { included excluded { reason count }
  sample { customerId included reason holiday } } }"""


def code(body: dict[str, Any]) -> tuple[str, str | None]:
    error = body["errors"][0]["extensions"]
    return error["code"], error.get("field")


def service(api: Api, segment: str, text: str = "您的订单已发货, 请留意查收",
            reference: str | None = "ship-2026-12", as_: str = "manager") -> dict[str, Any]:
    return api.gql(SERVICE, {"segment": segment, "text": text, "reference": reference},
                   as_=as_)


def test_an_order_notice_goes_past_the_daily_cap_that_stops_a_second_promotion(
        api: Api) -> None:
    # Given four buyers and a promotion launched to them today (the daily cap is 1)
    ids = seed(api)
    segment = define(api, "buyers", {"ordered": {"atLeast": 1}})
    assert "errors" not in api.gql(LAUNCH, {"id": draft(api, segment, name="first")})
    second = draft(api, segment, name="second")
    # When a second promotion and an order notice are planned the same day
    promo = api.gql(DRY_RUN, {"id": second})["data"]["campaignDryRun"]
    notice = service(api, segment)
    assert "errors" not in notice, notice
    planned = api.gql(DRY_RUN, {"id": notice["data"]["draftCampaign"]["campaignId"]}
                      )["data"]["campaignDryRun"]
    # Then the promotion is capped; the notice reaches the friend, and the customer who
    # withdrew marketing consent (its purpose is service), never the do-not-disturb one
    assert {"reason": "CAP_DAY", "count": 1} in promo["excluded"]
    included = sorted(s["customerId"] for s in planned["sample"] if s["included"])
    assert included == sorted([ids["friend"], ids["withdrawn"]])
    reasons = {s["customerId"]: s["reason"] for s in planned["sample"]}
    assert (reasons[ids["dnd"]], reasons[ids["stranger"]]) == ("DO_NOT_DISTURB", "NOT_FRIEND")


def test_only_a_manager_may_declare_service_and_promotions_cannot_pose_as_one(
        api: Api, pg_url: str, pg_app: Siyu) -> None:
    segment = define(api, "buyers", {"ordered": {"atLeast": 1}})
    operator = "00000000-0000-4000-8000-00000000c0b1"
    hire_as(pg_app, operator, "copywriter")
    api.tokens["operator"] = issue_token(pg_url, "staff", operator, None, "tests")
    assert code(service(api, segment, as_="operator")) == ("SERVICE_CLASS_FORBIDDEN",
                                                           "messageClass")
    assert code(service(api, segment, text="年货节限时折扣")) == ("SERVICE_CLASS_REFUSED",
                                                             "variants[0].text")
    assert code(service(api, segment, reference=None)) == ("SERVICE_CLASS_REFUSED",
                                                        "serviceReference")
    # an operator still drafts marketing
    assert "errors" not in api.gql(DRY_RUN, {"id": draft(api, segment)}, as_="operator")


def test_a_holiday_holds_marketing_to_its_caps_and_says_so_in_the_plan(api: Api) -> None:
    # Given a holiday from today (Shanghai) with no WeCom marketing message a day
    ids = seed(api)
    segment = define(api, "buyers", {"ordered": {"atLeast": 1}})
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()
    holiday = api.gql(HOLIDAY, {"start": today.isoformat(),
                                "end": (today + timedelta(days=2)).isoformat(), "day": 0})
    assert "errors" not in holiday, holiday
    assert holiday["data"]["defineHoliday"]["holiday"]["caps"] == [
        {"channel": "wecom_mass", "day": 0}]
    # When a promotion and an order notice are planned
    promo = api.gql(SAMPLE, {"id": draft(api, segment)})["data"]["campaignDryRun"]
    notice = api.gql(SAMPLE, {"id": service(api, segment)["data"]["draftCampaign"][
        "campaignId"]})["data"]["campaignDryRun"]
    # Then the promotion's friend is excluded by the holiday's cap, named in the plan
    friend = next(s for s in promo["sample"] if s["customerId"] == ids["friend"])
    assert (friend["included"], friend["reason"], friend["holiday"]) == (
        False, "HOLIDAY_CAP_DAY", "春节")
    # And the order notice is not held by the holiday
    assert ids["friend"] in [s["customerId"] for s in notice["sample"] if s["included"]]
    listed = api.gql("{ holidays { name start } }")["data"]["holidays"]
    assert listed == [{"name": "春节", "start": today.isoformat()}]


def test_bad_holidays_get_typed_errors_and_change_nothing(api: Api) -> None:
    start = datetime.now(UTC).date() + timedelta(days=30)
    days = {"start": start.isoformat(), "end": (start + timedelta(days=3)).isoformat()}
    assert "errors" not in api.gql(HOLIDAY, {**days, "day": 1})
    backwards = {"start": days["end"], "end": days["start"], "day": 1}
    assert code(api.gql(HOLIDAY, backwards)) == ("INVALID_HOLIDAY", "end")
    assert code(api.gql(HOLIDAY, {**days, "day": 1})) == ("HOLIDAY_OVERLAP", "start")
    later = {"start": (start + timedelta(days=10)).isoformat(),
             "end": (start + timedelta(days=11)).isoformat()}
    assert code(api.gql(HOLIDAY, {**later, "day": 5})) == ("HOLIDAY_NOT_STRICTER",
                                                          "caps.wecom_mass.day")
    unknown = api.gql('mutation { removeHoliday(holidayId: "nope") { name } }')
    assert code(unknown) == ("UNKNOWN_HOLIDAY", "holidayId")
    assert len(api.gql("{ holidays { name } }")["data"]["holidays"]) == 1


SOP = """
mutation($class: String!, $target: String!, $sender: String) {
  defineSop(input: {name: "入群", trigger: {kind: "group_joined"}, steps: [
    {channel: "wecom_mass", messageClass: $class, serviceReason: "after_sales",
     target: $target, senderUserId: $sender,
     variants: [{variantId: "a", text: "售后服务指南"}]}]}) { sopId } }"""


def test_sop_service_steps_and_group_steps_are_checked_over_graphql(
        api: Api, pg_url: str, pg_app: Siyu) -> None:
    operator = "00000000-0000-4000-8000-00000000c0b2"
    hire_as(pg_app, operator, "copywriter")
    api.tokens["operator"] = issue_token(pg_url, "staff", operator, None, "tests")
    service_step = {"class": "service", "target": "member", "sender": None}
    assert code(api.gql(SOP, service_step, as_="operator")) == (
        "SERVICE_CLASS_FORBIDDEN", "steps[0].messageClass")
    assert "errors" not in api.gql(SOP, service_step)
    group_step = {"class": "service", "target": "group", "sender": None}
    assert code(api.gql(SOP, group_step)) == ("INVALID_SOP", "steps[0].senderUserId")
    assert code(api.gql(SOP, {**group_step, "sender": "zhangsan"})) == (
        "NOT_A_MEMBER", "steps[0].senderUserId")
    owner = "00000000-0000-4000-8000-00000000c0b3"
    hire_as(pg_app, owner, "sales", wecom_user_id="zhangsan")
    assert "errors" not in api.gql(SOP, {**group_step, "sender": "zhangsan"})
