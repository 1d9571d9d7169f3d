"""Customers as clients over HTTP: WeChat login without a token, their own events, the
referral campaigns they may invite into; the gate lets nothing else through anonymously."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from adapters.tokens import ensure_token_table, issue_token
from application.app import Siyu
from fakes.wecom import RunningFakeWeCom
from siyu.api_process import create_app
from siyu.settings import Settings
from tests.conftest import SECRET
from tests.integration.api.conftest import MANAGER_ID, Api
from tests.integration.api.test_referrals_http import ACTIVATE, DRAFT
from tests.support.directory import hire_as

pytestmark = pytest.mark.integration

LOGIN = """mutation($code: String!) { loginWithWeChat(code: $code) {
  token customerId expiresAt registered } }"""
ME = "{ me { id firstChannel identities { namespace value } doNotDisturb contentViews "\
     "consents { purpose wordingVersion } } }"
MINE = """mutation($events: [MyEventInput!]!) { recordMyEvents(events: $events) {
  accepted duplicates rejected results { status error { code field } } } }"""
INVITABLE = """{ invitableReferralCampaigns { id name rewardsLeft invitees
  inviterReward { kind value } } }"""


@pytest.fixture
def client_api(pg_url: str, pg_app: Siyu, live_projections: None, tmp_path: Path,
               fake_wecom: RunningFakeWeCom) -> Iterator[Api]:
    settings = replace(Settings(database_url=pg_url, broker_url=None, data_dir=tmp_path,
                                secret=SECRET), fake_gateway_port=fake_wecom.port,
                       customer_token_minutes=5)
    ensure_token_table(pg_url)
    hire_as(pg_app, MANAGER_ID, "private_domain_manager", "middle_office")  # the directory
    tokens = {"manager": issue_token(pg_url, "staff", MANAGER_ID,
                                     "private_domain_manager", "tests")}
    with TestClient(create_app(settings), follow_redirects=False) as client:
        yield Api(client=client, tokens=tokens)


def _wx_login(fake: RunningFakeWeCom, openid: str, unionid: str | None = None) -> str:
    code: str = httpx.post(f"{fake.url}/fake/wechat/login",
                           json={"openid": openid, "unionid": unionid}).json()["code"]
    return code


def _anonymous(api: Api, query: str, variables: dict[str, Any] | None = None) -> Any:
    """A request without a token (the starlette test client's response)."""
    return api.client.post("/graphql", json={"query": query, "variables": variables})


def test_a_wechat_login_registers_the_customer_once_and_gives_a_short_lived_token(
    client_api: Api, fake_wecom: RunningFakeWeCom, now: datetime
) -> None:
    # When a new WeChat user logs in, without a token
    first = _anonymous(client_api, LOGIN, {"code": _wx_login(fake_wecom, "oNewUser1", "uN1")})
    assert first.status_code == 200, first.text
    login = first.json()["data"]["loginWithWeChat"]
    # Then they are registered, with a token that expires in minutes
    assert login["registered"] is True
    expires = datetime.fromisoformat(login["expiresAt"])
    assert now + timedelta(minutes=4) < expires < now + timedelta(minutes=6)
    me = client_api.gql(ME, token=login["token"])["data"]["me"]
    assert me["id"] == login["customerId"] and me["firstChannel"] == "mini_program"
    assert {i["namespace"]: i["value"] for i in me["identities"]} == {
        "wx_openid:wxfakeminiprogram": "oNewUser1", "wx_unionid": "uN1"}
    # When they log in again with a new code, they are the same customer
    again = _anonymous(client_api, LOGIN, {"code": _wx_login(fake_wecom, "oNewUser1")})
    assert again.json()["data"]["loginWithWeChat"]["customerId"] == login["customerId"]
    assert again.json()["data"]["loginWithWeChat"]["registered"] is False
    # A used, unknown or malformed code is a typed refusal
    used = _anonymous(client_api, LOGIN, {"code": "never-issued"}).json()
    assert used["errors"][0]["extensions"] == {"code": "LOGIN_FAILED", "field": "code"}
    bad = _anonymous(client_api, LOGIN, {"code": "x y"}).json()
    assert bad["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


@pytest.mark.parametrize("query", [
    "{ customers(first: 1) { edges { node { id } } } }",
    'mutation { loginWithWeChat(code: "c") { token } hireStaff(input: {role: "sales", '
    'department: "front_office", displayName: "x"}) { staffId } }',
    'mutation { loginWithWeChat(code: "c") { token } } query Q { staffMembers { id } }',
    'mutation { ...F } fragment F on Mutation { loginWithWeChat(code: "c") { token } }',
    'mutation { a: loginWithWeChat(code: "c") { token } b: loginWithWeChat(code: "d") '
    '{ token } }',
    '{ loginWithWeChat: me { id } }',
], ids=["query", "second-field", "second-operation", "fragment", "two-logins", "alias-query"])
def test_nothing_but_one_login_runs_without_a_token(client_api: Api, query: str) -> None:
    response = _anonymous(client_api, query)
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_a_customer_records_their_own_views_consent_and_opt_out_and_nothing_else(
    client_api: Api, fake_wecom: RunningFakeWeCom, now: datetime
) -> None:
    token = _anonymous(client_api, LOGIN, {"code": _wx_login(fake_wecom, "oSelf1")}).json()[
        "data"]["loginWithWeChat"]["token"]
    at = now.isoformat()
    events = [
        {"eventId": "v1", "type": "CONTENT_VIEWED", "occurredAt": at, "contentId": "c-1"},
        {"eventId": "c1", "type": "CONSENT_GIVEN", "occurredAt": at, "purpose": "marketing",
         "wordingVersion": "2026-10"},
        {"eventId": "d1", "type": "DND_SET", "occurredAt": at},
        {"eventId": "o1", "type": "ORDER_PAID", "occurredAt": at},
        {"eventId": "v2", "type": "CONTENT_VIEWED", "occurredAt": at},
    ]
    body = client_api.gql(MINE, {"events": events}, token=token)["data"]["recordMyEvents"]
    assert (body["accepted"], body["rejected"]) == (3, 2)
    assert [r["error"] and r["error"]["code"] for r in body["results"]] == [
        None, None, None, "NOT_SELF_SERVICE", "MISSING_FIELD"]
    # A re-sent id records nothing new
    again = client_api.gql(MINE, {"events": events[:1]}, token=token)["data"]["recordMyEvents"]
    assert again["duplicates"] == 1
    client_api.gql(MINE, {"events": [{"eventId": "sync", "type": "PRODUCT_VIEWED",
                                      "occurredAt": at, "sku": "s"}]}, token=token)
    deadline = datetime.now().timestamp() + 5
    while True:
        me = client_api.gql(ME, token=token)["data"]["me"]
        if me["contentViews"] == 1 or datetime.now().timestamp() > deadline:
            break
    assert me["doNotDisturb"] is True and me["contentViews"] == 1
    assert me["consents"] == [{"purpose": "marketing", "wordingVersion": "2026-10"}]
    # Staff tokens cannot record as a customer
    refused = client_api.gql(MINE, {"events": events[:1]}, as_="manager")
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_a_customer_lists_the_referral_campaigns_they_may_invite_into(
    client_api: Api, fake_wecom: RunningFakeWeCom, pg_url: str
) -> None:
    drafted = client_api.gql(DRAFT, {"input": {
        "name": "老带新", "startsAt": "2026-11-01T00:00:00Z", "capPerInviter": 2,
        "inviterReward": {"kind": "POINTS", "value": 88}}}, as_="manager")
    campaign = drafted["data"]["draftReferralCampaign"]["campaign"]["id"]
    token = _anonymous(client_api, LOGIN, {"code": _wx_login(fake_wecom, "oInv1")}).json()[
        "data"]["loginWithWeChat"]["token"]
    assert client_api.gql(INVITABLE, token=token)["data"]["invitableReferralCampaigns"] == []
    client_api.gql(ACTIVATE, {"id": campaign}, as_="manager")
    listed = client_api.gql(INVITABLE, token=token)["data"]["invitableReferralCampaigns"]
    assert listed == [{"id": campaign, "name": "老带新", "rewardsLeft": 2, "invitees": 0,
                       "inviterReward": {"kind": "POINTS", "value": 88}}]
    staff = client_api.gql(INVITABLE, as_="manager")
    assert staff["errors"][0]["extensions"]["code"] == "FORBIDDEN"
