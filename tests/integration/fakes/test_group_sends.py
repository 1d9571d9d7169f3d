"""The fake's and the client's mass sends into customer groups (``chat_type`` group), as
WeCom documents them: the sender's groups only, one text per task, each group's receipt,
group tasks listed apart, results by ``chat_id``, the group's quota."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from adapters.campaign_client import WeComCampaignGateway
from adapters.campaign_gateway import Delivery, RecipientStatus
from fakes.wecom import FAKE_CORP_ID, FAKE_CORP_SECRET, RunningFakeWeCom

pytestmark = pytest.mark.integration


@pytest.fixture
def gateway(fake_wecom: RunningFakeWeCom) -> Iterator[WeComCampaignGateway]:
    fake_wecom.state.campaigns.group_owners.update(
        {"wrA": "zhangsan", "wrB": "zhangsan", "wrC": "lisi"})
    with WeComCampaignGateway(fake_wecom.url, FAKE_CORP_ID, FAKE_CORP_SECRET) as client:
        yield client


def test_a_group_task_goes_into_the_senders_groups_only_and_each_receives_the_text(
        fake_wecom: RunningFakeWeCom, gateway: WeComCampaignGateway) -> None:
    # When zhangsan's task names his two groups, lisi's group and an unknown one
    task = gateway.create_mass_send("zhangsan", ["wrA", "wrB", "wrC", "wrX"], "店庆通知",
                                    "k1", chat_type="group")
    # Then the groups he does not own are refused at creation
    assert task.delivery is Delivery.ACCEPTED and sorted(task.refused) == ["wrC", "wrX"]
    # And nothing is received before he confirms; then each of his groups once, exactly
    assert fake_wecom.state.campaigns.receipts() == []
    fake_wecom.state.campaigns.confirm(str(task.task_id))
    received = fake_wecom.state.campaigns.receipts(kind="group")
    assert sorted((r.recipient, r.text) for r in received) == [("wrA", "店庆通知"),
                                                               ("wrB", "店庆通知")]
    result = gateway.mass_send_result(str(task.task_id), "zhangsan")
    assert result.statuses == {"wrA": RecipientStatus.SENT, "wrB": RecipientStatus.SENT}


def test_group_tasks_are_listed_under_chat_type_group_only(
        fake_wecom: RunningFakeWeCom, gateway: WeComCampaignGateway) -> None:
    gateway.create_mass_send("zhangsan", ["wrA"], "into the group", "k1", chat_type="group")
    gateway.create_mass_send("zhangsan", ["wm1"], "to a customer", "k2")
    now = time.time()
    groups = gateway.list_mass_sends("zhangsan", now - 60, now + 60, chat_type="group")
    singles = gateway.list_mass_sends("zhangsan", now - 60, now + 60)
    assert [t.text for t in groups] == ["into the group"]
    assert [t.text for t in singles] == ["to a customer"]


def test_a_group_past_its_quota_gets_status_3(
        fake_wecom: RunningFakeWeCom, gateway: WeComCampaignGateway) -> None:
    # Given the corp's rule of one mass message per day, and wrA already given one today
    fake_wecom.state.campaigns.configure(quota_rule="day")
    first = gateway.create_mass_send("zhangsan", ["wrA"], "one", "k1", chat_type="group")
    fake_wecom.state.campaigns.confirm(str(first.task_id))
    # When a second task goes to wrA and wrB
    second = gateway.create_mass_send("zhangsan", ["wrA", "wrB"], "two", "k2",
                                      chat_type="group")
    fake_wecom.state.campaigns.confirm(str(second.task_id))
    # Then wrA is at its quota (3) and wrB receives it
    result = gateway.mass_send_result(str(second.task_id), "zhangsan")
    assert result.statuses == {"wrA": RecipientStatus.QUOTA_EXCEEDED,
                               "wrB": RecipientStatus.SENT}
    assert fake_wecom.state.campaigns.per_recipient(kind="group") == {"wrA": 1, "wrB": 1}


def test_a_group_task_without_groups_or_with_too_many_is_refused(
        fake_wecom: RunningFakeWeCom, gateway: WeComCampaignGateway) -> None:
    body = {"chat_type": "group", "sender": "zhangsan", "text": {"content": "x"}}
    for chats in ([], [f"wr{n}" for n in range(2001)]):
        reply = gateway._wecom.call("/cgi-bin/externalcontact/add_msg_template",
                                    {**body, "chat_id_list": chats})
        assert reply.body["errcode"] == 40058
    assert fake_wecom.state.campaigns.tasks() == []
