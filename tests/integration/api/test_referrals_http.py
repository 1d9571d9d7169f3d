"""Referral campaigns and coupons over HTTP: set-up, invite codes, attribution, the
leaderboard, coupons issued and verified once, the ledger."""

from __future__ import annotations

import time
from typing import Any

import pytest

from adapters.tokens import issue_token
from tests.integration.api.conftest import STAFF_ID, Api
from tests.integration.api.test_graphql_http import RECORD
from tests.integration.api.test_tag_groups_http import data, error

pytestmark = pytest.mark.integration

CAMPAIGN = """id name state invitees inviteCodes inviterRewards inviteeRewards rewardPoints
  rewardCouponFen capPerInviter inviterReward { kind value } inviteeReward { kind value }"""
DRAFT = f"""mutation($input: DraftReferralCampaignInput!) {{
  draftReferralCampaign(input: $input) {{ projected campaign {{ {CAMPAIGN} }} }} }}"""
ACTIVATE = f"""mutation($id: ID!) {{ activateReferralCampaign(campaignId: $id) {{
  projected campaign {{ {CAMPAIGN} }} }} }}"""
END = f"""mutation($id: ID!) {{ endReferralCampaign(campaignId: $id) {{
  campaign {{ {CAMPAIGN} }} }} }}"""
CODE = """mutation($id: ID!, $customer: ID) { inviteCode(campaignId: $id, customerId: $customer) {
  campaignId customerId code } }"""
LEADERS = """query($id: ID!) { referralLeaderboard(campaignId: $id) { rank customerId invitees
  rewards rewardPoints } }"""
ONE = f"""query($id: ID!) {{ referralCampaign(campaignId: $id) {{ {CAMPAIGN} }} }}"""
ISSUE = """mutation($input: IssueCouponInput!) { issueCoupon(input: $input) { couponId
  customerId valueFen expiresAt redemptionCode projected } }"""
REDEEM = """mutation($code: String!) { redeemCouponCode(code: $code, storeId: "sh-01") {
  couponId customerId status valueFen storeId redeemedAt } }"""
COUPONS = """query($customer: ID) { customerCoupons(customerId: $customer) { couponId status
  valueFen source redemptionCode } }"""
LEDGER = """query { couponLedger { issued redeemed expired outstanding issuedValueFen
  redeemedValueFen } }"""


def register(api: Api, name: str, **extra: Any) -> str:
    body = data(api.gql(RECORD, {"events": [{
        "eventId": f"reg-{name}", "type": "REGISTERED", "occurredAt": "2026-11-20T02:00:00Z",
        "customer": {"namespace": "wx_unionid", "value": name}, **extra}]}))
    customer_id: str = body["recordCustomerEvents"]["results"][0]["customerId"]
    return customer_id


def wait_for(api: Api, campaign_id: str, invitees: int) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while True:
        row: dict[str, Any] = data(api.gql(ONE, {"id": campaign_id}))["referralCampaign"]
        if row["invitees"] == invitees or time.monotonic() > deadline:
            return row
        time.sleep(0.05)


def test_a_referral_campaign_from_set_up_to_leaderboard(api: Api, pg_url: str) -> None:
    # Given an active campaign: 88 points per invitee for the inviter, capped at 1
    drafted = data(api.gql(DRAFT, {"input": {
        "name": "老带新", "startsAt": "2026-11-01T00:00:00Z", "capPerInviter": 1,
        "inviterReward": {"kind": "POINTS", "value": 88},
        "inviteeReward": {"kind": "COUPON", "value": 1000, "validDays": 14}}}, as_="manager"))
    campaign = drafted["draftReferralCampaign"]["campaign"]
    assert campaign["state"] == "DRAFT" and campaign["inviteeReward"]["kind"] == "COUPON"
    cid = campaign["id"]
    assert data(api.gql(ACTIVATE, {"id": cid}, as_="manager"))[
        "activateReferralCampaign"]["campaign"]["state"] == "ACTIVE"
    # And an inviter, who asks for their code (twice) as a customer
    inviter = register(api, "inviter")
    token = issue_token(pg_url, "customer", inviter, None, "tests")
    code = data(api.gql(CODE, {"id": cid}, token=token))["inviteCode"]["code"]
    assert data(api.gql(CODE, {"id": cid}, token=token))["inviteCode"]["code"] == code
    assert data(api.gql(CODE, {"id": cid, "customer": inviter}))["inviteCode"]["code"] == code
    # (another customer cannot get it, front-line staff not for a stranger)
    other = register(api, "other")
    assert error(api.gql(CODE, {"id": cid, "customer": other}, token=token))["code"] == \
        "FORBIDDEN"
    assert error(api.gql(CODE, {"id": cid, "customer": other}, as_="staff"))["code"] == \
        "FORBIDDEN"
    # When two new friends add a staff member with the code
    for name in ("f1", "f2"):
        data(api.gql(RECORD, {"events": [{
            "eventId": f"fa-{name}", "type": "FRIEND_ADDED", "occurredAt": "2026-11-20T03:00:00Z",
            "customer": {"namespace": "wecom_external:ww1", "value": name}, "staffId": STAFF_ID,
            "state": code}]}))
    # Then both are attributed, the inviter rewarded once (the cap), each invitee a coupon
    row = wait_for(api, cid, 2)
    assert (row["invitees"], row["inviteCodes"], row["inviterRewards"], row["inviteeRewards"],
            row["rewardPoints"], row["rewardCouponFen"]) == (2, 1, 1, 2, 88, 2000)
    leaders = data(api.gql(LEADERS, {"id": cid}))["referralLeaderboard"]
    assert leaders == [{"rank": 1, "customerId": inviter, "invitees": 2, "rewards": 1,
                        "rewardPoints": 88}]
    # And an ended campaign gives no more codes
    data(api.gql(END, {"id": cid}, as_="manager"))
    assert error(api.gql(CODE, {"id": cid, "customer": other}))["code"] == \
        "REFERRAL_CAMPAIGN_CLOSED"
    assert error(api.gql(ACTIVATE, {"id": cid}, as_="manager"))["code"] == \
        "REFERRAL_CAMPAIGN_STATE"
    assert error(api.gql(DRAFT, {"input": {
        "name": "x", "startsAt": "2026-11-01T00:00:00Z",
        "inviterReward": {"kind": "POINTS", "value": 0}}}, as_="manager"))["code"] == \
        "INVALID_INPUT"
    assert error(api.gql(DRAFT, {"input": {
        "name": "x", "startsAt": "2026-11-01T00:00:00Z",
        "inviterReward": {"kind": "POINTS", "value": 1}}}, as_="staff"))["code"] == "FORBIDDEN"


def test_a_coupon_is_issued_shown_to_its_holder_and_verified_once(api: Api, pg_url: str
                                                                   ) -> None:
    # Given a coupon issued to a customer
    holder = register(api, "holder")
    issued = data(api.gql(ISSUE, {"input": {"customerId": holder, "valueFen": 1500,
                                            "validDays": 30}}, as_="manager"))["issueCoupon"]
    code = issued["redemptionCode"]
    assert issued["projected"] and issued["valueFen"] == 1500 and len(code) == 14
    # The holder sees the code; a service sees the coupon, not the code
    token = issue_token(pg_url, "customer", holder, None, "tests")
    mine = data(api.gql(COUPONS, {}, token=token))["customerCoupons"]
    assert mine == [{"couponId": issued["couponId"], "status": "ISSUED", "valueFen": 1500,
                     "source": "manual", "redemptionCode": code}]
    assert data(api.gql(COUPONS, {"customer": holder}))["customerCoupons"][0][
        "redemptionCode"] is None
    # When a store verifies it, and again
    assert error(api.gql(REDEEM, {"code": code}, token=token))["code"] == "FORBIDDEN"
    redeemed = data(api.gql(REDEEM, {"code": code.lower()}, as_="staff"))["redeemCouponCode"]
    assert (redeemed["couponId"], redeemed["status"], redeemed["storeId"]) == (
        issued["couponId"], "REDEEMED", "sh-01")
    assert error(api.gql(REDEEM, {"code": code}, as_="staff"))["code"] == \
        "COUPON_ALREADY_REDEEMED"
    assert error(api.gql(REDEEM, {"code": "0000-0000-0000"}, as_="staff"))["code"] == \
        "UNKNOWN_REDEMPTION_CODE"
    assert error(api.gql(ISSUE, {"input": {"customerId": holder, "valueFen": 0}},
                         as_="manager"))["code"] == "INVALID_INPUT"
    # Then the ledger counts one issued, one redeemed
    deadline = time.monotonic() + 5
    while True:
        ledger = data(api.gql(LEDGER, {}, as_="manager"))["couponLedger"]
        if ledger["redeemed"] == 1 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert ledger == {"issued": 1, "redeemed": 1, "expired": 0, "outstanding": 0,
                      "issuedValueFen": 1500, "redeemedValueFen": 1500}
