"""Campaigns into customer groups, over GraphQL and through the worker against the faithful
fake WeCom: one message per group from its owner, the text each group received read back,
exclusions with their reasons, and exactly once under lost replies and redelivery."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from adapters.campaign_client import WeComCampaignGateway
from application.app import Siyu
from fakes.wecom import FAKE_CORP_ID, FAKE_CORP_SECRET, RunningFakeWeCom
from tests.integration.api.conftest import Api
from tests.support.directory import hire_as
from workers.campaign_groups import GroupCampaignSender, send_groups
from workers.campaign_sending import CampaignDeps
from workers.campaign_store import CampaignStore
from workers.send_intents import RetryLater

BEIJING = ZoneInfo("Asia/Shanghai")

pytestmark = pytest.mark.integration

TEXT = "本周六门店会员日, 全场满 300 减 50, 群内接龙报名"
ZHANGSAN = "00000000-0000-4000-8000-0000000c0a01"
LISI = "00000000-0000-4000-8000-0000000c0a02"

DRAFT = """
mutation($text: String!, $groups: [GroupTargetInput!]!) {
  draftGroupCampaign(input: {name: "会员日", text: $text, groups: $groups}) { campaignId } }"""
GROUPS = """
query($id: ID!) { campaignGroups(campaignId: $id) {
  launched planned excluded sent failed unknown pending
  groups { groupId ownerUserId included sender reason status detail } } }"""
LAUNCH = """
mutation($id: ID!) { launchCampaign(campaignId: $id) { position } }"""
CAMPAIGN = """query($id: ID!) { campaign(id: $id) { state audience included
  excluded { reason count } sent failed } }"""

TARGETS = [{"groupId": "wrg1", "ownerUserId": "zhangsan"},
           {"groupId": "wrg2", "ownerUserId": "zhangsan"},
           {"groupId": "wrg3", "ownerUserId": "lisi"}]


def code(body: dict[str, Any]) -> tuple[str, str]:
    error = body["errors"][0]["extensions"]
    return error["code"], error.get("field")


@pytest.fixture
def deps(pg_url: str, pg_app: Siyu, fake_wecom: RunningFakeWeCom) -> Iterator[CampaignDeps]:
    """The worker's dependencies, sending through the WeCom client to the fake, where
    zhangsan owns wrg1 and wrg2 and lisi owns wrg3. Its clock is a day ahead: the plan's
    send times may be deferred out of quiet hours whenever the test runs."""
    fake_wecom.state.campaigns.group_owners.update(
        {"wrg1": "zhangsan", "wrg2": "zhangsan", "wrg3": "lisi"})
    store = CampaignStore.connect(pg_url)
    with WeComCampaignGateway(fake_wecom.url, FAKE_CORP_ID, FAKE_CORP_SECRET) as gateway:
        yield CampaignDeps(app=pg_app, store=store, gateway=gateway,
                           clock=lambda: datetime.now(UTC) + timedelta(days=1),
                           intent_lease=0.5)
    store.close()


def launched_campaign(api: Api, pg_app: Siyu) -> str:
    """A group campaign to wrg1-3, launched after lisi (wrg3's owner) left."""
    hire_as(pg_app, ZHANGSAN, "sales", wecom_user_id="zhangsan", wait=False)
    hire_as(pg_app, LISI, "sales", wecom_user_id="lisi")
    body = api.gql(DRAFT, {"text": TEXT, "groups": TARGETS})
    assert "errors" not in body, body
    campaign_id = str(body["data"]["draftGroupCampaign"]["campaignId"])
    pg_app.staff.leave(UUID(LISI), "tests", datetime.now(UTC))
    dry = wait_for(api, campaign_id, lambda g: g["excluded"] == 1)
    launched = api.gql(LAUNCH, {"id": campaign_id})
    assert "errors" not in launched, launched
    assert dry["launched"] is False
    return campaign_id


def wait_for(api: Api, campaign_id: str, ready: Any, seconds: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        body = api.gql(GROUPS, {"id": campaign_id})
        assert "errors" not in body, body
        groups: dict[str, Any] = body["data"]["campaignGroups"]
        if ready(groups) or time.monotonic() > deadline:
            return groups
        time.sleep(0.1)


def test_a_group_campaign_sends_one_message_per_group_from_its_owner(
        api: Api, pg_app: Siyu, deps: CampaignDeps, fake_wecom: RunningFakeWeCom) -> None:
    # Given a group campaign to three groups, the owner of one of which has left
    campaign_id = launched_campaign(api, pg_app)
    plan = api.gql(GROUPS, {"id": campaign_id})["data"]["campaignGroups"]
    # Then the plan lists each group with its sender, or why it is excluded
    assert plan["launched"] is True
    assert sorted((g["groupId"], g["sender"], g["reason"], g["status"])
                  for g in plan["groups"]) == [
        ("wrg1", "zhangsan", None, "planned"), ("wrg2", "zhangsan", None, "planned"),
        ("wrg3", None, "OWNER_NOT_A_MEMBER", "excluded")]
    # When the worker sends it
    report = send_groups(deps, UUID(campaign_id))
    # Then zhangsan has one task into his two groups, with the campaign's text
    [task] = fake_wecom.state.campaigns.tasks()
    assert (task["sender"], task["recipients"], task["text"]) == ("zhangsan", 2, TEXT)
    assert (report["sent"], report["excluded"], report["unknown"], report["pending"]) == (
        2, 1, 0, 0)
    # And once he confirms, each of his groups received exactly that text, once
    fake_wecom.state.campaigns.confirm(task["msgid"])
    received = fake_wecom.state.campaigns.receipts(kind="group")
    assert sorted((r.recipient, r.sender, r.text) for r in received) == [
        ("wrg1", "zhangsan", TEXT), ("wrg2", "zhangsan", TEXT)]
    assert fake_wecom.state.campaigns.receipts(kind="mass") == []
    # And the report counts groups: sent, excluded, unknown; the campaign is completed
    done = wait_for(api, campaign_id, lambda g: g["sent"] == 2)
    assert {k: done[k] for k in ("planned", "sent", "excluded", "failed", "unknown",
                                 "pending")} == {"planned": 2, "sent": 2, "excluded": 1,
                                                 "failed": 0, "unknown": 0, "pending": 0}
    assert {g["detail"] for g in done["groups"] if g["status"] == "sent"} == {task["msgid"]}
    deadline = time.monotonic() + 10
    while (row := api.gql(CAMPAIGN, {"id": campaign_id})["data"]["campaign"])[
            "state"] != "completed" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert row == {"state": "completed", "audience": 3, "included": 2,
                   "excluded": [{"reason": "OWNER_NOT_A_MEMBER", "count": 1}],
                   "sent": 2, "failed": 0}
    # And a later pass (the poller) sends nothing more
    GroupCampaignSender(deps).run_once()
    assert len(fake_wecom.state.campaigns.tasks()) == 1


def test_a_lost_reply_and_redelivery_create_one_task_per_owner(
        api: Api, pg_app: Siyu, deps: CampaignDeps, fake_wecom: RunningFakeWeCom) -> None:
    campaign_id = UUID(launched_campaign(api, pg_app))
    # Given WeCom creates the task but the reply is lost, and listing fails for a while
    fake_wecom.state.campaigns.inject("lost_reply", api="add_msg_template")
    fake_wecom.state.campaigns.inject("http_503", count=3, api="list_v2")
    # When the worker's message is redelivered until it goes through
    attempts = 0
    while True:
        attempts += 1
        try:
            report = send_groups(deps, campaign_id)
            break
        except RetryLater:
            assert attempts < 20
            time.sleep(0.6)  # past the intent's lease
    # Then the first attempt could not know, and no attempt created a second task
    assert attempts >= 2
    [task] = fake_wecom.state.campaigns.tasks()
    assert (task["sender"], task["recipients"]) == ("zhangsan", 2)
    assert (report["sent"], report["unknown"], report["pending"]) == (2, 0, 0)
    # And more redeliveries change nothing
    assert send_groups(deps, campaign_id)["sent"] == 2
    fake_wecom.state.campaigns.confirm(task["msgid"])
    assert sorted(r.recipient for r in fake_wecom.state.campaigns.receipts(kind="group")) == [
        "wrg1", "wrg2"]


def test_bad_group_campaigns_are_refused_with_a_typed_error(api: Api, pg_app: Siyu) -> None:
    hire_as(pg_app, ZHANGSAN, "sales", wecom_user_id="zhangsan")
    personal = api.gql(DRAFT, {"text": "您有 {points_balance} 积分", "groups": TARGETS[:1]})
    assert code(personal) == ("GROUP_TEXT_PERSONALISED", "text")
    stranger = api.gql(DRAFT, {"text": TEXT, "groups": [
        {"groupId": "wrg9", "ownerUserId": "nobody"}]})
    assert code(stranger) == ("NOT_A_MEMBER", "groups[0].ownerUserId")
    twice = api.gql(DRAFT, {"text": TEXT, "groups": TARGETS[:1] * 2})
    assert code(twice) == ("INVALID_INPUT", "groups[1].groupId")
    assert api.gql("{ campaigns { name } }")["data"]["campaigns"] == []


SERVICE = """
mutation($groups: [GroupTargetInput!]!) {
  draftGroupCampaign(input: {name: "售后", text: "售后服务指南", groups: $groups,
    messageClass: "service", serviceReason: "after_sales", serviceReference: "notice-12"}) {
    campaignId } }"""
CLASS = """query($id: ID!) { campaign(id: $id) { messageClass segmentId } }"""


def test_the_campaign_read_model_shows_the_message_class(api: Api, pg_app: Siyu) -> None:
    hire_as(pg_app, ZHANGSAN, "sales", wecom_user_id="zhangsan")
    service = api.gql(SERVICE, {"groups": TARGETS[:1]})
    assert "errors" not in service, service
    marketing = api.gql(DRAFT, {"text": TEXT, "groups": TARGETS[:1]})
    ids = {"service": service["data"]["draftGroupCampaign"]["campaignId"],
           "marketing": marketing["data"]["draftGroupCampaign"]["campaignId"]}
    deadline = time.monotonic() + 10
    for kind, campaign_id in ids.items():
        while (row := api.gql(CLASS, {"id": campaign_id})["data"]["campaign"]) is None \
                or row["messageClass"] != kind:
            assert time.monotonic() < deadline, (kind, row)
            time.sleep(0.1)
        assert row["segmentId"] == "00000000-0000-0000-0000-000000000000"


def draft_and_launch(api: Api, groups: list[dict[str, str]]) -> str:
    body = api.gql(DRAFT, {"text": TEXT, "groups": groups})
    assert "errors" not in body, body
    campaign_id = str(body["data"]["draftGroupCampaign"]["campaignId"])
    launched = api.gql(LAUNCH, {"id": campaign_id})
    assert "errors" not in launched, launched
    return campaign_id


def test_a_group_the_sender_does_not_own_fails_with_wecom_s_reason(
        api: Api, pg_app: Siyu, deps: CampaignDeps, fake_wecom: RunningFakeWeCom) -> None:
    # Given a campaign naming zhangsan as the owner of wrg3, which WeCom says lisi owns
    hire_as(pg_app, ZHANGSAN, "sales", wecom_user_id="zhangsan")
    campaign_id = draft_and_launch(api, [TARGETS[0], {"groupId": "wrg3",
                                                      "ownerUserId": "zhangsan"}])
    # When it is sent
    report = send_groups(deps, UUID(campaign_id))
    # Then wrg1 is sent and wrg3 failed as WeCom refused it; nothing is retried
    assert (report["sent"], report["failed"], report["pending"]) == (1, 1, 0)
    groups = {g["groupId"]: g for g in api.gql(GROUPS, {"id": campaign_id})[
        "data"]["campaignGroups"]["groups"]}
    assert (groups["wrg3"]["status"], groups["wrg3"]["detail"]) == ("failed",
                                                                    "REFUSED_BY_WECOM")
    send_groups(deps, UUID(campaign_id))
    [task] = fake_wecom.state.campaigns.tasks()
    assert task["recipients"] == 1


def test_concurrent_workers_create_one_task_and_a_cancelled_campaign_sends_nothing(
        api: Api, pg_app: Siyu, deps: CampaignDeps, fake_wecom: RunningFakeWeCom) -> None:
    hire_as(pg_app, ZHANGSAN, "sales", wecom_user_id="zhangsan")
    campaign_id = UUID(draft_and_launch(api, TARGETS[:2]))
    # When two workers send the same campaign at once (a redelivered message), retrying
    results: list[dict[str, int]] = []

    def worker() -> None:
        for _ in range(40):
            try:
                results.append(send_groups(deps, campaign_id))
                return
            except RetryLater:
                time.sleep(0.3)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # Then one task into the two groups
    assert [r["sent"] for r in results] == [2, 2]
    [task] = fake_wecom.state.campaigns.tasks()
    assert task["recipients"] == 2
    # And a campaign cancelled before its send sends nothing
    cancelled = draft_and_launch(api, TARGETS[:1])
    body = api.gql('mutation($id: ID!) { cancelCampaign(campaignId: $id, reason: "改期") '
                   '{ campaignId } }', {"id": cancelled})
    assert "errors" not in body, body
    assert send_groups(deps, UUID(cancelled))["sent"] == 0
    report = api.gql(GROUPS, {"id": cancelled})["data"]["campaignGroups"]
    assert (report["launched"], report["pending"], [g["status"] for g in report["groups"]]) \
        == (True, 1, ["cancelled"])
    assert len(fake_wecom.state.campaigns.tasks()) == 1


DAY_RULE = """mutation($start: String!, $end: String!) { setContactPolicy(input: {
  caps: [], wecomQuotaRule: DAY, quietStart: $start, quietEnd: $end}) { wecomQuotaRule } }"""


def quiet_window_far_from(now: datetime) -> dict[str, str]:
    """A one-minute quiet window twelve hours from ``now``, Beijing time: the plan made
    now is never deferred, whenever the test runs."""
    far = (now + timedelta(hours=12)).astimezone(BEIJING)
    return {"start": far.strftime("%H:%M"), "end": (far + timedelta(minutes=1)).strftime("%H:%M")}


def test_a_group_at_its_quota_under_the_corp_s_rule_is_excluded_from_the_next_campaign(
        api: Api, pg_app: Siyu, deps: CampaignDeps, fake_wecom: RunningFakeWeCom) -> None:
    # Given the corp's WeCom rule is one mass message per day, and wrg1 had today's
    hire_as(pg_app, ZHANGSAN, "sales", wecom_user_id="zhangsan")
    now = datetime.now(UTC)
    assert "errors" not in api.gql(DAY_RULE, quiet_window_far_from(now))
    first = draft_and_launch(api, TARGETS[:1])
    deps.clock = lambda: now + timedelta(minutes=1)  # today, as planned (not deferred)
    assert send_groups(deps, UUID(first))["sent"] == 1
    # When another campaign into wrg1 and wrg2 is planned the same day
    body = api.gql(DRAFT, {"text": TEXT, "groups": TARGETS[:2]})
    second = body["data"]["draftGroupCampaign"]["campaignId"]
    dry = api.gql(GROUPS, {"id": second})["data"]["campaignGroups"]
    # Then wrg1 is excluded for WeCom's quota, wrg2 is planned
    assert sorted((g["groupId"], g["reason"]) for g in dry["groups"]) == [
        ("wrg1", "WECOM_GROUP_QUOTA"), ("wrg2", None)]
