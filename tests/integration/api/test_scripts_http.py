"""The chat-script library over HTTP: writers, versions, search, and uses per staff member."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.api.conftest import STAFF_ID, Api
from tests.integration.api.test_tag_groups_http import data, error, friend_of

pytestmark = pytest.mark.integration

CREATE = """mutation($s: String!, $t: String!, $b: String!, $k: [String!]!, $kind: ScriptKind!) {
  createChatScript(input: {scenario: $s, title: $t, body: $b, keywords: $k, kind: $kind}) {
    script { id version scenario kind } projected } }"""
REVISE = """mutation($id: ID!, $b: String!) { reviseChatScript(input: {scriptId: $id,
  scenario: "催付", title: "温和提醒", body: $b, keywords: ["付款"]}) {
  script { version body } projected } }"""
SEARCH = """query($s: String, $k: String) { chatScripts(scenario: $s, keyword: $k) {
  edges { node { title version uses } } } }"""
ONE = """query($id: ID!) { chatScript(id: $id) { version versions { version body by }
  usage { staffId uses } uses } }"""
USE = """mutation($id: ID!, $c: ID!) { recordScriptUse(input: {scriptId: $id, customerId: $c}) {
  script { uses } projected } }"""


def create(api: Api, scenario: str, title: str, body: str, keywords: list[str],
           kind: str = "SCRIPT", as_: str = "manager") -> str:
    body_ = data(api.gql(CREATE, {"s": scenario, "t": title, "b": body, "k": keywords,
                                  "kind": kind}, as_=as_))
    script_id: str = body_["createChatScript"]["script"]["id"]
    return script_id


def test_scripts_are_versioned_searchable_and_counted_per_staff_member(api: Api) -> None:
    # Given two scripts in two scenarios
    pay = create(api, "催付", "温和提醒", "亲, 订单还未付款哦", ["付款"])
    create(api, "售后", "安抚", "非常抱歉给您带来不便", ["退款"], kind="SOP")
    # When the first is edited
    revised = data(api.gql(REVISE, {"id": pay, "b": "亲, 库存不多啦"}, as_="manager"))
    assert revised["reviseChatScript"] == {"script": {"version": 2, "body": "亲, 库存不多啦"},
                                           "projected": True}
    # Then search by scenario and by keyword finds it, at its current version
    by_scenario = data(api.gql(SEARCH, {"s": "催付"}, as_="staff"))["chatScripts"]["edges"]
    assert [e["node"] for e in by_scenario] == [{"title": "温和提醒", "version": 2, "uses": 0}]
    by_keyword = data(api.gql(SEARCH, {"k": "退"}, as_="staff"))["chatScripts"]["edges"]
    assert [e["node"]["title"] for e in by_keyword] == ["安抚"]
    assert data(api.gql(SEARCH, {"k": "%"}, as_="staff"))["chatScripts"]["edges"] == []
    # And when the staff member uses it with a friend, and an ingestion client reports a use
    customer = friend_of(api, STAFF_ID, "oScript1")
    used = data(api.gql(USE, {"id": pay, "c": customer}, as_="staff"))["recordScriptUse"]
    assert used == {"script": {"uses": 1}, "projected": True}
    at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    data(api.gql("""mutation($e: [CustomerEventInput!]!) { recordCustomerEvents(input: {
        events: $e, waitForProjection: true}) { accepted } }""", {"e": [{
        "eventId": "su-1", "type": "SCRIPT_USED", "occurredAt": at, "staffId": "other-staff",
        "customer": {"namespace": "wx_unionid", "value": "oScript1"}, "scriptId": pay}]}))
    # Then both versions are readable and uses are counted per staff member
    for _ in range(100):  # recordCustomerEvents waits for customer_profile only
        one = data(api.gql(ONE, {"id": pay}, as_="manager"))["chatScript"]
        if one["uses"] == 2:
            break
        time.sleep(0.05)
    assert [v["body"] for v in one["versions"]] == ["亲, 订单还未付款哦", "亲, 库存不多啦"]
    assert one["uses"] == 2
    assert sorted((u["staffId"], u["uses"]) for u in one["usage"]) == [
        (STAFF_ID, 1), ("other-staff", 1)]
    mine = data(api.gql(ONE, {"id": pay}, as_="staff"))["chatScript"]["usage"]
    assert mine == [{"staffId": STAFF_ID, "uses": 1}]


def test_only_writers_edit_scripts_and_staff_record_uses_with_their_own_customers(
        api: Api) -> None:
    assert error(api.gql(CREATE, {"s": "x", "t": "y", "b": "z", "k": [], "kind": "SCRIPT"},
                         as_="staff"))["code"] == "FORBIDDEN"
    script = create(api, "欢迎", "新客", "欢迎!", [])
    stranger = friend_of(api, "0a6f0000-0000-4000-8000-0000000000ff", "oScript2")
    assert error(api.gql(USE, {"id": script, "c": stranger}, as_="staff"))["code"] == (
        "NOT_FOUND")
    assert error(api.gql(CREATE, {"s": "x", "t": "y", "b": " ", "k": [], "kind": "SCRIPT"},
                         as_="manager")) == {"code": "BAD_INPUT", "field": "body"}
