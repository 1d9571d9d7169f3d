"""``launchCampaign``'s plan for a campaign into customer groups lists every group with its
sender — the owner the directory has now, after a transfer — or why it is excluded:
dismissed since the draft, an owner no staff record maps, an owner who left, WeCom's
quota used up. The same as the dry run just before."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest

from application.app import Siyu
from fakes.wecom import FAKE_CORP_ID
from projections.campaigns import dispatch
from projections.campaigns.group_reads import campaign_group_key
from tests.integration.api.conftest import Api
from tests.integration.api.test_group_campaigns_http import DRAFT, GROUPS, TEXT
from tests.support.directory import hire_as

pytestmark = pytest.mark.integration

ZHANG = "00000000-0000-4000-8000-0000000c0b01"
LI = "00000000-0000-4000-8000-0000000c0b02"
WANG = "00000000-0000-4000-8000-0000000c0b03"
POLICY = """mutation { setContactPolicy(input: {caps: [], wecomQuotaRule: DAY,
  quietStart: "00:00", quietEnd: "00:00"}) { wecomQuotaRule } }"""
LAUNCH = """mutation($id: ID!) { launchCampaign(campaignId: $id) { position plan {
  audience included excluded { reason count } senders { sender basis count }
  groups { groupId ownerUserId included sender reason status } } } }"""


def rows(groups: list[dict[str, Any]]) -> list[tuple[str, str | None, str | None]]:
    return sorted((g["groupId"], g["sender"], g["reason"]) for g in groups)


def test_the_launch_plan_lists_each_group_with_its_sender_or_why_it_is_excluded(
        api: Api, pg_app: Siyu) -> None:
    # Given members zhang, li and wang, a corp rule of one group message a day, and six
    # groups in the directory, drafted into one campaign
    hire_as(pg_app, ZHANG, "sales", wecom_user_id="zhang", wait=False)
    hire_as(pg_app, LI, "sales", wecom_user_id="li", wait=False)
    hire_as(pg_app, WANG, "sales", wecom_user_id="wang")
    assert "errors" not in api.gql(POLICY)
    now = datetime.now(UTC)
    groups = {"wr1": "zhang", "wr2": "zhang", "wr3": "zhang", "wr4": "zhang", "wr5": "li",
              "wr6": "zhang"}
    for n, (chat, owner) in enumerate(groups.items()):
        pg_app.customers.record_group_change(FAKE_CORP_ID, chat, "create", owner, f"c{n}", now)
    body = api.gql(DRAFT, {"text": TEXT, "groups": [{"groupId": g, "ownerUserId": o}
                                                    for g, o in groups.items()]})
    assert "errors" not in body, body
    campaign_id = body["data"]["draftGroupCampaign"]["campaignId"]
    # ... then, before the launch: wr2 is dismissed; the group sync sees wr3 handed to a
    # UserID no staff record has and wr4 to wang; li leaves; wr6 had today's message
    customers = pg_app.customers
    customers.record_group_change(FAKE_CORP_ID, "wr2", "dismiss", None, "d2", now)
    customers.observe_group(FAKE_CORP_ID, "wr3", name="群3", owner="stranger",
                            created_at=now, customers=3, staff=1, by="service:group-sync",
                            occurred_at=now)
    customers.observe_group(FAKE_CORP_ID, "wr4", name="群4", owner="wang", created_at=now,
                            customers=2, staff=1, by="service:group-sync", occurred_at=now)
    pg_app.staff.leave(UUID(LI), "tests", now)
    with pg_app.factory.datastore.get_connection() as conn:  # type: ignore[attr-defined]
        dispatch.create_tables(conn)
        conn.execute("INSERT INTO siyu_send_intent (send_key, intent_id, channel, sender, "
                     "text_digest, started_at, outcome, detail) VALUES "
                     "(%s, %s, 'wecom_group', 'zhang', 'x', now(), 'sent', 'msg-earlier')",
                     (campaign_group_key(uuid4(), "wr6"), uuid4()))
        conn.commit()
    expected = [("wr1", "zhang", None), ("wr2", None, "GROUP_DISMISSED"),
                ("wr3", None, "NO_OWNER_MAPPED"), ("wr4", "wang", None),
                ("wr5", None, "OWNER_NOT_A_MEMBER"), ("wr6", None, "WECOM_GROUP_QUOTA")]
    deadline = time.monotonic() + 15
    while True:  # the read models catch up
        dry = api.gql(GROUPS, {"id": campaign_id})["data"]["campaignGroups"]
        if rows(dry["groups"]) == expected or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert rows(dry["groups"]) == expected
    # When it is launched
    launched = api.gql(LAUNCH, {"id": campaign_id})
    assert "errors" not in launched, launched
    plan = launched["data"]["launchCampaign"]["plan"]
    # Then the launch's plan lists every group as the dry run did, senders the owners now
    assert rows(plan["groups"]) == expected
    assert (plan["audience"], plan["included"]) == (6, 2)
    assert sorted((r["reason"], r["count"]) for r in plan["excluded"]) == [
        ("GROUP_DISMISSED", 1), ("NO_OWNER_MAPPED", 1), ("OWNER_NOT_A_MEMBER", 1),
        ("WECOM_GROUP_QUOTA", 1)]
    assert sorted((s["sender"], s["basis"], s["count"]) for s in plan["senders"]) == [
        ("wang", "GROUP_OWNER", 1), ("zhang", "GROUP_OWNER", 1)]
    # And the frozen plan says the same
    frozen = api.gql(GROUPS, {"id": campaign_id})["data"]["campaignGroups"]
    assert frozen["launched"] is True and rows(frozen["groups"]) == expected
