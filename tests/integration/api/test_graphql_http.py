"""The GraphQL API over HTTP, end to end: ingestion, reads, authorisation, bad input."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from adapters.tokens import ensure_token_table, issue_token
from siyu.api_process import create_app
from siyu.settings import Settings
from tests.conftest import SECRET
from tests.integration.api.conftest import OTHER_STAFF_ID, STAFF_ID, Api

pytestmark = pytest.mark.integration

RECORD = """
mutation Record($events: [CustomerEventInput!]!, $atomic: Boolean! = false) {
  recordCustomerEvents(input: {events: $events, atomic: $atomic, waitForProjection: true}) {
    accepted duplicates rejected projected position
    results { index eventId status customerId error { code field message } }
  }
}"""

PROFILE = """
query One($id: ID!) {
  customer(id: $id) {
    id firstChannel lifecycle tags tagDetails { tag by reason } groups currentStaffIds
    orderCount gmvFen refundedFen
    contentViews eventCount nickname identities { namespace value }
    staffRelations { staffId since until deletedBy channel state }
  }
}"""

WECOM = {"namespace": "wecom_external:ww-corp", "value": "wmAlice0001"}


def event(event_id: str, type_: str, at: datetime, customer: dict[str, str] | None = None,
          **fields: Any) -> dict[str, Any]:
    return {"eventId": event_id, "type": type_, "customer": customer or WECOM,
            "occurredAt": at.isoformat(), **fields}


def record(api: Api, events: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    body = api.gql(RECORD, {"events": events, **kw}, as_=kw.pop("as_", "service"))
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["recordCustomerEvents"]
    return payload


def seed_alice(api: Api, now: datetime) -> str:
    payload = record(api, [
        event("a1", "FRIEND_ADDED", now - timedelta(days=3), channel="qr:store-01",
              staffId=STAFF_ID, state="st-9"),
        event("a2", "TAGGED", now - timedelta(days=2), tag="宝妈"),
        event("a3", "ORDER_PAID", now - timedelta(days=1), orderId="o-1", amountFen=12_900,
              items=[{"sku": "milk-900g", "quantity": 1, "priceFen": 12_900}]),
        event("a4", "ORDER_REFUNDED", now, orderId="o-1", amountFen=2_900),
        event("a5", "PROFILE_UPDATED", now, nickname="爱丽丝"),
    ])
    assert payload["accepted"] == 5 and payload["projected"] is True
    customer_id: str = payload["results"][0]["customerId"]
    return customer_id


def test_requests_without_a_valid_token_are_refused(api: Api) -> None:
    response = api.client.post("/graphql", json={"query": "{ me { id } }"})
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    response = api.client.post("/graphql", json={"query": "{ me { id } }"},
                               headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401


def test_graphiql_is_served_to_a_browser(api: Api) -> None:
    response = api.client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200 and "graphiql" in response.text.lower()


def test_recorded_events_show_in_the_profile_when_the_mutation_returns(
    api: Api, now: datetime
) -> None:
    # Given a batch of actions by one customer, recorded with read-your-writes
    customer_id = seed_alice(api, now)
    # When the profile is read
    body = api.gql(PROFILE, {"id": customer_id}, as_="manager")
    profile = body["data"]["customer"]
    # Then it already contains every action
    assert profile["tags"] == ["宝妈"]
    assert profile["tagDetails"] == [{"tag": "宝妈", "by": "service:ingest", "reason": "manual"}]
    assert (profile["orderCount"], profile["gmvFen"], profile["refundedFen"]) == (1, 12_900, 2_900)
    assert profile["currentStaffIds"] == [STAFF_ID]
    assert profile["staffRelations"][0]["state"] == "st-9"
    assert profile["lifecycle"] == "ACTIVE"
    assert profile["nickname"] == "爱丽丝"
    assert profile["identities"] == [{"namespace": "wecom_external:ww-corp",
                                      "value": "wmAlice0001"}]
    # Registered, IdentityLinked, then the 5 recorded (+ OwnerChanged with the friend add)
    assert profile["eventCount"] == 8


def test_resending_the_same_event_ids_reports_duplicates_and_stores_nothing(
    api: Api, now: datetime
) -> None:
    seed_alice(api, now)
    payload = record(api, [event("a2", "TAGGED", now, tag="宝妈")])
    assert payload["duplicates"] == 1 and payload["accepted"] == 0
    assert payload["position"] is None


def test_bad_items_are_rejected_with_code_and_field_and_nothing_of_them_is_stored(
    api: Api, now: datetime
) -> None:
    bob = {"namespace": "phone", "value": "13900139000"}
    payload = record(api, [
        event("b1", "TELEPORTED", now, bob),
        event("b2", "ORDER_PAID", now, bob, orderId="o", amountFen=-1),
        event("b3", "TAGGED", now + timedelta(days=1), bob, tag="x"),
        event("b4", "TAGGED", now, {"namespace": "qq", "value": "1"}, tag="x"),
        event("b5", "FRIEND_DELETED", now, bob, staffId=STAFF_ID),
        event("b6", "ORDER_REFUNDED", now, bob, orderId="never-paid", amountFen=100),
    ])
    errors = [(r["index"], r["error"]["code"], r["error"]["field"]) for r in payload["results"]]
    assert errors == [
        (0, "UNKNOWN_EVENT_TYPE", "type"),
        (1, "INVALID_AMOUNT", "amountFen"),
        (2, "INVALID_TIME", "occurredAt"),
        (3, "INVALID_IDENTITY", "customer.namespace"),
        (4, "MISSING_FIELD", "deletedBy"),
        (5, "UNKNOWN_ORDER", "orderId"),
    ]
    assert payload["rejected"] == 6 and payload["position"] is None
    found = api.gql('{ customerByIdentity(namespace: "phone", value: "13900139000") { id } }')
    assert found["data"]["customerByIdentity"] is None


def test_malformed_graphql_gets_a_validation_code(api: Api) -> None:
    body = api.gql("{ customer(id: 1) { nope } }")
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


def test_a_customer_is_found_by_any_spelling_of_a_linked_phone(api: Api, now: datetime) -> None:
    customer_id = seed_alice(api, now)
    record(api, [event("l1", "IDENTITY_LINKED", now,
                       link={"namespace": "phone", "value": "138 0013 8000"})])
    body = api.gql('{ customerByIdentity(namespace: "phone", value: "+8613800138000") { id } }')
    assert body["data"]["customerByIdentity"]["id"] == customer_id


def test_front_line_staff_see_only_their_current_friends(api: Api, now: datetime) -> None:
    # Given Alice is the staff member's friend and Carol is another staff member's
    alice = seed_alice(api, now)
    carol = record(api, [event("c1", "FRIEND_ADDED", now, {"namespace": "wx_unionid",
                                                            "value": "oCarol"},
                               channel="h5", staffId=OTHER_STAFF_ID)])["results"][0]["customerId"]
    # Then the staff member sees Alice, not Carol, and lists only Alice
    assert api.gql(PROFILE, {"id": alice}, as_="staff")["data"]["customer"]["id"] == alice
    assert api.gql(PROFILE, {"id": carol}, as_="staff")["data"]["customer"] is None
    listed = api.gql("{ customers(first: 10) { edges { node { id } } } }", as_="staff")
    assert [e["node"]["id"] for e in listed["data"]["customers"]["edges"]] == [alice]
    # and personal data is masked for them
    masked = api.gql(PROFILE, {"id": alice}, as_="staff")["data"]["customer"]
    assert masked["identities"][0]["value"].endswith("0001")
    assert masked["identities"][0]["value"] != "wmAlice0001"
    # and asking for another staff member's customers is refused with a code
    other = api.gql('query($s: ID!) { customers(filter: {staffId: $s}) { edges { cursor } } }',
                    {"s": OTHER_STAFF_ID}, as_="staff")
    assert other["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # and staff cannot record events
    refused = api.gql(RECORD, {"events": [event("z", "TAGGED", now, tag="x")]}, as_="staff")
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_a_customer_token_sees_only_that_customer(api: Api, pg_url: str, now: datetime) -> None:
    alice = seed_alice(api, now)
    other = record(api, [event("d1", "REGISTERED", now, {"namespace": "wx_unionid",
                                                          "value": "oDave"})])
    token = issue_token(pg_url, "customer", alice, None, "tests")
    assert api.gql("{ me { id tags } }", token=token)["data"]["me"] == {"id": alice,
                                                                        "tags": ["宝妈"]}
    dave = other["results"][0]["customerId"]
    assert api.gql(PROFILE, {"id": dave}, token=token)["data"]["customer"] is None
    listed = api.gql("{ customers { edges { cursor } } }", token=token)
    assert listed["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_the_customer_list_pages_with_cursors_and_filters(api: Api, now: datetime) -> None:
    events = [event(f"p{n}", "TAGGED", now, {"namespace": "mall_member", "value": f"m{n}"},
                    tag="vip" if n % 2 else "new") for n in range(7)]
    record(api, events)
    query = """query($after: String) { customers(first: 2, after: $after,
                 filter: {tags: ["vip"]}) {
               edges { cursor node { tags } } pageInfo { hasNextPage endCursor } } }"""
    seen: list[list[str]] = []
    after = None
    while True:
        page = api.gql(query, {"after": after})["data"]["customers"]
        seen.extend(e["node"]["tags"] for e in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [["vip"]] * 3
    bad = api.gql('{ customers(after: "zzz") { edges { cursor } } }')
    assert bad["errors"][0]["extensions"]["code"] == "BAD_INPUT"


def test_audit_reviewers_page_through_a_customers_history_both_ways(
    api: Api, pg_url: str, now: datetime
) -> None:
    customer_id = seed_alice(api, now)
    query = """query($id: ID!, $after: String, $order: HistoryOrder!) {
      customerHistory(customerId: $id, first: 4, after: $after, order: $order) {
        edges { node { version type by occurredAt data } }
        pageInfo { hasNextPage endCursor } } }"""
    pages: dict[str, list[int]] = {}
    for order in ("NEWEST_FIRST", "OLDEST_FIRST"):
        versions: list[int] = []
        after = None
        while True:
            page = api.gql(query, {"id": customer_id, "after": after, "order": order},
                           as_="manager")["data"]["customerHistory"]
            versions.extend(e["node"]["version"] for e in page["edges"])
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        pages[order] = versions
    assert pages["OLDEST_FIRST"] == list(range(1, 9))
    assert pages["NEWEST_FIRST"] == list(range(8, 0, -1))
    first = api.gql(query, {"id": customer_id, "after": None, "order": "OLDEST_FIRST"},
                    as_="manager")["data"]["customerHistory"]["edges"][0]["node"]
    assert first["type"] == "Customer.Registered" and first["by"] == "service:ingest"
    # history never holds personal data in clear
    everything = str(api.gql(query, {"id": customer_id, "after": None, "order": "OLDEST_FIRST"},
                             as_="manager"))
    assert "wmAlice0001" not in everything and "爱丽丝" not in everything
    # front-line staff read their own friend's timeline; another salesperson does not
    mine = api.gql(query, {"id": customer_id, "after": None, "order": "OLDEST_FIRST"},
                   as_="staff")["data"]["customerHistory"]["edges"]
    assert [e["node"]["version"] for e in mine][:2] == [1, 2]
    other = issue_token(pg_url, "staff", OTHER_STAFF_ID, None, "tests")
    refused = api.gql(query, {"id": customer_id, "after": None, "order": "OLDEST_FIRST"},
                      token=other)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_managers_hire_and_record_the_departure_of_staff(api: Api) -> None:
    hired = api.gql("""mutation { hireStaff(input: {displayName: "李娜", role: "sales",
                       department: "front_office"}) { staffId } }""", as_="manager")
    staff_id = hired["data"]["hireStaff"]["staffId"]
    leave = 'mutation($id: ID!) { leaveStaff(input: {staffId: $id}) { staffId } }'
    assert api.gql(leave, {"id": staff_id}, as_="manager")["data"]["leaveStaff"]["staffId"]
    again = api.gql(leave, {"id": staff_id}, as_="manager")
    assert again["errors"][0]["extensions"]["code"] == "STAFF_ALREADY_LEFT"
    unknown = api.gql(leave, {"id": "0a6f0000-0000-4000-8000-00000000dead"}, as_="manager")
    assert unknown["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    bad_role = api.gql("""mutation { hireStaff(input: {displayName: "x", role: "king",
                          department: "front_office"}) { staffId } }""", as_="manager")
    assert bad_role["errors"][0]["extensions"] == {"code": "INVALID_ROLE", "field": "role"}
    refused = api.gql("""mutation { hireStaff(input: {displayName: "x", role: "sales",
                         department: "front_office"}) { staffId } }""", as_="staff")
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_a_query_by_get_without_a_token_is_refused_even_from_a_browser(api: Api) -> None:
    response = api.client.get("/graphql", params={"query": "{ staffMembers { id } }"},
                              headers={"Accept": "text/html"})
    assert response.status_code == 401


def test_a_revoked_token_stops_working(api: Api, pg_url: str) -> None:
    from adapters.tokens import revoke_token

    token = issue_token(pg_url, "service", "short-lived", None, "tests")
    assert "data" in api.gql("{ staffMembers { id } }", token=token)
    assert revoke_token(pg_url, token)
    resolver = api.client.app.routes[1].app.resolver()  # type: ignore[attr-defined]
    resolver._cache.clear()
    response = api.client.post("/graphql", json={"query": "{ staffMembers { id } }"},
                               headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_no_personal_data_reaches_the_logs(
    api: Api, now: datetime, caplog: pytest.LogCaptureFixture
) -> None:
    # Given every logger at DEBUG
    caplog.set_level("DEBUG")
    # When personal data is ingested, including items that get rejected
    record(api, [
        event("pii1", "PROFILE_UPDATED", now, {"namespace": "phone", "value": "13512345678"},
              nickname="钱七"),
        event("pii2", "IDENTITY_LINKED", now, {"namespace": "phone", "value": "13512345678"},
              link={"namespace": "wx_openid:wxapp1", "value": "oOpenId-PII-123"}),
        event("pii3", "ORDER_REFUNDED", now, {"namespace": "phone", "value": "13512345678"},
              orderId="none", amountFen=1),
        event("pii4", "TAGGED", now, {"namespace": "phone", "value": "135-BAD-5678"}, tag="x"),
    ])
    # Then none of it appears in any log record
    logged = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    for secret in ("13512345678", "钱七", "oOpenId-PII-123", "135-BAD-5678"):
        assert secret not in logged


def test_input_values_quoted_in_error_messages_are_not_logged(
    api: Api, now: datetime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    bad = event("v1", "TAGGED", now, tag="x")
    bad["customer"] = {"namespace": "phone", "value": 13512345678}  # a number, not a string
    body = api.gql(RECORD, {"events": [bad]})
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    logged = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text}" for r in caplog.records)
    assert "13512345678" not in logged


def test_an_unexpected_failure_is_masked_as_internal(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.read_models import ReadModels

    async def broken(self: ReadModels, customer_id: object) -> None:
        raise RuntimeError("connection string postgresql://secret@db")

    monkeypatch.setattr(ReadModels, "profile", broken)
    body = api.gql(PROFILE, {"id": "0a6f0000-0000-4000-8000-000000000009"})
    error = body["errors"][0]
    assert error["extensions"] == {"code": "INTERNAL"}
    assert "secret" not in error["message"]


def test_waiting_for_the_projection_gives_up_at_the_timeout(
    pg_url: str, tmp_path: Path, now: datetime
) -> None:
    # Given the API with no projection running
    settings = Settings(database_url=pg_url, broker_url=None, data_dir=tmp_path, secret=SECRET)
    ensure_token_table(pg_url)
    token = issue_token(pg_url, "service", "ingest", None, "tests")
    with TestClient(create_app(settings)) as client:
        # When a write asks to wait at most 300 ms for the read model
        started = time.monotonic()
        response = client.post("/graphql", headers={"Authorization": f"Bearer {token}"}, json={
            "query": """mutation($e: [CustomerEventInput!]!) { recordCustomerEvents(input: {
                events: $e, waitForProjection: true, timeoutMs: 300}) { accepted projected } }""",
            "variables": {"e": [event("w1", "TAGGED", now, tag="x")]}})
        elapsed = time.monotonic() - started
    # Then the write is stored and the answer says the read model is not there yet
    assert response.json()["data"]["recordCustomerEvents"] == {"accepted": 1, "projected": False}
    assert 0.3 <= elapsed < 10
