"""A campaign's preview shows the exact text one customer would get, the dry run shows the
WeCom sender and why, a customer missing a value is excluded MISSING_VALUE (or gets the
operator's fallback), and a template naming an unknown variable is refused at draft."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.integration.api.conftest import STAFF_ID, Api
from tests.integration.api.test_graphql_http import event, record
from tests.integration.api.test_segments_http import define

pytestmark = pytest.mark.integration

DRAFT = """
mutation($segment: ID!, $fallbacks: [TemplateFallbackInput!]) {
  draftCampaign(input: {name: "vip", segmentId: $segment, channel: "wecom_mass",
    variants: [{variantId: "vip", text: "{member_level} 会员专享: 您有 {points_balance} 积分",
                fallbacks: $fallbacks}]}) { campaignId } }"""

PREVIEW = """
query($id: ID!, $customer: ID!) { campaignPreview(campaignId: $id, customerId: $customer) {
  text missing recipient { customerId included reason variantId sender senderBasis } } }"""

DRY_RUN = """
query($id: ID!) { campaignDryRun(campaignId: $id) {
  included excluded { reason count } senders { sender basis count }
  sample { customerId reason sender senderBasis } } }"""


def _seed(api: Api) -> dict[str, str]:
    now = datetime.now(UTC)
    facts: dict[str, list[dict[str, Any]]] = {
        "gold": [event("m", "MEMBER_REGISTERED", now, memberLevel="金卡"),
                 event("p", "POINTS_EARNED", now, points=120)],
        "plain": []}
    ids = {}
    for name, items in facts.items():
        who = {"namespace": "wecom_external:ww-corp", "value": f"wm{name}"}
        items = [event("f", "FRIEND_ADDED", now, who, channel="qr", staffId=STAFF_ID),
                 *[{**e, "customer": who} for e in items]]
        items = [{**e, "eventId": f"{name}-{e['eventId']}"} for e in items]
        ids[name] = record(api, items, waitForProjection=True)["results"][0]["customerId"]
    return ids


def _draft(api: Api, segment_id: str, fallbacks: list[dict[str, str]] | None = None
           ) -> dict[str, Any]:
    return api.gql(DRAFT, {"segment": segment_id, "fallbacks": fallbacks}, as_="manager")


def _preview(api: Api, campaign_id: str, customer_id: str) -> dict[str, Any]:
    body = api.gql(PREVIEW, {"id": campaign_id, "customer": customer_id}, as_="manager")
    assert "errors" not in body, body
    preview: dict[str, Any] = body["data"]["campaignPreview"]
    return preview


def test_the_preview_shows_the_exact_text_and_a_missing_value_excludes_with_its_reason(
        api: Api) -> None:
    # Given a gold member with 120 points and a friend with no member level
    ids = _seed(api)
    segment_id = define(api, "friends", {"isFriend": True})
    # When a WeCom campaign names {member_level} without a fallback
    campaign_id = _draft(api, segment_id)["data"]["draftCampaign"]["campaignId"]
    # Then the gold member's preview is her exact text, sent by her owner
    gold = _preview(api, campaign_id, ids["gold"])
    assert gold["text"] == "金卡 会员专享: 您有 120 积分"
    assert gold["recipient"] == {"customerId": ids["gold"], "included": True, "reason": None,
                                 "variantId": "vip", "sender": STAFF_ID,
                                 "senderBasis": "OWNER"}
    # ... the other would not be sent a blank: excluded, naming the missing variable
    plain = _preview(api, campaign_id, ids["plain"])
    assert (plain["text"], plain["missing"], plain["recipient"]["reason"]) == (
        None, ["member_level"], "MISSING_VALUE")
    # ... and someone outside the segment is said to be
    outside = _preview(api, campaign_id, "0a6f0000-0000-4000-8000-00000000abcd")
    assert outside["recipient"]["reason"] == "NOT_IN_SEGMENT"
    # And the dry run counts the exclusion and shows who sends, and why
    dry = api.gql(DRY_RUN, {"id": campaign_id}, as_="manager")["data"]["campaignDryRun"]
    assert dry["included"] == 1
    assert {"reason": "MISSING_VALUE", "count": 1} in dry["excluded"]
    assert dry["senders"] == [{"sender": STAFF_ID, "basis": "OWNER", "count": 1}]
    assert {s["senderBasis"] for s in dry["sample"] if s["reason"] is None} == {"OWNER"}


def test_a_fallback_fills_a_missing_value_and_unknown_variables_are_refused(
        api: Api) -> None:
    ids = _seed(api)
    segment_id = define(api, "friends", {"isFriend": True})
    # When the operator sets a fallback for {member_level}
    body = _draft(api, segment_id, [{"variable": "member_level", "text": "尊敬的"}])
    campaign_id = body["data"]["draftCampaign"]["campaignId"]
    # Then the friend without a level gets it, and their own points (0 is a value)
    plain = _preview(api, campaign_id, ids["plain"])
    assert (plain["text"], plain["missing"]) == ("尊敬的 会员专享: 您有 0 积分", [])
    assert _preview(api, campaign_id, ids["gold"])["text"] == "金卡 会员专享: 您有 120 积分"
    # When a fallback names a variable that does not exist / Then the draft is refused
    bad = _draft(api, segment_id, [{"variable": "nickname", "text": "亲"}])
    assert bad["errors"][0]["extensions"] == {
        "code": "UNKNOWN_TEMPLATE_VARIABLE", "field": "variants[0].fallbacks.nickname"}
    braces = _draft(api, segment_id, [{"variable": "member_level", "text": "{lifecycle}"}])
    assert braces["errors"][0]["extensions"]["code"] == "INVALID_TEMPLATE"
    # And the front line may not preview
    staff = api.gql(PREVIEW, {"id": campaign_id, "customer": ids["gold"]}, as_="staff")
    assert staff["errors"][0]["extensions"]["code"] == "FORBIDDEN"
