"""The fake enforces WeCom's rule that a mass-send task reaches a customer only through the
member who last chatted with them: others' tasks answer that customer in ``fail_list``.

WeCom states the rule on the ``add_msg_template`` page only (创建企业群发, document/path/92135:
「仅会推送给最后跟客户进行聊天互动的企业成员」): these tests fail if the fake were kinder there
(another member's task delivered, the rule read from a stale last chatter), and if it applied
the rule where WeCom does not state it (moments)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from adapters.campaign_client import WeComCampaignGateway
from adapters.campaign_gateway import Delivery, RecipientStatus
from fakes.moments import FakeMoments
from fakes.wecom import FAKE_CORP_ID, FAKE_CORP_SECRET, RunningFakeWeCom

pytestmark = pytest.mark.integration


@pytest.fixture
def gateway(fake_wecom: RunningFakeWeCom) -> Iterator[WeComCampaignGateway]:
    """wm1 last chatted with zhangsan, wm2 with lisi; of wm3 the fake knows nothing."""
    answer = httpx.post(f"{fake_wecom.url}/fake/campaigns/last_chatted",
                        json={"last_chatted": {"wm1": "zhangsan", "wm2": "lisi"}})
    assert answer.status_code == 200
    with WeComCampaignGateway(fake_wecom.url, FAKE_CORP_ID, FAKE_CORP_SECRET) as client:
        yield client


def test_a_task_reaches_a_customer_only_through_the_member_who_last_chatted_with_them(
        fake_wecom: RunningFakeWeCom, gateway: WeComCampaignGateway) -> None:
    # When zhangsan's task names wm1, wm2 and wm3
    task = gateway.create_mass_send("zhangsan", ["wm1", "wm2", "wm3"], "新品到店", "k1")
    # Then wm2, whom WeCom delivers through lisi, is answered in fail_list
    assert task.delivery is Delivery.ACCEPTED and list(task.refused) == ["wm2"]
    # And once confirmed, only wm1 and wm3 received it
    fake_wecom.state.campaigns.confirm(str(task.task_id))
    assert sorted(r.recipient for r in fake_wecom.state.campaigns.receipts()) == ["wm1", "wm3"]
    result = gateway.mass_send_result(str(task.task_id), "zhangsan")
    assert result.statuses == {"wm1": RecipientStatus.SENT, "wm3": RecipientStatus.SENT}
    # But lisi's task reaches wm2
    other = gateway.create_mass_send("lisi", ["wm2"], "新品到店", "k2")
    assert list(other.refused) == []
    fake_wecom.state.campaigns.confirm(str(other.task_id))
    assert fake_wecom.state.campaigns.per_recipient() == {"wm1": 1, "wm2": 1, "wm3": 1}


def test_a_malformed_last_chatted_map_is_refused(fake_wecom: RunningFakeWeCom) -> None:
    answer = httpx.post(f"{fake_wecom.url}/fake/campaigns/last_chatted",
                        json={"last_chatted": {"wm1": 7}})
    assert answer.status_code == 400
    assert fake_wecom.state.campaigns.last_chatted == {}


def test_a_task_whose_customers_all_last_chatted_with_others_reaches_nobody(
        fake_wecom: RunningFakeWeCom, gateway: WeComCampaignGateway) -> None:
    # When lisi's task names only wm1, who last chatted with zhangsan
    task = gateway.create_mass_send("lisi", ["wm1"], "新品到店", "k1")
    # Then WeCom takes the task but refuses wm1, and confirming it delivers nothing
    assert list(task.refused) == ["wm1"]
    fake_wecom.state.campaigns.confirm(str(task.task_id))
    assert fake_wecom.state.campaigns.receipts() == []


def test_the_rule_follows_the_customers_latest_chat_at_task_creation(
        fake_wecom: RunningFakeWeCom, gateway: WeComCampaignGateway) -> None:
    # Given wm1 chats with lisi after zhangsan
    httpx.post(f"{fake_wecom.url}/fake/campaigns/last_chatted",
               json={"last_chatted": {"wm1": "lisi"}}).raise_for_status()
    # When zhangsan, the earlier chatter, sends to wm1, and lisi does
    stale = gateway.create_mass_send("zhangsan", ["wm1"], "新品到店", "k1")
    latest = gateway.create_mass_send("lisi", ["wm1"], "新品到店", "k2")
    # Then only lisi's task carries wm1
    assert list(stale.refused) == ["wm1"] and list(latest.refused) == []
    for task in (stale, latest):
        fake_wecom.state.campaigns.confirm(str(task.task_id))
    assert [r.recipient for r in fake_wecom.state.campaigns.receipts()] == ["wm1"]


def test_a_moment_is_not_narrowed_to_the_last_chatter_as_wecom_states_no_such_rule() -> None:
    # Given wm1 is a customer of zhangsan (and last chatted with lisi: moments do not ask)
    state = FakeMoments(members={"zhangsan", "lisi"}, reach={"zhangsan": ["wm1"]})
    status, body = state.call("add", {"text": {"content": "新品"}, "visible_range": {
        "sender_list": {"user_list": ["zhangsan"]}}})
    assert status == 200
    for _ in range(3):
        done = state.call("result", {"jobid": body["jobid"]})[1]
    moment_id = done["result"]["moment_id"]
    # When zhangsan posts it
    assert state.post(moment_id, "zhangsan")
    # Then the moment reached wm1 through zhangsan
    sent = state.call("send_result", {"moment_id": moment_id, "userid": "zhangsan"})[1]
    assert sent["customer_list"] == [{"external_userid": "wm1"}]
