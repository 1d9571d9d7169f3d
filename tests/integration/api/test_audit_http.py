"""Audit over HTTP: a customer as it stood at an instant of business time (backfilled events
included, checkpoints changing nothing), segments and owner then; history filtered by type
and business time, showing who and when."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from application.app import Siyu
from projections.runner import Tracker
from tests.integration.api.conftest import STAFF_ID, Api
from tests.integration.api.test_graphql_http import event, record

pytestmark = pytest.mark.integration

OCT = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
AS_OF = """query($id: ID!, $at: DateTime) {
  customer(id: $id, asOf: $at) {
    id asOf tags consents { purpose wordingVersion } owner lifecycle orderCount gmvFen
    eventCount currentStaffIds doNotDisturb segments { name ruleVersion since } } }"""
HISTORY = """query($id: ID!, $types: [String!], $from: DateTime, $to: DateTime) {
  customerHistory(customerId: $id, first: 50, order: OLDEST_FIRST, types: $types,
                  occurredFrom: $from, occurredTo: $to) {
    edges { node { type by occurredAt recordedAt data } } } }"""


def day(n: int) -> datetime:
    return OCT + timedelta(days=n)


def seed(api: Api) -> str:
    """A customer's October: friend (owner) on the 1st, VIP on the 5th, consent on the
    10th, an order on the 12th, VIP removed on the 20th, consent withdrawn on the 25th."""
    payload = record(api, [
        event("o1", "FRIEND_ADDED", day(0), channel="qr", staffId=STAFF_ID),
        event("o2", "TAGGED", day(4), tag="VIP"),
        event("o3", "CONSENT_GIVEN", day(9), purpose="marketing", wordingVersion="v1"),
        event("o4", "ORDER_PAID", day(11), orderId="o-1", amountFen=5_000,
              items=[{"sku": "tea", "quantity": 1, "priceFen": 5_000}]),
        event("o5", "UNTAGGED", day(19), tag="VIP"),
        event("o6", "CONSENT_WITHDRAWN", day(24), purpose="marketing"),
    ])
    customer_id: str = payload["results"][0]["customerId"]
    return customer_id


def as_of(api: Api, customer_id: str, at: datetime | None, as_: str = "manager"
          ) -> dict[str, Any] | None:
    body = api.gql(AS_OF, {"id": customer_id, "at": None if at is None else at.isoformat()},
                   as_=as_)
    assert "errors" not in body, body
    found: dict[str, Any] | None = body["data"]["customer"]
    return found


def test_a_customer_as_it_stood_at_an_instant_of_business_time(api: Api) -> None:
    customer_id = seed(api)
    # Given an import that arrives in November with an event of 3 October (backfill)
    record(api, [event("late", "TAGGED", day(2), tag="宝妈")])
    # When a manager asks for the state on 15 October
    mid = as_of(api, customer_id, day(14))
    # Then tags, consent, owner and orders are those of that day, the backfill included
    assert mid is not None
    assert mid["asOf"].startswith("2026-10-15")
    assert sorted(mid["tags"]) == ["VIP", "宝妈"]
    assert mid["consents"] == [{"purpose": "marketing", "wordingVersion": "v1"}]
    assert mid["owner"] == STAFF_ID and mid["currentStaffIds"] == [STAFF_ID]
    assert (mid["orderCount"], mid["gmvFen"]) == (1, 5_000)
    assert mid["lifecycle"] == "ACTIVE"
    # and the built-in lifecycle segment is the one of that day
    assert [s["name"] for s in mid["segments"]] == ["Lifecycle: ACTIVE"]
    assert mid["segments"][0]["since"] is None
    # Before the backfilled event's date it does not count; before the first event, no one
    early = as_of(api, customer_id, day(1) + timedelta(hours=1))
    assert early is not None and early["tags"] == [] and early["consents"] == []
    assert as_of(api, customer_id, OCT - timedelta(days=1)) is None
    # After the last event the state is the live profile's
    end, live = as_of(api, customer_id, datetime.now(UTC)), as_of(api, customer_id, None)
    assert end is not None and live is not None
    for field in ("tags", "consents", "owner", "orderCount", "gmvFen", "eventCount",
                  "currentStaffIds", "lifecycle", "doNotDisturb"):
        assert end[field] == live[field], field


def test_segments_at_an_instant_use_the_rule_that_stood_then(api: Api, pg_app: Siyu) -> None:
    customer_id = seed(api)
    # Given a segment "VIPs" defined on the 3rd and revised on the 16th to "宝妈 only"
    segment_id, _ = pg_app.segments.define("VIPs", "", {"tagIn": ["VIP"]}, "staff:tests",
                                           day(2))
    position = pg_app.segments.revise(segment_id, {"tagIn": ["宝妈"]}, "staff:tests", day(15))
    # (the list of segments comes from the segment read model: let it see the definition)
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    assert position is not None and tracker.wait("customer_profile", position, 10)
    # Then on the 10th the customer was in it (version 1), on the 17th not (version 2)
    tenth = as_of(api, customer_id, day(9))
    assert tenth is not None
    assert {"name": "VIPs", "ruleVersion": 1, "since": None} in tenth["segments"]
    seventeenth = as_of(api, customer_id, day(16))
    assert seventeenth is not None
    assert all(s["name"] != "VIPs" for s in seventeenth["segments"])


def test_checkpoints_make_long_streams_fast_and_change_no_answer(
        api: Api, pg_url: str) -> None:
    # Given a customer with 450 events over 45 days, half of them recorded late (backfill)
    customer_id = seed(api)
    views = [event(f"v{n}", "CONTENT_VIEWED", day(n % 45) + timedelta(minutes=n),
                   contentId=f"c{n % 7}") for n in range(450)]
    record(api, views[::2])
    record(api, views[1::2])
    # (record waits for customer_profile; the as-of read model follows on its own runner)
    deadline = time.monotonic() + 20
    while True:
        with psycopg.connect(pg_url) as conn:
            checkpoints = conn.execute(
                "SELECT version, through_at FROM siyu_customer_as_of_checkpoint "
                "WHERE customer_id = %s ORDER BY version", (customer_id,)).fetchall()
        if len(checkpoints) >= 4 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert [v for v, _ in checkpoints] == [100, 200, 300, 400]
    instants = [day(n) + timedelta(hours=7) for n in (0, 3, 11, 22, 30, 44, 60)]
    with_checkpoints = [as_of(api, customer_id, at) for at in instants]
    # When the checkpoints are gone, every state is folded from the first event
    with psycopg.connect(pg_url) as conn:
        conn.execute("DELETE FROM siyu_customer_as_of_checkpoint")
    # Then the answers are the same, and they count what an independent count says
    assert [as_of(api, customer_id, at) for at in instants] == with_checkpoints
    for at, state in zip(instants, with_checkpoints, strict=True):
        assert state is not None
        # Registered, IdentityLinked, FriendAdded and OwnerChanged on the 1st, then one a day
        seeded = 4 + sum(1 for d in (4, 9, 11, 19, 24) if day(d) <= at)
        viewed = sum(1 for e in views if datetime.fromisoformat(e["occurredAt"]) <= at)
        assert state["eventCount"] == seeded + viewed, at


def test_history_filters_by_event_type_and_business_time_and_says_who_and_when(
        api: Api) -> None:
    customer_id = seed(api)
    tagged = api.gql(HISTORY, {"id": customer_id, "types": ["Customer.Tagged", "Untagged"]},
                     as_="manager")["data"]["customerHistory"]["edges"]
    assert [(e["node"]["type"], e["node"]["data"]["tag"]) for e in tagged] == [
        ("Customer.Tagged", "VIP"), ("Customer.Untagged", "VIP")]
    assert all(e["node"]["by"] == "service:ingest" and e["node"]["recordedAt"] for e in tagged)
    window = api.gql(HISTORY, {"id": customer_id, "from": day(4).isoformat(),
                               "to": day(19).isoformat()}, as_="manager")
    types = [e["node"]["type"] for e in window["data"]["customerHistory"]["edges"]]
    assert types == ["Customer.Tagged", "Customer.ConsentGiven", "Customer.OrderPaid"]
    # Bad filters are typed errors naming the field
    for variables, field in (({"types": ["Customer.Nope"]}, "types"),
                             ({"from": "2026-10-05T00:00:00"}, "occurredFrom"),
                             ({"from": day(5).isoformat(), "to": day(4).isoformat()},
                              "occurredTo")):
        body = api.gql(HISTORY, {"id": customer_id, **variables}, as_="manager")
        error = body["errors"][0]
        assert (error["extensions"]["code"], error["extensions"]["field"]) == (
            "BAD_INPUT", field), body


def test_states_at_an_instant_are_for_auditors_not_front_line_staff(api: Api) -> None:
    customer_id = seed(api)
    assert as_of(api, customer_id, day(14), as_="staff") is None
    listed = api.gql("query($at: DateTime!) { customers(asOf: $at) { edges { node { id } } } }",
                     {"at": day(14).isoformat()}, as_="staff")
    assert listed["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    page = api.gql("""query($at: DateTime!) { customers(asOf: $at, first: 5) {
        edges { node { id asOf tags } } } }""", {"at": day(14).isoformat()}, as_="manager")
    assert [e["node"]["id"] for e in page["data"]["customers"]["edges"]] == [customer_id]
    naive = api.gql(AS_OF, {"id": customer_id, "at": "2026-10-15T00:00:00"}, as_="manager")
    assert naive["errors"][0]["extensions"]["code"] == "BAD_INPUT"
