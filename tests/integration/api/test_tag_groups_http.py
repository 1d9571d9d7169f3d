"""Tag groups and manual tagging over HTTP: the library, exclusivity, who may do what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.tokens import issue_token
from tests.integration.api.conftest import OTHER_STAFF_ID, STAFF_ID, Api

pytestmark = pytest.mark.integration

GROUP = "group { id name tags exclusive archivedAt createdBy } projected"
CREATE = f"""mutation($name: String!, $tags: [String!]!, $exclusive: Boolean!) {{
  createTagGroup(input: {{name: $name, tags: $tags, exclusive: $exclusive}}) {{ {GROUP} }} }}"""
TAG = """mutation($id: ID!, $tags: [String!]!, $reason: String!) {
  tagCustomer(input: {customerId: $id, tags: $tags, reason: $reason}) {
    customer { id tags tagDetails { tag by reason } } projected } }"""
UNTAG = TAG.replace("tagCustomer", "untagCustomer")
LIBRARY = """query($all: Boolean!) { tagGroups(includeArchived: $all) { id name tags archivedAt } }"""


def friend_of(api: Api, staff_id: str, value: str) -> str:
    at = datetime.now(UTC) - timedelta(hours=1)
    body = api.gql("""mutation($events: [CustomerEventInput!]!) {
      recordCustomerEvents(input: {events: $events, waitForProjection: true}) {
        results { customerId status } } }""", {"events": [{
        "eventId": f"fa-{value}", "type": "FRIEND_ADDED", "occurredAt": at.isoformat(),
        "customer": {"namespace": "wx_unionid", "value": value}, "channel": "qr:1",
        "staffId": staff_id}]})
    result = body["data"]["recordCustomerEvents"]["results"][0]
    assert result["status"] == "ACCEPTED", body
    customer_id: str = result["customerId"]
    return customer_id


def data(body: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]
    return result


def error(body: dict[str, Any]) -> dict[str, Any]:
    assert body.get("errors"), body
    extensions: dict[str, Any] = body["errors"][0]["extensions"]
    return extensions


def create(api: Api, name: str, tags: list[str], exclusive: bool = False,
           as_: str = "manager") -> dict[str, Any]:
    return api.gql(CREATE, {"name": name, "tags": tags, "exclusive": exclusive}, as_=as_)


def test_a_manager_builds_the_tag_library_and_staff_read_it(api: Api) -> None:
    # When a manager creates, extends, renames and archives groups
    payload = data(create(api, "客户等级", ["A", "B"], exclusive=True))["createTagGroup"]
    assert payload["projected"] is True
    levels = payload["group"]
    assert (levels["name"], levels["tags"], levels["exclusive"]) == ("客户等级", ["A", "B"], True)
    assert levels["createdBy"] == "staff:0a6f0000-0000-4000-8000-0000000000aa"
    gid = levels["id"]
    added = data(api.gql("""mutation($id: ID!) { addTagsToGroup(input: {groupId: $id,
        tags: ["C"]}) { group { tags } } }""", {"id": gid}, as_="manager"))
    assert added["addTagsToGroup"]["group"]["tags"] == ["A", "B", "C"]
    renamed = data(api.gql("""mutation($id: ID!) { renameTagGroup(input: {groupId: $id,
        name: "会员等级"}) { group { name } } }""", {"id": gid}, as_="manager"))
    assert renamed["renameTagGroup"]["group"]["name"] == "会员等级"
    removed = data(api.gql("""mutation($id: ID!) { removeTagFromGroup(input: {groupId: $id,
        tag: "C"}) { group { tags } } }""", {"id": gid}, as_="manager"))
    assert removed["removeTagFromGroup"]["group"]["tags"] == ["A", "B"]
    old = data(create(api, "旧分层", ["X"]))["createTagGroup"]["group"]["id"]
    archived = data(api.gql("""mutation($id: ID!) { archiveTagGroup(input: {groupId: $id}) {
        group { archivedAt } } }""", {"id": old}, as_="manager"))
    assert archived["archiveTagGroup"]["group"]["archivedAt"] is not None
    # Then front-line staff read the live library, and the archived groups on demand
    live = data(api.gql(LIBRARY, {"all": False}, as_="staff"))["tagGroups"]
    assert [g["name"] for g in live] == ["会员等级"]
    every = data(api.gql(LIBRARY, {"all": True}, as_="staff"))["tagGroups"]
    assert [g["name"] for g in every] == ["会员等级", "旧分层"]
    one = data(api.gql("query($id: ID!) { tagGroup(id: $id) { name } }", {"id": old},
                       as_="staff"))
    assert one["tagGroup"] == {"name": "旧分层"}


def test_refusals_carry_stable_codes_and_fields(api: Api) -> None:
    data(create(api, "客户等级", ["A", "B"], exclusive=True))
    assert error(create(api, "重复", ["A"])) == {
        "code": "TAG_IN_OTHER_GROUP", "field": "tags"}
    assert error(create(api, "", ["Z"])) == {"code": "BAD_INPUT", "field": "name"}
    assert error(create(api, "名", ["Z", "Z"])) == {"code": "BAD_INPUT", "field": "tags"}
    assert error(create(api, "名", ["Z\u0000"])) == {"code": "INVALID_INPUT", "field": "tags[0]"}
    missing = api.gql("""mutation { renameTagGroup(input: {groupId:
        "0a6f0000-0000-4000-8000-00000000ffff", name: "x"}) { projected } }""", as_="manager")
    assert error(missing) == {"code": "NOT_FOUND", "field": "groupId"}
    malformed = api.gql("""mutation { archiveTagGroup(input: {groupId: "nope"}) {
        projected } }""", as_="manager")
    assert error(malformed) == {"code": "BAD_INPUT", "field": "groupId"}
    unknown = api.gql("query { tagGroup(id: \"0a6f0000-0000-4000-8000-00000000ffff\") { id } }",
                      as_="manager")
    assert data(unknown)["tagGroup"] is None


def test_staff_tag_their_friends_and_exclusive_groups_replace_the_held_tag(api: Api) -> None:
    # Given a friend of the staff member, and an exclusive group
    alice = friend_of(api, STAFF_ID, "alice")
    gid = data(create(api, "客户等级", ["A", "B"], exclusive=True))["createTagGroup"]["group"]["id"]
    # When the staff member tags her A (with a free tag), then B
    first = data(api.gql(TAG, {"id": alice, "tags": ["A", "宝妈"], "reason": "首次沟通"},
                         as_="staff"))["tagCustomer"]
    assert first["projected"] is True and first["customer"]["tags"] == ["A", "宝妈"]
    second = data(api.gql(TAG, {"id": alice, "tags": ["B"], "reason": "复购"},
                          as_="staff"))["tagCustomer"]
    # Then she holds B instead of A; the profile says who tagged and why
    assert second["customer"]["tags"] == ["B", "宝妈"]
    assert {"tag": "B", "by": f"staff:{STAFF_ID}", "reason": "复购"} in (
        second["customer"]["tagDetails"])
    # And the history says why A went
    history = data(api.gql("""query($id: ID!) { customerHistory(customerId: $id, first: 20) {
        edges { node { type data } } } }""", {"id": alice}, as_="manager"))
    untagged = [e["node"]["data"] for e in history["customerHistory"]["edges"]
                if e["node"]["type"] == "Customer.Untagged"]
    assert untagged == [{"tag": "A", "reason": f"exclusive:{gid}"}]
    # And untagging removes the free tag
    untag = data(api.gql(UNTAG, {"id": alice, "tags": ["宝妈"], "reason": "误标"},
                         as_="staff"))["untagCustomer"]
    assert untag["customer"]["tags"] == ["B"]


def test_tagging_refusals_two_exclusive_tags_and_archived_groups(api: Api) -> None:
    alice = friend_of(api, STAFF_ID, "alice")
    data(create(api, "客户等级", ["A", "B"], exclusive=True))
    old = data(create(api, "旧分层", ["X"]))["createTagGroup"]["group"]["id"]
    data(api.gql("mutation($id: ID!) { archiveTagGroup(input: {groupId: $id}) { projected } }",
                 {"id": old}, as_="manager"))
    both = api.gql(TAG, {"id": alice, "tags": ["A", "B"], "reason": "r"}, as_="manager")
    assert error(both) == {"code": "EXCLUSIVE_TAG_CONFLICT", "field": "tags"}
    archived = api.gql(TAG, {"id": alice, "tags": ["X"], "reason": "r"}, as_="manager")
    assert error(archived) == {"code": "TAG_GROUP_ARCHIVED", "field": "tags"}
    blank = api.gql(TAG, {"id": alice, "tags": ["A"], "reason": " "}, as_="manager")
    assert error(blank) == {"code": "BAD_INPUT", "field": "reason"}
    nobody = api.gql(TAG, {"id": "0a6f0000-0000-4000-8000-00000000ffff", "tags": ["A"],
                           "reason": "r"}, as_="manager")
    assert error(nobody) == {"code": "NOT_FOUND", "field": "customerId"}


def test_front_line_staff_cannot_tag_others_customers_nor_manage_groups(api: Api) -> None:
    # Given a customer who is another staff member's friend
    bob = friend_of(api, OTHER_STAFF_ID, "bob")
    # When front-line staff try to tag them, then the customer is not found (no oracle)
    refused = api.gql(TAG, {"id": bob, "tags": ["vip"], "reason": "r"}, as_="staff")
    assert error(refused) == {"code": "NOT_FOUND", "field": "customerId"}
    assert error(api.gql(UNTAG, {"id": bob, "tags": ["vip"], "reason": "r"},
                         as_="staff"))["code"] == "NOT_FOUND"
    # And managing the library is forbidden to them
    assert error(create(api, "客户等级", ["A"], as_="staff"))["code"] == "FORBIDDEN"


def test_customers_may_neither_read_the_library_nor_tag(
    api: Api, pg_url: str
) -> None:
    alice = friend_of(api, STAFF_ID, "alice")
    token = issue_token(pg_url, "customer", alice, None, "tests")
    assert error(api.gql(LIBRARY, {"all": False}, token=token))["code"] == "FORBIDDEN"
    assert error(api.gql(TAG, {"id": alice, "tags": ["vip"], "reason": "r"},
                         token=token))["code"] == "FORBIDDEN"
    created = api.gql(CREATE, {"name": "x", "tags": ["y"], "exclusive": False}, token=token)
    assert error(created)["code"] == "FORBIDDEN"
