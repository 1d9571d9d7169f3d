"""Segments over HTTP: define, members live, reasons, ledger, sizes, revisions, bad rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from application.app import Siyu
from projections.runner import Tracker
from tests.integration.api.conftest import STAFF_ID, Api
from tests.integration.api.test_graphql_http import event, record
from workers.auto_tag import AutoTagger
from workers.lent import opener

pytestmark = pytest.mark.integration

DEFINE = """
mutation Define($name: String!, $rule: SegmentRuleInput!) {
  defineSegment(input: {name: $name, rule: $rule, waitForProjection: true}) {
    segmentId position projected
  }
}"""

SEGMENT = """
query Seg($id: ID!, $since: DateTime) {
  segment(id: $id) {
    name ruleVersion rule timeDependent memberCount
    members(first: 10) { edges { since ruleVersion node { id tags } } pageInfo { hasNextPage } }
    entries(since: $since, change: ENTERED) { edges { node { customerId change cause causeEvent
                                                             ruleVersion backfilled } } }
  }
}"""

WHY = """
query Why($s: ID!, $c: ID!) {
  segmentExplanation(segmentId: $s, customerId: $c) {
    member matchesNow ruleVersion since
    predicates { path predicate value result observed }
    lastChange { change cause causeEvent }
  }
}"""

BOB = {"namespace": "wecom_external:ww-corp", "value": "wmBob0002"}
BUYERS = {"all": [{"ordered": {"atLeast": 2, "withinDays": 90}},
                  {"not": {"tagIn": ["黑名单"]}}]}


def define(api: Api, name: str, rule: dict[str, Any], as_: str = "manager") -> str:
    body = api.gql(DEFINE, {"name": name, "rule": rule}, as_=as_)
    assert "errors" not in body, body
    payload = body["data"]["defineSegment"]
    assert payload["projected"] is True
    return str(payload["segmentId"])


def order(n: int, at: datetime, customer: dict[str, str] | None = None) -> dict[str, Any]:
    return event(f"o{n}-{customer and customer['value']}", "ORDER_PAID", at, customer,
                 orderId=f"{n}-{customer and customer['value']}", amountFen=10_000)


def test_a_segment_fills_from_existing_customers_and_follows_new_events(api: Api) -> None:
    now = datetime.now(UTC)
    # Given Alice with two recent orders and Bob with one
    alice = record(api, [order(1, now - timedelta(days=10)), order(2, now - timedelta(days=2))])
    alice_id = alice["results"][0]["customerId"]
    bob = record(api, [order(1, now - timedelta(days=5), BOB)])["results"][0]["customerId"]
    # When a manager defines "bought twice in 90 days, not blacklisted"
    segment_id = define(api, "复购客户", BUYERS)
    # Then Alice is in and Bob is not; the backfill says Alice entered with her second order
    body = api.gql(SEGMENT, {"id": segment_id})["data"]["segment"]
    assert body["memberCount"] == 1 and body["timeDependent"] is True
    assert [e["node"]["id"] for e in body["members"]["edges"]] == [alice_id]
    entered = body["entries"]["edges"][0]["node"]
    assert (entered["cause"], entered["causeEvent"], entered["backfilled"]) == (
        "EVENT", "Customer.OrderPaid", True)
    # When Bob pays a second order, he enters because of that event
    record(api, [order(2, now - timedelta(hours=1), BOB)], waitForProjection=True)
    body = api.gql(SEGMENT, {"id": segment_id, "since": (now - timedelta(days=3)).isoformat()}
                   )["data"]["segment"]
    assert body["memberCount"] == 2
    newest = body["entries"]["edges"][0]["node"]
    assert (newest["customerId"], newest["cause"], newest["causeEvent"],
            newest["backfilled"]) == (bob, "EVENT", "Customer.OrderPaid", False)
    # When Alice is tagged 黑名单 she leaves, and the explanation says which predicate failed
    record(api, [event("t1", "TAGGED", now, tag="黑名单")], waitForProjection=True)
    why = api.gql(WHY, {"s": segment_id, "c": alice_id})["data"]["segmentExplanation"]
    assert why["member"] is False and why["matchesNow"] is False
    by_path = {p["path"]: p for p in why["predicates"]}
    assert by_path["all[0].ordered"]["result"] is True
    assert by_path["all[0].ordered"]["observed"] == 2
    assert by_path["all[1].not.tagIn"]["result"] is True  # the tag matched: `not` fails
    assert why["lastChange"] == {"change": "EXITED", "cause": "EVENT",
                                 "causeEvent": "Customer.Tagged"}


def test_segment_sizes_can_be_read_for_past_instants(api: Api) -> None:
    now = datetime.now(UTC)
    record(api, [order(1, now - timedelta(days=1)), order(2, now)])
    before = datetime.now(UTC)
    segment_id = define(api, "twice", {"ordered": {"atLeast": 2}})
    after = datetime.now(UTC) + timedelta(seconds=1)
    query = """query($id: ID!, $a: DateTime!, $b: DateTime!, $c: DateTime!) { segment(id: $id) {
        at: sizeAt(at: $a) later: sizeAt(at: $b)
        sizeSeries(from: $a, to: $c, everyHours: 1) { at size } } }"""
    body = api.gql(query, {"id": segment_id, "a": (before - timedelta(hours=1)).isoformat(),
                           "b": after.isoformat(),
                           "c": (after + timedelta(hours=1)).isoformat()})["data"]["segment"]
    assert (body["at"], body["later"]) == (0, 1)
    assert [p["size"] for p in body["sizeSeries"]] == [0, 1, 1]  # backfilled: in since `now`


def test_revising_a_segment_re_evaluates_members_under_the_new_version(api: Api) -> None:
    now = datetime.now(UTC)
    record(api, [order(1, now)])
    segment_id = define(api, "buyers", {"ordered": {"atLeast": 1}})
    revise = """mutation($id: ID!, $rule: SegmentRuleInput) {
        reviseSegment(input: {segmentId: $id, rule: $rule, waitForProjection: true}) {
          position projected } }"""
    body = api.gql(revise, {"id": segment_id, "rule": {"ordered": {"atLeast": 3}}},
                   as_="manager")
    assert body["data"]["reviseSegment"]["projected"] is True
    seg = api.gql(SEGMENT, {"id": segment_id})["data"]["segment"]
    assert (seg["ruleVersion"], seg["memberCount"]) == (2, 0)
    ledger = """query($id: ID!) { segmentLedger(segmentId: $id) { edges { node {
        change cause ruleVersion } } } }"""
    entries = [e["node"] for e in api.gql(ledger, {"id": segment_id})["data"]["segmentLedger"]
               ["edges"]]
    assert entries[0] == {"change": "EXITED", "cause": "REVISED", "ruleVersion": 2}
    # An unchanged revision records nothing
    again = api.gql(revise, {"id": segment_id, "rule": {"ordered": {"atLeast": 3}}},
                    as_="manager")["data"]["reviseSegment"]
    assert again["position"] is None


def test_archiving_a_segment_lets_every_member_out(api: Api) -> None:
    record(api, [order(1, datetime.now(UTC))])
    segment_id = define(api, "buyers", {"ordered": {"atLeast": 1}})
    archive = """mutation($id: ID!) { archiveSegment(input: {segmentId: $id,
        waitForProjection: true}) { projected } }"""
    assert api.gql(archive, {"id": segment_id}, as_="manager")["data"]["archiveSegment"][
        "projected"] is True
    listed = api.gql("{ segments(includeBuiltIn: false) { id } }", as_="manager")["data"]
    assert listed["segments"] == []
    seg = api.gql(SEGMENT, {"id": segment_id})["data"]["segment"]
    assert seg["memberCount"] == 0


@pytest.mark.parametrize(("rule", "code", "field"), [
    ({"ordered": {"atLeast": 0}}, "INVALID_SEGMENT_RULE", "rule.ordered.atLeast"),
    ({"all": []}, "INVALID_SEGMENT_RULE", "rule.all"),
    ({"any": [{"tagIn": ["a"]}, {"inactiveDays": 99999}]}, "INVALID_SEGMENT_RULE",
     "rule.any[1].inactiveDays"),
    ({"rfm": {}}, "INVALID_SEGMENT_RULE", "rule.rfm"),
    # Text no store can hold is refused at the edge, for every operation alike.
    ({"tagIn": ["bad\u0000tag"]}, "INVALID_INPUT", "rule.tagIn[0]"),
])
def test_invalid_rules_are_refused_with_the_place_at_fault(
        api: Api, rule: dict[str, Any], code: str, field: str) -> None:
    body = api.gql(DEFINE, {"name": "x", "rule": rule}, as_="manager")
    error = body["errors"][0]
    assert error["extensions"] == {"code": code, "field": field}
    assert api.gql("{ segments(includeBuiltIn: false) { id } }")["data"]["segments"] == []


def test_a_rule_node_with_two_predicates_is_a_validation_error(api: Api) -> None:
    body = api.gql(DEFINE, {"name": "x", "rule": {"tagIn": ["a"], "inGroup": "g"}},
                   as_="manager")
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


def test_front_line_staff_see_only_their_friends_among_members_and_cannot_define(
        api: Api) -> None:
    now = datetime.now(UTC)
    mine = record(api, [event("f1", "FRIEND_ADDED", now, channel="qr", staffId=STAFF_ID)])
    record(api, [event("f2", "FRIEND_ADDED", now, BOB, channel="qr",
                       staffId="0a6f0000-0000-4000-8000-000000000009")])
    segment_id = define(api, "friends", {"isFriend": True})
    body = api.gql(SEGMENT, {"id": segment_id}, as_="staff")  # the ledger is for managers
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    members = api.gql("""query($id: ID!) { segment(id: $id) { memberCount
        members { edges { node { id } } } } }""", {"id": segment_id}, as_="staff")
    seg = members["data"]["segment"]
    assert seg["memberCount"] == 2
    assert [e["node"]["id"] for e in seg["members"]["edges"]] == [
        mine["results"][0]["customerId"]]
    refused = api.gql(DEFINE, {"name": "x", "rule": {"isFriend": True}}, as_="staff")
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_preview_counts_matches_without_recording_anything(api: Api) -> None:
    now = datetime.now(UTC)
    record(api, [order(1, now), order(2, now, BOB)])
    body = api.gql("""query($r: SegmentRuleInput!) { segmentPreview(rule: $r) {
        size sampleCustomerIds } }""", {"r": {"gmv": {"atLeastFen": 5000}}}, as_="manager")
    assert body["data"]["segmentPreview"]["size"] == 2
    assert api.gql("{ segments(includeBuiltIn: false) { id } }")["data"]["segments"] == []


def test_a_customer_shows_their_segments_and_lifecycle_history(api: Api) -> None:
    now = datetime.now(UTC)
    alice = record(api, [event("f1", "FRIEND_ADDED", now, channel="qr", staffId=STAFF_ID)],
                   waitForProjection=True)["results"][0]["customerId"]
    define(api, "friends", {"isFriend": True})
    body = api.gql("""query($id: ID!) { customer(id: $id) { lifecycle
        segments { name } lifecycleHistory { stage cause causeEvent } } }""", {"id": alice})
    customer = body["data"]["customer"]
    assert [s["name"] for s in customer["segments"]] == ["Lifecycle: NEW", "friends"]
    assert customer["lifecycleHistory"] == [
        {"stage": "NEW", "cause": "EVENT", "causeEvent": "Customer.Registered"}]


def projected(app: Siyu) -> None:
    """Wait until the profiles include everything ``app`` wrote (the tagger's tags)."""
    tracker = Tracker(app.factory.datastore)  # type: ignore[attr-defined]
    assert tracker.wait("customer_profile", app.recorder.max_notification_id() or 0, 20)


def test_an_auto_tag_rule_tags_members_already_in_and_those_who_enter_once(
        api: Api, pg_app: Siyu, pg_url: str) -> None:
    now = datetime.now(UTC)
    # Given Alice who bought 奶粉 twice, and Bob once
    items = [{"sku": "milk-900g", "quantity": 1, "priceFen": 12900, "category": "奶粉"}]
    alice = record(api, [
        event("p1", "ORDER_PAID", now, orderId="1", amountFen=12900, items=items),
        event("p2", "ORDER_PAID", now, orderId="2", amountFen=12900, items=items),
        event("v1", "CONTENT_VIEWED", now, contentId="a-1", topic="育儿"),
    ])["results"][0]["customerId"]
    bob = record(api, [event("p3", "ORDER_PAID", now, BOB, orderId="3", amountFen=12900,
                             items=items)])["results"][0]["customerId"]
    # When a rule "bought 奶粉 twice → tag 奶粉复购" is created
    body = api.gql("""mutation($r: SegmentRuleInput!) { defineSegment(input: {name: "奶粉复购",
        rule: $r, autoTag: "奶粉复购", waitForProjection: true}) { segmentId projected } }""",
                   {"r": {"boughtCategory": {"category": "奶粉", "atLeast": 2}}}, as_="manager")
    segment_id = body["data"]["defineSegment"]["segmentId"]
    tagger = AutoTagger(pg_app, opener(pg_url))
    # Then the tagger tags Alice (retroactively), not Bob, with the rule as the reason
    assert tagger.run_once() == 1
    assert tagger.run_once() == 0
    projected(pg_app)
    profile = """query($id: ID!) { customer(id: $id) { tags tagDetails { tag by reason }
        favouriteCategories { category orders } topicViews { topic views } } }"""
    seen = api.gql(profile, {"id": alice})["data"]["customer"]
    assert seen["tagDetails"] == [{"tag": "奶粉复购", "by": "system",
                                   "reason": f"rule:{segment_id}"}]
    assert seen["favouriteCategories"] == [{"category": "奶粉", "orders": 2}]
    assert seen["topicViews"] == [{"topic": "育儿", "views": 1}]
    assert api.gql(profile, {"id": bob})["data"]["customer"]["tags"] == []
    # When Bob buys again he enters and is tagged; a tag removed by hand is not given again
    record(api, [event("p4", "ORDER_PAID", now, BOB, orderId="4", amountFen=12900,
                       items=items),
                 event("u1", "UNTAGGED", now, tag="奶粉复购")], waitForProjection=True)
    assert tagger.run_once() == 1
    assert tagger.run_once() == 0
    projected(pg_app)
    assert api.gql(profile, {"id": bob})["data"]["customer"]["tags"] == ["奶粉复购"]
    assert api.gql(profile, {"id": alice})["data"]["customer"]["tags"] == []


def test_sku_and_topic_predicates_select_by_counts(api: Api) -> None:
    now = datetime.now(UTC)
    record(api, [event("v1", "CONTENT_VIEWED", now, contentId="a-1", topic="育儿"),
                 event("v2", "CONTENT_VIEWED", now, contentId="a-2", topic="育儿"),
                 event("v3", "CONTENT_VIEWED", now, BOB, contentId="a-1", topic="育儿"),
                 event("p1", "ORDER_PAID", now, BOB, orderId="1", amountFen=100,
                       items=[{"sku": "s1", "quantity": 3, "priceFen": 33}])])
    preview = """query($r: SegmentRuleInput!) { segmentPreview(rule: $r) { size } }"""

    def size(rule: dict[str, Any]) -> int:
        body = api.gql(preview, {"r": rule}, as_="manager")
        return int(body["data"]["segmentPreview"]["size"])

    assert size({"viewedTopic": {"topic": "育儿", "atLeast": 2}}) == 1
    assert size({"viewedTopic": {"topic": "育儿", "atLeast": 1}}) == 2
    assert size({"boughtSku": {"sku": "s1", "atLeast": 3}}) == 1
    assert size({"boughtSku": {"sku": "s1", "atLeast": 4}}) == 0


def test_members_export_as_csv_for_managers_without_personal_data(api: Api) -> None:
    now = datetime.now(UTC)
    record(api, [event("n1", "ORDER_PAID", now, orderId="1", amountFen=12900, nickname="小王"),
                 event("t1", "TAGGED", now, tag="VIP")])
    segment_id = define(api, "vip", {"tagIn": ["VIP"]})
    url = f"/exports/segments/{segment_id}/members.csv"
    response = api.client.get(url, headers={"Authorization": f"Bearer {api.tokens['manager']}"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    header, line, *rest = response.text.splitlines()
    assert rest == []
    assert header.split(",")[:6] == ["customer_id", "since", "rule_version", "first_channel",
                                     "lifecycle", "order_count"]
    cells = dict(zip(header.split(","), line.split(","), strict=True))
    assert (cells["order_count"], cells["gmv_fen"], cells["tags"]) == ("1", "12900", "VIP")
    assert "小王" not in response.text and "wmAlice" not in response.text
    staff = api.client.get(url, headers={"Authorization": f"Bearer {api.tokens['staff']}"})
    assert staff.status_code == 403 and staff.json()["errors"][0]["extensions"]["code"] == \
        "FORBIDDEN"
    assert api.client.get(url).status_code == 401
    missing = api.client.get("/exports/segments/0a6f0000-0000-4000-8000-00000000ffff/"
                             "members.csv",
                             headers={"Authorization": f"Bearer {api.tokens['manager']}"})
    assert missing.status_code == 404
