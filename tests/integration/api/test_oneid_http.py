"""OneID over HTTP: merge and un-merge mutations, redirects, a merged history."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.integration.api.conftest import Api
from tests.integration.api.test_graphql_http import RECORD, event

pytestmark = pytest.mark.integration

MERGE = """mutation($s: ID!, $a: ID!) { mergeCustomers(input: {survivorId: $s, absorbedId: $a})
  { customerId position } }"""
UNMERGE = "mutation($c: ID!) { unmergeCustomer(input: {customerId: $c}) { customerId } }"
ONE = "query($id: ID!) { customer(id: $id) { id tags mergedCustomerIds identities { namespace } } }"
HISTORY = """query($id: ID!, $after: String) { customerHistory(customerId: $id, first: 2,
  after: $after, order: OLDEST_FIRST) { edges { node { customerId type position } }
  pageInfo { hasNextPage endCursor } } }"""


def test_a_merged_customer_is_found_by_either_id_with_both_histories(
    api: Api, now: datetime
) -> None:
    # Given two customers
    t = now - timedelta(minutes=5)
    body = api.gql(RECORD, {"events": [
        event("m1", "TAGGED", t, {"namespace": "wx_unionid", "value": "oA"}, tag="a"),
        event("m2", "TAGGED", t, {"namespace": "phone", "value": "13900000001"}, tag="b"),
    ]})
    a, b = (r["customerId"] for r in body["data"]["recordCustomerEvents"]["results"])
    # When a manager merges them
    merged = api.gql(MERGE, {"s": a, "a": b}, as_="manager")["data"]["mergeCustomers"]
    assert merged["customerId"] == a
    api.gql(RECORD, {"events": [event("m3", "TAGGED", t, tag="sync")]})  # waits for projection
    # Then the absorbed id leads to the survivor, which holds both
    for cid in (a, b):
        found = api.gql(ONE, {"id": cid}, as_="manager")["data"]["customer"]
        assert found["id"] == a and found["tags"] == ["a", "b"]
        assert found["mergedCustomerIds"] == [b]
        assert {i["namespace"] for i in found["identities"]} == {"wx_unionid", "phone"}
    # and the history, page by page, has both streams in log order
    seen: list[tuple[str, str]] = []
    after = None
    while True:
        page = api.gql(HISTORY, {"id": a, "after": after}, as_="manager")
        history = page["data"]["customerHistory"]
        seen += [(e["node"]["customerId"], e["node"]["type"]) for e in history["edges"]]
        if not history["pageInfo"]["hasNextPage"]:
            break
        after = history["pageInfo"]["endCursor"]
    assert (b, "Customer.MergedInto") in seen and (a, "Customer.CustomerMerged") in seen
    assert {cid for cid, _ in seen} == {a, b}
    # When the merge is undone
    assert api.gql(UNMERGE, {"c": b}, as_="manager")["data"]["unmergeCustomer"]["customerId"] == b
    api.gql(RECORD, {"events": [event("m4", "TAGGED", t, tag="sync2")]})
    # Then each is itself again
    assert api.gql(ONE, {"id": b}, as_="manager")["data"]["customer"]["tags"] == ["b"]
    assert api.gql(ONE, {"id": a}, as_="manager")["data"]["customer"]["mergedCustomerIds"] == []


def test_bad_merges_get_typed_errors(api: Api, now: datetime) -> None:
    body = api.gql(RECORD, {"events": [event("x1", "TAGGED", now, tag="x")]})
    a = body["data"]["recordCustomerEvents"]["results"][0]["customerId"]
    unknown = "0a6f0000-0000-4000-8000-00000000beef"
    cases = [
        (MERGE, {"s": a, "a": a}, "CANNOT_MERGE"),
        (MERGE, {"s": a, "a": unknown}, "UNKNOWN_CUSTOMER"),
        (MERGE, {"s": a, "a": "not-a-uuid"}, "BAD_INPUT"),
        (UNMERGE, {"c": a}, "NOT_MERGED"),
    ]
    for query, variables, code in cases:
        assert api.gql(query, variables, as_="manager")["errors"][0]["extensions"]["code"] == code
    refused = api.gql(MERGE, {"s": a, "a": unknown}, as_="staff")
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
