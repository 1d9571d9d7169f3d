"""Mass messages a member sends into their customer groups from the WeCom client
(``get_groupmsg_list_v2`` with ``chat_type`` group, ``create_type`` 1) use the groups'
WeCom quota: synced from WeCom's task list against the faithful fake, a group campaign's
plan and an SOP group step respect what remains."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from adapters.campaign_client import WeComCampaignGateway
from application import campaign_groups
from application.app import Siyu
from domain.restraint import wecom_quota_period
from fakes import groupmsg
from fakes.wecom import FAKE_CORP_ID, FAKE_CORP_SECRET, RunningFakeWeCom
from projections.runner import Tracker
from projections.sops.dispatch import claim_group
from tests.integration.workers.test_campaign_sends_on_postgres import running  # noqa: F401
from workers.campaign_sending import CampaignDeps
from workers.campaign_store import CampaignStore
from workers.sops import SopStore
from workers.wecom_quota import WeComQuotaSync

pytestmark = pytest.mark.integration


def test_a_members_own_group_send_fills_the_groups_quota_for_campaigns_and_sop_steps(
        pg_app: Siyu, pg_url: str, running: Tracker,  # noqa: F811
        fake_wecom: RunningFakeWeCom) -> None:
    # Given a corp whose WeCom allows each group one mass message a day (in WeCom and in
    # the platform's policy, quiet hours off) and member zhang owning groups wrA and wrB
    fake = fake_wecom.state
    fake.campaigns.configure(quota_rule="day")
    now = datetime.now(UTC)
    pg_app.campaigns.change_contact_policy({}, "day", "00:00", "00:00", "staff:m", now)
    pg_app.staff.hire("sales", "front_office", "张三", "staff:m", now, wecom_user_id="zhang")
    for chat in ("wrA", "wrB"):
        fake.group_chats.put(chat, "zhang", name=f"群{chat}")
        pg_app.customers.record_group_change(FAKE_CORP_ID, chat, "create", "zhang", chat, now)
    campaign_id, _ = campaign_groups.draft(pg_app, "周末", "staff:m",
                                           [("wrA", "zhang"), ("wrB", "zhang")], "周末见",
                                           "staff:m", now)
    assert running.wait("staff_directory", pg_app.recorder.max_notification_id() or 0, 10)
    assert running.wait("customer_group", pg_app.recorder.max_notification_id() or 0, 10)

    def plan() -> dict[str, str | None]:
        return {d.group_id: d.reason for d in campaign_groups.plan(
            pg_app, pg_app.campaigns.get(campaign_id), datetime.now(UTC))}

    assert plan() == {"wrA": None, "wrB": None}
    # When zhang sends wrA a mass message from the WeCom client, then into both groups
    # again (wrA is full: WeCom answers it status 3)
    first = groupmsg.member_send(fake.campaigns, "zhang", ["wrA"], "今晚直播", "group")
    assert first.statuses == {"wrA": 1}
    again = groupmsg.member_send(fake.campaigns, "zhang", ["wrA"], "再提醒", "group")
    assert again.statuses == {"wrA": 3}
    store = CampaignStore.connect(pg_url)
    with WeComCampaignGateway(fake_wecom.url, FAKE_CORP_ID, FAKE_CORP_SECRET) as gateway:
        deps = CampaignDeps(app=pg_app, store=store, gateway=gateway)
        try:
            # ... and the members' own sends are synced
            sync = WeComQuotaSync(deps, FAKE_CORP_ID)
            assert sync.run_once() == 2  # wrA sent, wrA full
            assert sync.run_once() == 0  # settled tasks are not read again
            # Then the campaign's plan excludes wrA for WeCom's quota, wrB is planned
            assert plan() == {"wrA": "WECOM_GROUP_QUOTA", "wrB": None}
            # And an SOP group step into wrA today is held by the same quota, wrB's not
            SopStore(store.pool)
            since, until, limit = wecom_quota_period(datetime.now(UTC), "day")
            quota = (since.date(), until.date(), limit)  # Beijing dates
            day = quota[0]
            with store.pool.connection() as conn, conn.transaction():
                assert claim_group(conn, uuid4(), 0, "wrA", day, uuid4(), now,
                                   quota) == "WECOM_GROUP_QUOTA"
                assert claim_group(conn, uuid4(), 0, "wrB", day, uuid4(), now, quota) is None
        finally:
            store.close()
