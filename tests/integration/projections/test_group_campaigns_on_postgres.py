"""The campaign read model of campaigns into customer groups on PostgreSQL: counts in groups
recomputed from the raw events, the message class, rebuild == live."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from application import campaign_groups
from application.app import Siyu
from domain.campaign import Campaign
from domain.campaign_groups import GroupDecision, launch_groups
from projections.campaigns.view import CampaignView
from projections.runner import BatchRunner, Tracker

pytestmark = pytest.mark.integration

AT = datetime(2026, 12, 1, 4, tzinfo=UTC)


def rows(app: Siyu) -> list[dict[str, Any]]:
    with app.factory.datastore.transaction() as curs:  # type: ignore[attr-defined]
        curs.execute("SELECT * FROM campaign ORDER BY campaign_id")
        return [dict(r) for r in curs.fetchall()]


def test_group_counts_and_message_class_rebuild_to_the_live_rows(pg_app: Siyu) -> None:
    runner = BatchRunner(pg_app, CampaignView(),
                         Tracker(pg_app.factory.datastore),  # type: ignore[attr-defined]
                         page_size=2)
    # Given a marketing group campaign to three groups (one excluded) whose two messages
    # were recorded over two passes (one sent, one unknown), and a service one in draft
    groups = [("wrg1", "zhangsan"), ("wrg2", "zhangsan"), ("wrg3", "lisi")]
    marketing, _ = campaign_groups.draft(pg_app, "会员日", "staff:m", groups, "本周六会员日",
                                         "staff:m", AT)
    service, _ = campaign_groups.draft(pg_app, "售后", "staff:m", groups[:1], "售后服务指南",
                                       "staff:m", AT, message_class="service",
                                       service_reason="after_sales",
                                       service_reference="notice-12")
    decisions = [GroupDecision("wrg1", "zhangsan", True, None, AT),
                 GroupDecision("wrg2", "zhangsan", True, None, AT),
                 GroupDecision("wrg3", "lisi", False, "OWNER_NOT_A_MEMBER")]
    store = pg_app.campaigns.store
    drafted = store.find(marketing, Campaign)
    assert drafted is not None
    store.transact(Campaign, lambda u: launch_groups(u.add(drafted), AT, decisions,
                                                     "staff:m", AT))
    campaign_groups.record(pg_app, marketing, [("wrg1", "sent", "msg1")], AT)
    campaign_groups.record(pg_app, marketing, [("wrg1", "sent", "msg1"),
                                               ("wrg2", "unknown", "UNKNOWN")], AT)
    pg_app.campaigns.complete(marketing, "system", AT)
    # When the view follows the log page by page, then is rebuilt
    runner.catch_up()
    live = rows(pg_app)
    runner.rebuild()
    assert rows(pg_app) == live
    # Then the counts are the groups', as the raw events say
    recorded = [pg_app.mapper.to_domain_event(n)
                for n in pg_app.recorder.select_notifications(1, 10_000)
                if n.topic.endswith(":GroupMessagesRecorded")]
    outcomes = [o for e in recorded if e.originator_id == marketing
                for o in e.outcomes]  # type: ignore[attr-defined]
    by = {r["campaign_id"]: r for r in live}
    assert (by[marketing]["audience"], by[marketing]["included"], by[marketing]["excluded"]) \
        == (3, 2, {"OWNER_NOT_A_MEMBER": 1})
    assert (by[marketing]["sent"], by[marketing]["failed"]) == (
        sum(o[1] == "sent" for o in outcomes), sum(o[1] != "sent" for o in outcomes)) == (1, 1)
    assert by[marketing]["state"] == "completed"
    assert (by[marketing]["message_class"], by[service]["message_class"]) == (
        "marketing", "service")
