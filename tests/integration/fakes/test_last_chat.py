"""The fake enforces WeCom's rule that a mass-send task reaches a customer only through the
member who last chatted with them: others' tasks answer that customer in ``fail_list``."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from adapters.campaign_client import WeComCampaignGateway
from adapters.campaign_gateway import Delivery, RecipientStatus
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
