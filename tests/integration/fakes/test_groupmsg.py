"""The fake's mass-send follow-ups behave as WeCom documents them: tasks listed by creator and
time window in pages, a task's members, cancel, reminders (3 per task per 24 hours), and no
task ends by itself."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from adapters.campaign_client import WeComCampaignGateway
from adapters.campaign_gateway import Delivery, RecipientStatus
from fakes.wecom import FAKE_CORP_ID, FAKE_CORP_SECRET, RunningFakeWeCom


@pytest.fixture
def gateway(fake_wecom: RunningFakeWeCom) -> Iterator[WeComCampaignGateway]:
    with WeComCampaignGateway(fake_wecom.url, FAKE_CORP_ID, FAKE_CORP_SECRET) as client:
        yield client


def call(fake: RunningFakeWeCom, gateway: WeComCampaignGateway, api: str,
         body: dict[str, object]) -> dict[str, object]:
    reply = gateway._wecom.call(f"/cgi-bin/externalcontact/{api}", body)
    assert reply.status_code == 200
    answer: dict[str, object] = reply.body
    return answer


def test_a_task_stays_pending_for_ever_until_confirmed_or_cancelled(
        fake_wecom: RunningFakeWeCom, gateway: WeComCampaignGateway) -> None:
    # Given a task nobody confirms, and a month passing
    task = gateway.create_mass_send("alice", ["c1"], "hi", "k")
    fake_wecom.state.campaigns.advance(31 * 86_400)
    # When it is read / Then it is still pending: WeCom documents no expiry
    result = gateway.mass_send_result(str(task.task_id), "alice")
    assert (result.confirmed, result.statuses) == (False, {"c1": RecipientStatus.PENDING})
    assert [t["state"] for t in fake_wecom.state.campaigns.tasks()] == ["pending"]


def test_the_sender_s_tasks_are_listed_by_creator_and_time_window_in_pages(
        fake_wecom: RunningFakeWeCom, gateway: WeComCampaignGateway) -> None:
    # Given 120 tasks of alice and one of bob, then one of alice two hours later
    for n in range(120):
        gateway.create_mass_send("alice", [f"c{n}"], f"text {n}", f"k{n}")
    gateway.create_mass_send("bob", ["c1"], "bob's", "kb")
    now = time.time()
    fake_wecom.state.campaigns.advance(7200)
    gateway.create_mass_send("alice", ["c1"], "later", "kl")
    # When alice's tasks of the last hour are listed (pages of 100 followed to the end)
    listed = gateway.list_mass_sends("alice", now - 3600, now + 60)
    # Then all 120 of them, oldest first, with their text; none of bob's, not the later one
    assert [t.text for t in listed] == [f"text {n}" for n in range(120)]
    assert {t.creator for t in listed} == {"alice"}
    raw = call(fake_wecom, gateway, "get_groupmsg_list_v2", {
        "chat_type": "single", "start_time": int(now - 3600), "end_time": int(now + 60),
        "creator": "alice", "limit": 100})
    assert len(raw["group_msg_list"]) == 100 and raw["next_cursor"] == "100"  # type: ignore[arg-type]
    assert call(fake_wecom, gateway, "get_groupmsg_list_v2", {
        "start_time": 0, "end_time": int(now)})["errcode"] == 40058  # a window over 31 days


def test_a_cancelled_task_sends_nothing_and_can_no_longer_be_confirmed(
        fake_wecom: RunningFakeWeCom, gateway: WeComCampaignGateway) -> None:
    # Given a pending task
    task = gateway.create_mass_send("alice", ["c1", "c2"], "hi", "k")
    # When it is cancelled, then the member tries to confirm it
    cancelled = gateway.cancel_mass_send(str(task.task_id))
    confirm = httpx.post(f"{fake_wecom.url}/fake/campaigns/tasks/{task.task_id}/confirm")
    # Then nothing was received, the recipients stay status 0, the member has nothing to send
    assert cancelled.delivery is Delivery.ACCEPTED and confirm.status_code == 409
    assert fake_wecom.state.campaigns.receipts() == []
    result = gateway.mass_send_result(str(task.task_id), "alice")
    assert set(result.statuses.values()) == {RecipientStatus.PENDING}
    members = call(fake_wecom, gateway, "get_groupmsg_task", {"msgid": task.task_id})
    assert members["task_list"] == [{"userid": "alice", "status": 0}]
    assert [t["state"] for t in fake_wecom.state.campaigns.tasks()] == ["cancelled"]


def test_a_task_is_reminded_at_most_three_times_in_24_hours(
        fake_wecom: RunningFakeWeCom, gateway: WeComCampaignGateway) -> None:
    # Given a pending task
    task = gateway.create_mass_send("alice", ["c1"], "hi", "k")
    # When it is reminded four times, then again a day after the first
    answers = [gateway.remind_mass_send(str(task.task_id)) for _ in range(4)]
    fake_wecom.state.campaigns.advance(86_400)
    later = gateway.remind_mass_send(str(task.task_id))
    # Then the fourth is refused with WeCom's frequency limit, the next day's is accepted
    assert [a.delivery for a in answers[:3]] == [Delivery.ACCEPTED] * 3
    assert "45009" in answers[3].reason
    assert later.delivery is Delivery.ACCEPTED
    assert fake_wecom.state.campaigns.tasks()[0]["reminders"] == 4


def test_the_daily_quota_rule_gives_status_3_to_a_second_message_the_same_day(
        fake_wecom: RunningFakeWeCom, gateway: WeComCampaignGateway) -> None:
    # Given a corp whose mass-send setting is one message per customer per day
    fake_wecom.state.campaigns.configure(quota_rule="day")
    first = gateway.create_mass_send("alice", ["c1"], "one", "k1")
    second = gateway.create_mass_send("bob", ["c1"], "two", "k2")
    # When both members confirm
    for task in (first, second):
        fake_wecom.state.campaigns.confirm(str(task.task_id))
    # Then the second gets status 3, and c1 received only the first text
    assert gateway.mass_send_result(str(second.task_id), "bob").statuses == {
        "c1": RecipientStatus.QUOTA_EXCEEDED}
    assert [r.text for r in fake_wecom.state.campaigns.receipts(recipient="c1")] == ["one"]


@pytest.mark.parametrize("api", ["list_v2", "cancel", "remind", "get_task"])
def test_faults_can_be_injected_on_each_follow_up(
        fake_wecom: RunningFakeWeCom, gateway: WeComCampaignGateway, api: str) -> None:
    # Given a task, and a 503 injected on one API
    task = gateway.create_mass_send("alice", ["c1"], "hi", "k")
    fake_wecom.state.campaigns.inject("http_503", api=api)
    # When that API is called / Then it fails once
    path = {"list_v2": "get_groupmsg_list_v2", "cancel": "cancel_groupmsg_send",
            "remind": "remind_groupmsg_send", "get_task": "get_groupmsg_task"}[api]
    body = {"start_time": int(time.time()) - 60, "end_time": int(time.time()) + 60} \
        if api == "list_v2" else {"msgid": task.task_id}
    assert gateway._wecom.call(f"/cgi-bin/externalcontact/{path}", body).status_code == 503
    assert gateway._wecom.call(f"/cgi-bin/externalcontact/{path}", body).status_code == 200


def test_a_members_own_mass_send_is_listed_apart_and_uses_the_customers_quota(
        fake_wecom: RunningFakeWeCom, gateway: WeComCampaignGateway) -> None:
    # Given the daily rule, a corp task to c1 and c2, and alice's own mass send to c1 from
    # the WeCom client (control API), sent at once
    fake = fake_wecom.state.campaigns
    fake.configure(quota_rule="day")
    corp = gateway.create_mass_send("alice", ["c1", "c2"], "corp", "k")
    now = time.time()
    answer = httpx.post(f"{fake_wecom.url}/fake/campaigns/member_sends", json={
        "sender": "alice", "external_userids": ["c1"], "text": "mine"}).json()
    assert answer["statuses"] == {"c1": 1}
    # When the members' own sends are listed (filter_type 1) / Then only alice's, create_type 1
    [own] = gateway.list_member_mass_sends(now - 60, now + 60)
    assert (own.task_id, own.creator, own.text, own.by_member) == (
        answer["msgid"], "alice", "mine", True)
    raw = call(fake_wecom, gateway, "get_groupmsg_list_v2", {
        "chat_type": "single", "start_time": int(now - 60), "end_time": int(now + 60)})
    assert sorted(t["create_type"] for t in raw["group_msg_list"]) == [0, 1]  # type: ignore[attr-defined]
    # ... and the corp's tasks only with filter_type 0 (the reconciliation's listing)
    assert [t.task_id for t in gateway.list_mass_sends("alice", now - 60, now + 60)] == [
        corp.task_id]
    # When alice confirms the corp task the same day / Then c1's day is full (status 3)
    assert fake.confirm(str(corp.task_id)).statuses == {"c1": 3, "c2": 1}
