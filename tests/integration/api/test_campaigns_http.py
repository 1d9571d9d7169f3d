"""Campaigns over HTTP: draft, dry run with exclusions by rule, launch, caps across
campaigns, cancel."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from application.app import Siyu
from application.campaigns import SendOutcome
from projections.runner import Tracker
from tests.integration.api.conftest import STAFF_ID, Api
from tests.integration.api.test_graphql_http import event, record
from tests.integration.api.test_segments_http import define

pytestmark = pytest.mark.integration

DRAFT = """
mutation($segment: ID!, $channel: String!, $name: String!) {
  draftCampaign(input: {name: $name, segmentId: $segment, channel: $channel, costFen: 50000,
    variants: [{variantId: "new", lifecycles: [NEW], text: "欢迎! 您有 {points_balance} 积分",
                templateId: "tpl-new"},
               {variantId: "all", text: "双十二福利", templateId: "tpl-all"}]}) {
    campaignId position }
}"""

DRY_RUN = """
query($id: ID!) { campaignDryRun(campaignId: $id) {
  audience included deferred excluded { reason count }
  sample { customerId included reason variantId sender senderUserId } } }"""

LAUNCH = """
mutation($id: ID!) { launchCampaign(campaignId: $id) {
  position plan { audience included excluded { reason count } } } }"""

CAMPAIGN = """
query($id: ID!) { campaign(id: $id) { name state channel audience included
  excluded { reason count } sent failed } }"""


def customer(name: str) -> dict[str, str]:
    return {"namespace": "wecom_external:ww-corp", "value": f"wm{name}"}


def seed(api: Api) -> dict[str, str]:
    """Four buyers: a friend (sent), do-not-disturb, consent withdrawn, not a friend."""
    now = datetime.now(UTC)
    ids: dict[str, str] = {}
    facts: dict[str, list[dict[str, Any]]] = {
        "friend": [event("f", "FRIEND_ADDED", now, customer("friend"), channel="qr",
                         staffId=STAFF_ID)],
        "dnd": [event("f", "FRIEND_ADDED", now, customer("dnd"), channel="qr",
                      staffId=STAFF_ID), event("d", "DND_SET", now, customer("dnd"))],
        "withdrawn": [event("f", "FRIEND_ADDED", now, customer("withdrawn"), channel="qr",
                            staffId=STAFF_ID),
                      event("c", "CONSENT_GIVEN", now, customer("withdrawn"),
                            purpose="marketing", wordingVersion="v1"),
                      event("w", "CONSENT_WITHDRAWN", now, customer("withdrawn"),
                            purpose="marketing")],
        "stranger": [],
    }
    for name, items in facts.items():
        items = [{**e, "eventId": f"{name}-{e['eventId']}"} for e in items]
        items.append(event(f"{name}-o", "ORDER_PAID", now, customer(name), orderId=name,
                           amountFen=1000))
        payload = record(api, items, waitForProjection=True)
        ids[name] = payload["results"][0]["customerId"]
    return ids


def draft(api: Api, segment_id: str, channel: str = "wecom_mass", name: str = "双十二") -> str:
    body = api.gql(DRAFT, {"segment": segment_id, "channel": channel, "name": name},
                   as_="manager")
    assert "errors" not in body, body
    return str(body["data"]["draftCampaign"]["campaignId"])


def test_the_dry_run_shows_exclusions_by_rule_and_the_launch_records_the_same(
        api: Api) -> None:
    # Given four buyers and a campaign to the buyers' segment on WeCom mass send
    ids = seed(api)
    segment_id = define(api, "buyers", {"ordered": {"atLeast": 1}})
    campaign_id = draft(api, segment_id)
    # When a manager asks for a dry run
    dry = api.gql(DRY_RUN, {"id": campaign_id}, as_="manager")["data"]["campaignDryRun"]
    # Then one is included (through their friend, the staff member) and three are excluded
    assert (dry["audience"], dry["included"]) == (4, 1)
    assert dry["excluded"] == [{"reason": "DO_NOT_DISTURB", "count": 1},
                               {"reason": "CONSENT_WITHDRAWN", "count": 1},
                               {"reason": "NOT_FRIEND", "count": 1}]
    included = [s for s in dry["sample"] if s["included"]]
    assert [(s["customerId"], s["sender"]) for s in included] == [(ids["friend"], STAFF_ID)]
    # (that staff member has no staff record with a WeCom UserID: the send would fail
    # NO_SENDER_USERID, and the dry run says so)
    assert [s["senderUserId"] for s in included] == [None]
    # When it is launched, the plan and the campaign show the same numbers
    launched = api.gql(LAUNCH, {"id": campaign_id}, as_="manager")
    assert "errors" not in launched, launched
    plan = launched["data"]["launchCampaign"]["plan"]
    assert (plan["audience"], plan["included"], plan["excluded"]) == (4, 1, dry["excluded"])
    seen = api.gql(CAMPAIGN, {"id": campaign_id}, as_="manager")["data"]["campaign"]
    assert (seen["state"], seen["audience"], seen["included"], seen["excluded"]) == (
        "running", 4, 1, dry["excluded"])
    sends = api.gql("""query($id: ID!) { campaignSends(campaignId: $id) { edges {
        status node { customerId variantId sender } } } }""", {"id": campaign_id},
                    as_="manager")["data"]["campaignSends"]["edges"]
    assert [(e["status"], e["node"]["customerId"]) for e in sends] == [
        ("planned", ids["friend"])]
    # And launching twice is refused
    again = api.gql(LAUNCH, {"id": campaign_id}, as_="manager")
    assert again["errors"][0]["extensions"]["code"] == "CAMPAIGN_STATE"


def test_a_second_campaign_the_same_day_is_capped_across_campaigns(api: Api) -> None:
    seed(api)
    segment_id = define(api, "buyers", {"ordered": {"atLeast": 1}})
    first = draft(api, segment_id, name="first")
    assert "errors" not in api.gql(LAUNCH, {"id": first}, as_="manager")
    second = draft(api, segment_id, name="second")
    dry = api.gql(DRY_RUN, {"id": second}, as_="manager")["data"]["campaignDryRun"]
    assert dry["included"] == 0
    assert {"reason": "CAP_DAY", "count": 1} in dry["excluded"]


def test_cancelling_a_campaign_cancels_its_planned_sends(api: Api,
                                                         pg_app: Siyu) -> None:
    seed(api)
    segment_id = define(api, "buyers", {"ordered": {"atLeast": 1}})
    campaign_id = draft(api, segment_id)  # WeCom: the seeded buyers have external ids
    api.gql(LAUNCH, {"id": campaign_id}, as_="manager")
    body = api.gql("""mutation($id: ID!) { cancelCampaign(campaignId: $id, reason: "文案有误")
        { position } }""", {"id": campaign_id}, as_="manager")
    assert "errors" not in body, body
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    assert tracker.wait("campaign", pg_app.recorder.max_notification_id() or 0, 20)
    statuses = api.gql("""query($id: ID!) { campaignSends(campaignId: $id) { edges {
        status } } }""", {"id": campaign_id}, as_="manager")["data"]["campaignSends"]["edges"]
    assert statuses and {e["status"] for e in statuses} == {"cancelled"}


def test_bad_drafts_and_front_line_staff_are_refused(api: Api) -> None:
    segment_id = define(api, "buyers", {"ordered": {"atLeast": 1}})
    bad = api.gql("""mutation($s: ID!) { draftCampaign(input: {name: "x", segmentId: $s,
        channel: "sms", variants: [{variantId: "a", text: "Hi {nickname}"}]}) { campaignId } }""",
                  {"s": segment_id}, as_="manager")
    assert bad["errors"][0]["extensions"] == {"code": "UNKNOWN_TEMPLATE_VARIABLE",
                                              "field": "variants[0].text"}
    unknown = api.gql(DRAFT, {"segment": "0a6f0000-0000-4000-8000-00000000ffff",
                              "channel": "sms", "name": "x"}, as_="manager")
    assert unknown["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    staff = api.gql(DRY_RUN, {"id": "0a6f0000-0000-4000-8000-00000000ffff"}, as_="staff")
    assert staff["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_the_contact_policy_can_be_changed_and_is_validated(api: Api) -> None:
    change = """mutation($caps: [ChannelCapsInput!]!) { setContactPolicy(input: {caps: $caps,
        wecomQuotaRule: WEEK, quietStart: "22:00", quietEnd: "08:30"}) {
        wecomQuotaRule quietStart quietEnd caps { channel day week month } } }"""
    body = api.gql(change, {"caps": [{"channel": "sms", "day": 2, "week": 3, "month": None}]},
                   as_="manager")
    policy = body["data"]["setContactPolicy"]
    assert (policy["wecomQuotaRule"], policy["quietStart"], policy["quietEnd"]) == (
        "WEEK", "22:00", "08:30")
    assert {"channel": "sms", "day": 2, "week": 3, "month": None} in policy["caps"]
    bad = api.gql(change, {"caps": [{"channel": "fax", "day": 1}]}, as_="manager")
    assert bad["errors"][0]["extensions"] == {"code": "INVALID_INPUT", "field": "caps.fax"}


def test_the_confirmation_deadline_is_set_by_a_manager_and_validated(
        api: Api, pg_app: Siyu) -> None:
    segment_id = define(api, "buyers", {"ordered": {"atLeast": 1}})
    campaign_id = draft(api, segment_id)
    set_deadline = """mutation($id: ID!, $hours: Int!) {
        setCampaignConfirmationDeadline(campaignId: $id, hours: $hours) { position } }"""
    done = api.gql(set_deadline, {"id": campaign_id, "hours": 8}, as_="manager")
    assert "errors" not in done, done
    assert pg_app.campaigns.get(UUID(campaign_id)).confirm_hours == 8
    bad = api.gql(set_deadline, {"id": campaign_id, "hours": 0}, as_="manager")
    assert bad["errors"][0]["extensions"] == {"code": "INVALID_INPUT", "field": "hours"}
    staff = api.gql(set_deadline, {"id": campaign_id, "hours": 8}, as_="staff")
    assert staff["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_the_campaign_counts_failed_sends_by_reason_and_unknown_outcomes(
        api: Api, pg_app: Siyu) -> None:
    # Given a launched campaign whose one send's outcome could not be known
    ids = seed(api)
    segment_id = define(api, "buyers", {"ordered": {"atLeast": 1}})
    campaign_id = draft(api, segment_id)
    assert "errors" not in api.gql(LAUNCH, {"id": campaign_id}, as_="manager")
    pg_app.campaigns.record_send_outcomes([SendOutcome(
        UUID(campaign_id), UUID(ids["friend"]), 0, "wecom_mass", "all", False, "UNKNOWN")],
        datetime.now(UTC))
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    assert tracker.wait("campaign", pg_app.recorder.max_notification_id() or 0, 20)
    # When the campaign is read / Then the unknown outcome is counted, as a failure reason
    seen = api.gql("""query($id: ID!) { campaign(id: $id) { failed unknown
        failures { reason count } } }""", {"id": campaign_id}, as_="manager")
    assert seen["data"]["campaign"] == {"failed": 1, "unknown": 1,
                                        "failures": [{"reason": "UNKNOWN", "count": 1}]}
