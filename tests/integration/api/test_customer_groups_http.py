"""The customer-group directory over GraphQL, and group campaigns choosing their groups from
it: by owner, by segment (groups holding its members) and by chat id."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from application.app import Siyu
from domain.ingestion import EventItem
from tests.integration.api.conftest import Api
from tests.support.directory import hire_as

pytestmark = pytest.mark.integration

AT = datetime(2026, 12, 1, 4, tzinfo=UTC)
ZHANGSAN = "00000000-0000-4000-8000-0000000c1a01"
LISI = "00000000-0000-4000-8000-0000000c1a02"

LIST = """query($owner: String, $dismissed: Boolean! = false, $first: Int! = 50,
  $after: String) {
  customerGroups(ownerUserId: $owner, includeDismissed: $dismissed, first: $first,
                 after: $after) {
    edges { node { groupId ownerUserId memberCount dismissedAt customerIds } }
    pageInfo { hasNextPage endCursor } } }"""
DRAFT = """mutation($groups: [GroupTargetInput!]! = [], $owners: [String!]! = [],
  $segment: ID) {
  draftGroupCampaign(input: {name: "会员日", text: "周六会员日", groups: $groups,
                             ownerUserIds: $owners, segmentId: $segment}) { campaignId } }"""
PLAN = """query($id: ID!) { campaignGroups(campaignId: $id) {
  groups { groupId ownerUserId } } }"""


def eventually(read: Callable[[], Any], ready: Callable[[Any], bool]) -> Any:
    deadline = time.monotonic() + 10
    while not ready(value := read()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ready(value), value
    return value


def given_groups(pg_app: Siyu) -> UUID:
    """zhangsan owns wrg1 and wrg2, lisi wrg3 and the dismissed wrg4; wrg9 is known only from
    a join. VIP customers are in wrg1 and wrg3. Returns the VIP segment's id."""
    hire_as(pg_app, ZHANGSAN, "sales", wecom_user_id="zhangsan", wait=False)
    hire_as(pg_app, LISI, "sales", wecom_user_id="lisi")
    for n, (chat, owner) in enumerate([("wrg1", "zhangsan"), ("wrg2", "zhangsan"),
                                       ("wrg3", "lisi"), ("wrg4", "lisi")]):
        pg_app.customers.record_group_change("ww1", chat, "create", owner, f"c{n}", AT)
    pg_app.customers.record_group_change("ww1", "wrg4", "dismiss", None, "d4", AT)
    items = []
    for n, (chat, customer, vip) in enumerate([("wrg1", 1, True), ("wrg1", 2, False),
                                               ("wrg2", 2, False), ("wrg3", 3, True),
                                               ("wrg4", 1, True), ("wrg9", 4, True)]):
        who = ("wecom_external:ww1", f"wm{customer:04d}")
        at = AT + timedelta(minutes=n)
        items.append(EventItem(f"j{n}", "GROUP_JOINED", who, at, channel="wecom_group",
                               group_id=chat))
        if vip:
            items.append(EventItem(f"t{n}", "TAGGED", who, at, tag="vip"))
    pg_app.ingestion.record_batch(items, "service:wecom")
    segment_id, _ = pg_app.segments.define("vip", "", {"tagIn": ["vip"]}, "staff:m", AT)
    return segment_id


def read_models_now(pg_app: Siyu, segment_id: str) -> tuple[int, int]:
    """(the segment's members, customers in groups) as the read models hold them now."""
    with pg_app.factory.datastore.transaction() as curs:  # type: ignore[attr-defined]
        curs.execute("SELECT (SELECT count(*) FROM segment_membership WHERE segment_id = %s) "
                     "AS members, (SELECT count(*) FROM customer_group_member) AS joined",
                     (segment_id,))
        row = curs.fetchone()
    return (int(row["members"]), int(row["joined"])) if row else (0, 0)


def nodes(body: dict[str, Any]) -> list[dict[str, Any]]:
    assert "errors" not in body, body
    return [e["node"] for e in body["data"]["customerGroups"]["edges"]]


def test_the_directory_lists_groups_with_their_owner_and_customers(api: Api,
                                                                    pg_app: Siyu) -> None:
    given_groups(pg_app)
    # When the directory is listed
    found = eventually(lambda: nodes(api.gql(LIST)), lambda n: len(n) == 4 and all(
        g["memberCount"] for g in n))
    # Then every group not dismissed is there with its owner and customers known in it
    assert [(g["groupId"], g["ownerUserId"], g["memberCount"], len(g["customerIds"]))
            for g in found] == [("wrg1", "zhangsan", 2, 2), ("wrg2", "zhangsan", 1, 1),
                                ("wrg3", "lisi", 1, 1), ("wrg9", None, 1, 1)]
    # And a member's groups, the dismissed ones on request, one page at a time
    assert [g["groupId"] for g in nodes(api.gql(LIST, {"owner": "lisi", "dismissed": True}))
            ] == ["wrg3", "wrg4"]
    page = api.gql(LIST, {"first": 2})["data"]["customerGroups"]
    assert page["pageInfo"]["hasNextPage"] is True
    rest = nodes(api.gql(LIST, {"after": page["pageInfo"]["endCursor"]}))
    assert [g["groupId"] for g in rest] == ["wrg3", "wrg9"]
    bad = api.gql(LIST, {"after": "nonsense"})
    assert bad["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    # And front-line staff may not read it
    denied = api.gql(LIST, as_="staff")
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def drafted_groups(api: Api, variables: dict[str, Any]) -> list[tuple[str, str]]:
    body = api.gql(DRAFT, variables)
    assert "errors" not in body, body
    plan = api.gql(PLAN, {"id": body["data"]["draftGroupCampaign"]["campaignId"]})
    return sorted((g["groupId"], g["ownerUserId"])
                  for g in plan["data"]["campaignGroups"]["groups"])


def test_a_group_campaign_chooses_groups_by_owner_segment_or_chat_id(api: Api,
                                                                     pg_app: Siyu) -> None:
    segment_id = str(given_groups(pg_app))
    eventually(lambda: read_models_now(pg_app, segment_id), lambda n: n == (3, 6))
    # Then by owner: the member's groups that can be sent to (not the dismissed one)
    assert drafted_groups(api, {"owners": ["lisi"]}) == [("wrg3", "lisi")]
    # And by segment: the sendable groups holding its members (wrg4 is dismissed, wrg9's
    # owner unknown)
    assert drafted_groups(api, {"segment": segment_id}) == [("wrg1", "zhangsan"),
                                                              ("wrg3", "lisi")]
    # And by chat id, the owner from the directory; all three at once, each group once
    assert drafted_groups(api, {"groups": [{"groupId": "wrg2"}], "owners": ["zhangsan"],
                                "segment": segment_id}) == [
        ("wrg1", "zhangsan"), ("wrg2", "zhangsan"), ("wrg3", "lisi")]
    # And a group the directory cannot send to, an empty selection, an unknown segment or
    # owner are typed errors

    def error(variables: dict[str, Any]) -> tuple[str, str]:
        found = api.gql(DRAFT, variables)["errors"][0]["extensions"]
        return found["code"], found.get("field")

    assert error({"groups": [{"groupId": "wrg9"}]}) == ("UNKNOWN_GROUP", "groups[0].groupId")
    assert error({"groups": [{"groupId": "wrg4"}]}) == ("UNKNOWN_GROUP", "groups[0].groupId")
    assert error({"owners": ["wangwu"]}) == ("NOT_A_MEMBER", "ownerUserIds[0]")
    assert error({}) == ("NO_GROUPS_SELECTED", "groups")
    assert error({"segment": "00000000-0000-4000-8000-00000000dead"})[0] == "NOT_FOUND"


DRY_RUN = """query($id: ID!) { campaignDryRun(campaignId: $id, sample: 10) {
  audience included excluded { reason count } senders { sender basis count }
  groups { groupId status reason } } }"""
SENDS = """query($id: ID!, $status: String, $after: String) {
  campaignSends(campaignId: $id, status: $status, first: 1, after: $after) {
    edges { cursor } groups { groupId status } pageInfo { hasNextPage endCursor } } }"""
LAUNCH = """mutation($id: ID!) { launchCampaign(campaignId: $id) { position } }"""


def test_dry_run_and_sends_show_a_group_campaign_s_groups(api: Api, pg_app: Siyu) -> None:
    given_groups(pg_app)
    # (the directory as given_groups leaves it: wrg4's dismissal projected, wrg9 joined —
    # four groups are listed, wrg4 among them, before the dismissal is)
    eventually(lambda: nodes(api.gql(LIST)),
               lambda n: [g["groupId"] for g in n] == ["wrg1", "wrg2", "wrg3", "wrg9"])
    # Given a campaign into zhangsan's groups and lisi's, lisi having left
    body = api.gql(DRAFT, {"owners": ["zhangsan", "lisi"]})
    assert "errors" not in body, body
    campaign_id = body["data"]["draftGroupCampaign"]["campaignId"]
    pg_app.staff.leave(UUID(LISI), "tests", datetime.now(UTC))
    # When its dry run is read
    dry = eventually(lambda: api.gql(DRY_RUN, {"id": campaign_id})["data"]["campaignDryRun"],
                     lambda d: d["included"] == 2)
    # Then it counts groups: planned by their owner, or excluded with the reason
    assert (dry["audience"], dry["excluded"], dry["senders"]) == (
        3, [{"reason": "OWNER_NOT_A_MEMBER", "count": 1}],
        [{"sender": "zhangsan", "basis": "GROUP_OWNER", "count": 2}])
    assert sorted((g["groupId"], g["status"], g["reason"]) for g in dry["groups"]) == [
        ("wrg1", "planned", None), ("wrg2", "planned", None),
        ("wrg3", "excluded", "OWNER_NOT_A_MEMBER")]
    # And before the launch it has no sends
    assert api.gql(SENDS, {"id": campaign_id})["data"]["campaignSends"]["groups"] == []
    # When it is launched, its sends are its groups, page by page, filtered by status
    assert "errors" not in api.gql(LAUNCH, {"id": campaign_id})
    page = eventually(lambda: api.gql(SENDS, {"id": campaign_id, "status": "planned"})[
        "data"]["campaignSends"], lambda p: p["groups"])
    assert page["edges"] == [] and page["pageInfo"]["hasNextPage"] is True
    rest = api.gql(SENDS, {"id": campaign_id, "status": "planned",
                           "after": page["pageInfo"]["endCursor"]})["data"]["campaignSends"]
    assert [g["groupId"] for g in page["groups"] + rest["groups"]] == ["wrg1", "wrg2"]
    assert rest["pageInfo"]["hasNextPage"] is False
    excluded = api.gql(SENDS, {"id": campaign_id, "status": "excluded"})
    assert excluded["data"]["campaignSends"]["groups"] == [
        {"groupId": "wrg3", "status": "excluded"}]


SYNCED = """query { customerGroups(includeDismissed: true) {
    edges { node { groupId name ownerUserId customerCount staffCount memberCount } } } }"""


def test_the_directory_shows_the_names_owners_and_sizes_the_group_sync_recorded(
        api: Api, pg_app: Siyu) -> None:
    # Given a group known from WeCom's callback (no name), then seen by the group sync with
    # its name, a new owner and WeCom's counts, and a group only the sync found
    pg_app.customers.record_group_change("ww1", "wrs1", "create", "zhangsan", "s1", AT)
    for chat, owner in (("wrs1", "lisi"), ("wrs2", "wangwu")):
        pg_app.customers.observe_group("ww1", chat, name=f"群 {chat}", owner=owner,
                                       created_at=AT, customers=12, staff=2,
                                       by="service:group-sync", occurred_at=AT)
    # When the directory is read
    nodes = eventually(lambda: api.gql(SYNCED)["data"]["customerGroups"]["edges"],
                       lambda edges: len(edges) == 2 and edges[0]["node"]["name"] is not None)
    # Then it shows each group's name, owner now and WeCom's counts (customers the platform
    # saw join: none)
    assert [e["node"] for e in nodes] == [
        {"groupId": "wrs1", "name": "群 wrs1", "ownerUserId": "lisi", "customerCount": 12,
         "staffCount": 2, "memberCount": 0},
        {"groupId": "wrs2", "name": "群 wrs2", "ownerUserId": "wangwu", "customerCount": 12,
         "staffCount": 2, "memberCount": 0}]
