"""Every catalogue event can be ingested through GraphQL and shows in profile and history."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from domain.catalogue import example
from domain.ingestion import EVENT_TYPES
from tests.integration.api.conftest import Api
from tests.integration.api.test_graphql_http import RECORD

pytestmark = pytest.mark.integration

# An order that makes every type meaningful: causes before their effects.
ORDER = [
    "REGISTERED", "IDENTITY_LINKED", "PROFILE_UPDATED", "CHANNEL_CODE_SCANNED", "REFERRED",
    "OFFICIAL_ACCOUNT_FOLLOWED", "OFFICIAL_ACCOUNT_UNFOLLOWED", "MEMBER_REGISTERED",
    "HALF_FRIEND_ADDED", "FRIEND_ADDED", "FRIEND_EDITED", "MESSAGE_RECEIVED", "MESSAGE_SENT",
    "HOLIDAY_GREETING_SENT", "FOLLOW_UP_RECORDED", "STAFF_MUTED", "PERSONAL_WECHAT_FRIEND_ADDED",
    "PERSONAL_WECHAT_FRIEND_DELETED", "TRANSFER_FAILED",
    "FRIEND_DELETED", "DND_SET", "DND_CLEARED",
    "CONSENT_GIVEN", "CONSENT_WITHDRAWN", "TAGGED", "UNTAGGED", "GROUP_JOINED", "GROUP_LEFT",
    "CONTENT_VIEWED", "CONTENT_FORWARDED", "CONTENT_COMMENTED", "ACTIVITY_JOINED",
    "LIVE_STREAM_WATCHED", "STORE_VISITED", "CAMPAIGN_MESSAGE_READ", "CAMPAIGN_LINK_CLICKED",
    "SCRIPT_USED", "PRODUCT_VIEWED", "ADDED_TO_CART", "COUPON_ISSUED",
    "COUPON_REDEEMED", "POINTS_EARNED", "POINTS_SPENT", "ORDER_PLACED", "ORDER_PAID",
    "ORDER_REFUNDED", "ORDER_CANCELLED", "SURVEY_ANSWERED",
]

PROFILE = """query($id: ID!) { customer(id: $id) {
  eventCount tags groups officialAccounts memberLevel referredBy doNotDisturb
  consents { purpose wordingVersion } pointsBalance couponsIssued couponsRedeemed
  ordersPlaced ordersCancelled orderCount gmvFen refundedFen contentViews contentForwards
  messagesReceived messagesSent activitiesJoined mutedStaffIds currentStaffIds nickname
  identities { namespace value } } }"""

HISTORY = """query($id: ID!) { customerHistory(customerId: $id, first: 200, order: OLDEST_FIRST) {
  edges { node { type data } } } }"""


def test_the_order_covers_every_type() -> None:
    assert sorted(ORDER) == sorted(EVENT_TYPES)


def test_every_catalogue_type_is_recorded_and_shows_in_profile_and_history(
    api: Api, now: datetime
) -> None:
    # Given the inviter exists
    inviter = example("REGISTERED") | {"eventId": "inviter",
                                       "customer": {"namespace": "wx_unionid",
                                                    "value": "oInviter"}}
    # and one documented example per type, a second apart, in causal order
    events: list[dict[str, Any]] = [inviter | {"occurredAt": (now - timedelta(hours=1)).isoformat()}]
    for n, kind in enumerate(ORDER):
        item = example(kind) | {"occurredAt": (now - timedelta(minutes=50 - n)).isoformat()}
        if kind == "POINTS_SPENT":
            item["points"] = 40
        if kind in ("ORDER_CANCELLED",):
            item["orderId"] = "to-cancel"
        if kind == "ORDER_PLACED":
            events.append(item | {"eventId": "placed-to-cancel", "orderId": "to-cancel"})
        events.append(item)
    # When they are recorded through GraphQL
    body = api.gql(RECORD, {"events": events})
    payload = body["data"]["recordCustomerEvents"]
    assert [r["error"] for r in payload["results"] if r["error"]] == []
    assert payload["accepted"] == len(events) and payload["projected"] is True
    customer_id = payload["results"][1]["customerId"]
    # Then the profile shows them
    profile = api.gql(PROFILE, {"id": customer_id}, as_="manager")["data"]["customer"]
    assert profile["officialAccounts"] == [] and profile["memberLevel"] == "gold"
    assert profile["referredBy"] == payload["results"][0]["customerId"]
    assert profile["doNotDisturb"] is False and profile["consents"] == []
    assert (profile["pointsBalance"], profile["couponsIssued"], profile["couponsRedeemed"]) == (
        60, 1, 1)
    assert (profile["ordersPlaced"], profile["ordersCancelled"], profile["orderCount"]) == (
        2, 1, 1)
    assert (profile["gmvFen"], profile["refundedFen"]) == (12900, 12900)
    assert (profile["contentViews"], profile["contentForwards"], profile["messagesReceived"],
            profile["messagesSent"], profile["activitiesJoined"]) == (1, 1, 1, 1, 1)
    assert profile["mutedStaffIds"] == [example("STAFF_MUTED")["staffId"]]
    assert profile["currentStaffIds"] == [] and profile["tags"] == [] and profile["groups"] == []
    assert profile["nickname"] == "小王"
    assert {i["namespace"] for i in profile["identities"]} == {"wecom_external:ww7788", "phone"}
    # and the history holds one event per action, without personal data
    history = api.gql(HISTORY, {"id": customer_id}, as_="manager")["data"]["customerHistory"]
    types = [e["node"]["type"] for e in history["edges"]]
    # + IdentityLinked, + OwnerChanged (the friend add made the staff member its owner)
    assert len(types) == profile["eventCount"] == len(events) - 1 + 2
    assert "Customer.OwnerChanged" in types
    assert "Customer.ReferralBrought" not in types  # that one is on the inviter
    assert "小王" not in str(history) and "8613800138000" not in str(history)
