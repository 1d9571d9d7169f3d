"""The WeCom quota ledger from WeCom's truth, against the faithful fake: under the corp's rule
(here 1 mass message per customer per day), planning counts the platform's sends, the
status 3 WeCom reports on them, and the mass sends members made themselves in the WeCom
client, synced from ``get_groupmsg_list_v2``."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from adapters.campaign_client import WeComCampaignGateway
from application.app import Siyu
from application.campaign_launch import launch
from domain.ingestion import EventItem
from fakes import groupmsg
from fakes.wecom import FAKE_CORP_ID, FAKE_CORP_SECRET, RunningFakeWeCom
from projections.campaign_planning import PlanResult, plan_audience
from projections.runner import Tracker
from tests.integration.workers.test_campaign_sends_on_postgres import running  # noqa: F401
from workers.campaign_sending import CampaignDeps, send_chunk
from workers.campaign_store import CampaignStore
from workers.campaigns import CampaignDispatcher
from workers.mass_send_lifecycle import MassSendLifecycle
from workers.wecom_quota import WeComQuotaSync

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _plan(app: Siyu, campaign_id: UUID, now: datetime) -> dict[str, str | None]:
    campaign = app.campaigns.get(campaign_id)
    with app.factory.datastore.get_connection() as conn:  # type: ignore[attr-defined]
        result: PlanResult = plan_audience(conn, campaign.plan(), UUID(campaign.segment_id),
                                           app.campaigns.contact_policy(), now)
    names = {v: k for k, v in CUSTOMERS.items()}
    return {names[str(d.customer_id)]: d.reason for d in result.decisions}


CUSTOMERS: dict[str, str] = {}


def test_planning_counts_status_3_and_the_members_own_mass_sends_under_the_corps_rule(
        pg_app: Siyu, pg_url: str, running: Tracker,  # noqa: F811
        fake_wecom: RunningFakeWeCom) -> None:
    # Given a corp whose WeCom allows 1 mass message per customer per day — in WeCom (the
    # fake) and in the platform's contact policy — and a noon in Beijing to work at
    fake = fake_wecom.state.campaigns
    fake.configure(quota_rule="day")
    noon = (datetime.now(UTC) + timedelta(days=1)).replace(hour=4, minute=0, second=0,
                                                             microsecond=0)
    fake.advance(noon.timestamp() - time.time())
    before = datetime.now(UTC) - timedelta(minutes=5)
    # (the platform's own caps out of the way: only WeCom's quota applies)
    no_caps = {"wecom_mass": {"day": None, "week": None, "month": None}}
    pg_app.campaigns.change_contact_policy(no_caps, "day", "00:00", "00:00", "staff:m", before)
    # ... three friends of member A (UserID m-a)
    a = pg_app.staff.hire("sales", "front_office", "王芳", "staff:m", before,
                          wecom_user_id="m-a")
    results = pg_app.ingestion.record_batch(
        [EventItem(f"q{n}", "FRIEND_ADDED", (f"wecom_external:{FAKE_CORP_ID}", f"wmq{n}"),
                   before, channel="qr", staff_id=str(a)) for n in range(3)], "service:test")
    CUSTOMERS.update({f"q{o.index}": str(o.customer_id) for o in results.outcomes})
    segment_id, _ = pg_app.segments.define("friends", "", {"isFriend": True}, "staff:m",
                                           before)
    first, _ = pg_app.campaigns.draft("one", "staff:m", "wecom_mass", segment_id,
                                      [{"variant_id": "a", "text": "上新了"}], "staff:m", before)
    second, _ = pg_app.campaigns.draft("two", "staff:m", "wecom_mass", segment_id,
                                       [{"variant_id": "a", "text": "再上新"}], "staff:m", before)
    # ... and member A sent q0 and q1 a mass message from the WeCom client before noon
    groupmsg.member_send(fake, "m-a", ["wmq0", "wmq1"], "周末见")
    assert running.wait("customer_profile", pg_app.recorder.max_notification_id() or 0, 10)
    clock = Clock(noon)
    store = CampaignStore.connect(pg_url)
    gateway = WeComCampaignGateway(fake_wecom.url, FAKE_CORP_ID, FAKE_CORP_SECRET)
    deps = CampaignDeps(app=pg_app, store=store, gateway=gateway, clock=clock)
    try:
        # When the first campaign is planned before anything was synced from WeCom
        _, plan = launch(pg_app, running, first, "staff:m", noon)
        # Then the platform knows of nothing: all three are planned
        assert len(plan.included) == 3
        messages: list[tuple[str, int, list[str]]] = []
        CampaignDispatcher(store, lambda c, s, i: messages.append((c, s, i)),
                           clock=clock).run_once()
        for c, s, i in messages:
            send_chunk(deps, UUID(c), s, [UUID(x) for x in i])
        # When A confirms the task: WeCom (the fake) applies its rule — q0 and q1 had
        # today's message already (status 3), q2 gets it
        [task] = [t for t in fake.tasks() if t["text"] == "上新了"]
        assert fake.confirm(str(task["msgid"])).statuses == {"wmq0": 3, "wmq1": 3, "wmq2": 1}
        assert sorted(r.recipient for r in fake.receipts(msgid=str(task["msgid"]))) == ["wmq2"]
        assert running.wait("campaign", pg_app.recorder.max_notification_id() or 0, 10)
        assert MassSendLifecycle(deps).run_once() == 3
        assert running.wait("campaign", pg_app.recorder.max_notification_id() or 0, 10)
        # Then the second campaign, an hour later, excludes all three: q0 and q1 because
        # WeCom said their day was full, q2 because the platform's send reached them
        clock.now = noon + timedelta(hours=1)
        assert _plan(pg_app, second, clock.now) == dict.fromkeys(("q0", "q1", "q2"),
                                                                 "WECOM_QUOTA")
        # When, the next day, A sends q2 a mass message from the WeCom client, and the
        # members' own sends are synced
        fake.advance(86_400)
        clock.now = noon + timedelta(days=1)
        groupmsg.member_send(fake, "m-a", ["wmq2"], "明天见")
        sync = WeComQuotaSync(deps, FAKE_CORP_ID)
        assert sync.run_once() == 3  # q0 and q1 yesterday, q2 today
        assert sync.run_once() == 0  # settled tasks are not read again
        # Then q2 is excluded today (only the sync told), q0 and q1 are free again
        clock.now = noon + timedelta(days=1, hours=1)
        assert _plan(pg_app, second, clock.now) == {"q0": None, "q1": None,
                                                    "q2": "WECOM_QUOTA"}
    finally:
        gateway.close()
        store.close()
