"""Privacy over HTTP: who may erase and export, what an erased customer looks like after."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

import pytest

from adapters.tokens import issue_token, resolve_token
from application.app import Siyu
from tests.integration.api.conftest import Api
from tests.integration.api.test_graphql_http import RECORD, event
from tests.support.directory import hire_as

pytestmark = pytest.mark.integration

PHONE = {"namespace": "phone", "value": "13912340000"}
ERASE = """mutation($c: ID!, $t: String) { eraseCustomer(input: {customerId: $c,
  reason: CUSTOMER_REQUEST, ticket: $t}) { customerId erasedStreams position } }"""
EXPORT = """query($c: ID!) { customerDataExport(customerId: $c) { customerId erased
  consents { purpose wordingVersion } document csv } }"""
MINE = "{ exportMyData { customerId consents { purpose wordingVersion } document csv } }"
ONE = """query($id: ID!) { customer(id: $id) { id erasedAt nickname tags orderCount
  identities { namespace value } } }"""
BY_PHONE = """{ customerByIdentity(namespace: "phone", value: "13912340000") { id } }"""
HISTORY = """query($id: ID!) { customerHistory(customerId: $id, first: 50, order: OLDEST_FIRST)
  { edges { node { type data } } } }"""


def _seed(api: Api, now: datetime) -> str:
    t = now - timedelta(hours=2)
    body = api.gql(RECORD, {"events": [
        event("p1", "PROFILE_UPDATED", t, PHONE, nickname="小隐"),
        event("p2", "CONSENT_GIVEN", t, PHONE, purpose="marketing", wordingVersion="2026-10"),
        event("p3", "ORDER_PAID", t, PHONE, orderId="o-p", amountFen=500),
        event("p4", "IDENTITY_LINKED", t, PHONE,
              link={"namespace": "wx_openid:wx-demo-app", "value": "oHidden01"}),
    ]})
    assert body["data"]["recordCustomerEvents"]["accepted"] == 4, body
    return str(body["data"]["recordCustomerEvents"]["results"][0]["customerId"])


def test_a_customer_exports_their_own_data_and_managers_export_anyones(
    api: Api, pg_url: str, now: datetime
) -> None:
    cid = _seed(api, now)
    mine = issue_token(pg_url, "customer", cid, None, "tests")
    # When the customer exports their data
    export = api.gql(MINE, token=mine)["data"]["exportMyData"]
    # Then it holds every event, the decrypted values and the consents with their wording
    assert export["customerId"] == cid
    assert export["consents"] == [{"purpose": "marketing", "wordingVersion": "2026-10"}]
    document = export["document"]
    assert {e["type"] for e in document["events"]} >= {
        "Customer.Registered", "Customer.PersonalDataRecorded", "Customer.ConsentGiven",
        "Customer.OrderPaid", "Customer.IdentityLinked"}
    assert set(document["personalData"][cid].values()) == {"小隐", "+8613912340000",
                                                           "oHidden01"}
    rows = list(csv.DictReader(io.StringIO(export["csv"])))
    assert {r["section"] for r in rows} == {"event", "personal_data", "consent"}
    assert len([r for r in rows if r["section"] == "event"]) == len(document["events"])
    # and a manager gets the same, staff and other customers do not
    assert api.gql(EXPORT, {"c": cid}, as_="manager")["data"]["customerDataExport"][
        "document"]["personalData"] == document["personalData"]
    for refused in (api.gql(EXPORT, {"c": cid}, as_="staff"),
                    api.gql(EXPORT, {"c": cid}, as_="service"),
                    api.gql(EXPORT, {"c": cid}, token=mine),
                    api.gql(MINE, as_="manager")):
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_a_privacy_officer_erases_a_customer_who_is_then_a_stranger_with_the_same_kpis(
    api: Api, pg_url: str, pg_app: Siyu, now: datetime
) -> None:
    cid = _seed(api, now)
    theirs = issue_token(pg_url, "customer", cid, None, "tests")
    assert "errors" not in api.gql(MINE, token=theirs)
    hire_as(pg_app, "0a6f0000-0000-4000-8000-0000000000cc", "privacy_officer", "back_office")
    officer = issue_token(pg_url, "staff", "0a6f0000-0000-4000-8000-0000000000cc",
                          "privacy_officer", "tests")
    # Front-line staff and service principals may not erase
    for as_ in ("staff", "service"):
        refused = api.gql(ERASE, {"c": cid}, as_=as_)
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    bad = api.gql(ERASE, {"c": cid, "t": "张三"}, token=officer)
    assert bad["errors"][0]["extensions"] == {"code": "INVALID_INPUT", "field": "ticket"}
    # When a privacy officer erases the customer
    done = api.gql(ERASE, {"c": cid, "t": "case-7"}, token=officer)["data"]["eraseCustomer"]
    assert done["customerId"] == cid and done["erasedStreams"] == 1
    api.gql(RECORD, {"events": [event("sync", "TAGGED", now, tag="sync")]})  # waits
    # Then they are not found by phone, and their profile keeps facts without identities
    assert api.gql(BY_PHONE, as_="manager")["data"]["customerByIdentity"] is None
    profile = api.gql(ONE, {"id": cid}, as_="manager")["data"]["customer"]
    assert profile["erasedAt"] is not None and profile["nickname"] is None
    assert profile["orderCount"] == 1
    assert profile["identities"] == [{"namespace": "phone", "value": None},
                                     {"namespace": "wx_openid:wx-demo-app", "value": None}]
    history = api.gql(HISTORY, {"id": cid}, as_="manager")["data"]["customerHistory"]["edges"]
    linked = [e["node"]["data"] for e in history if e["node"]["type"] == "Customer.IdentityLinked"]
    assert linked and all(d["blind_index"] == "erased" for d in linked)
    assert history[-1]["node"]["data"] == {"reason": "customer_request", "ticket": "case-7",
                                           "subjects": [cid]}
    # and the export of an erased customer has no personal data left
    assert api.gql(EXPORT, {"c": cid}, as_="manager")["data"]["customerDataExport"][
        "document"]["personalData"] == {cid: {}}
    # and their tokens are revoked (checked against the table: the API caches for 30 s)
    assert resolve_token(pg_url, theirs) is None
    # and a second erasure is refused
    again = api.gql(ERASE, {"c": cid}, token=officer)
    assert again["errors"][0]["extensions"]["code"] == "CUSTOMER_ERASED"
    # When the same phone comes back
    body = api.gql(RECORD, {"events": [event("p9", "TAGGED", now, PHONE, tag="back")]})
    # Then it is a new customer
    assert body["data"]["recordCustomerEvents"]["results"][0]["customerId"] != cid
