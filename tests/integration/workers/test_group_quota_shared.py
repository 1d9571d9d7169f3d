"""A customer group's month quota is shared by SOP group steps and group campaigns: the
messages WeCom accepted from either count toward the other's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest

from application.app import Siyu
from domain.restraint import wecom_quota_period
from projections.campaigns.group_reads import campaign_group_key, period_sends
from workers.campaign_store import CampaignStore
from workers.sops import SopStore

pytestmark = pytest.mark.integration


def test_a_group_campaign_s_message_counts_toward_a_sop_group_step_s_quota(
        pg_url: str, pg_app: Siyu) -> None:
    campaigns = CampaignStore.connect(pg_url)
    try:
        store = SopStore(campaigns.pool)
        now = datetime.now(UTC)
        day = now.astimezone(ZoneInfo("Asia/Shanghai")).date()
        # Given a group campaign's message into wrg1 that WeCom accepted, and one it did not
        sent, refused = uuid4(), uuid4()
        campaigns.open_intent(sent, [campaign_group_key(uuid4(), "wrg1")], "wecom_group",
                              "zhangsan", "digest")
        campaigns.settle_intent(sent, "sent", "msg1")
        campaigns.open_intent(refused, [campaign_group_key(uuid4(), "wrg2")], "wecom_group",
                              "zhangsan", "digest")
        campaigns.settle_intent(refused, "not_sent", "REFUSED_BY_WECOM")
        # When a SOP step claims a message into each group, with a quota of one a month
        row = {"sop_id": uuid4(), "step": 0, "trigger_group": "wrg1", "enrolment_id": uuid4()}
        # Then wrg1 is at its quota, wrg2 is not
        first = day.replace(day=1)
        month = (first, (first + timedelta(days=32)).replace(day=1), 1)
        assert store.claim_group(row, day, now, month) == "WECOM_GROUP_QUOTA"
        assert store.claim_group({**row, "trigger_group": "wrg2"}, day, now, month) is None
        # And the campaign planner counts the accepted message (a SOP step's, too, once WeCom
        # accepts it), not the refused one
        since, until, _ = wecom_quota_period(now, "month")
        with campaigns.pool.connection() as conn:
            assert period_sends(conn, ["wrg1", "wrg2"], since, until) == {"wrg1": 1}
    finally:
        campaigns.close()
