"""Group campaigns in the domain: drafting, planning each group, outcomes once, the counts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.campaign import Campaign
from domain.campaign_groups import (
    OWNER_NOT_A_MEMBER,
    WECOM_GROUP_QUOTA,
    PersonalisedGroupText,
    draft_group_campaign,
    group_deliveries,
    group_report,
    launch_groups,
    open_tasks,
    plan_group,
    record_deliveries,
    record_outcomes,
    targeted,
)
from domain.errors import InvalidInput
from domain.restraint import Policy


def quota_free(at: datetime) -> bool:
    return False


def quota_full(at: datetime) -> bool:
    return True


#: Noon in Shanghai: out of the default quiet hours.
NOON = datetime(2026, 12, 8, 4, 0, tzinfo=UTC)
NIGHT = datetime(2026, 12, 8, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai


def campaign(groups: list[tuple[str, str]] | None = None) -> Campaign:
    return draft_group_campaign("会员日", "staff:m", groups or [("wrg1", "zhangsan"),
                                                               ("wrg2", "lisi")],
                                "本周六会员日", "staff:m", NOON)


def test_a_draft_targets_groups_with_their_owners_and_one_text() -> None:
    drafted = campaign()
    assert targeted(drafted) == [("wrg1", "zhangsan"), ("wrg2", "lisi")]
    with pytest.raises(PersonalisedGroupText):
        draft_group_campaign("x", "m", [("wrg1", "a")], "您有 {points_balance} 积分", "m", NOON)
    with pytest.raises(InvalidInput):
        draft_group_campaign("x", "m", [], "hi", "m", NOON)
    with pytest.raises(InvalidInput):
        draft_group_campaign("x", "m", [("bad id!", "a")], "hi", "m", NOON)


def test_each_group_is_planned_from_its_owner_or_excluded_with_a_reason() -> None:
    drafted = campaign()
    policy = Policy()
    sent = plan_group(drafted, policy, "wrg1", "zhangsan", True, quota_free, NOON)
    assert (sent.included, sent.sender, sent.send_at, sent.deferred) == (
        True, "zhangsan", NOON, False)
    left = plan_group(drafted, policy, "wrg2", "lisi", False, quota_free, NOON)
    assert (left.included, left.reason, left.sender) == (False, OWNER_NOT_A_MEMBER, None)
    full = plan_group(drafted, policy, "wrg1", "zhangsan", True, quota_full, NOON)
    assert (full.included, full.reason) == (False, WECOM_GROUP_QUOTA)
    night = plan_group(drafted, policy, "wrg1", "zhangsan", True, quota_free, NIGHT)
    assert night.included and night.deferred and night.send_at and night.send_at > NIGHT


def test_outcomes_are_recorded_once_per_planned_group_and_counted() -> None:
    drafted = campaign([("wrg1", "zhangsan"), ("wrg2", "zhangsan"), ("wrg3", "lisi")])
    policy = Policy()
    decisions = [plan_group(drafted, policy, "wrg1", "zhangsan", True, quota_free, NOON),
                 plan_group(drafted, policy, "wrg2", "zhangsan", True, quota_free, NOON),
                 plan_group(drafted, policy, "wrg3", "lisi", False, quota_free, NOON)]
    launch_groups(drafted, NOON, decisions, "staff:m", NOON)
    assert drafted.state == "running"
    assert record_outcomes(drafted, [("wrg1", "sent", "msg1"), ("wrg3", "sent", "x")],
                           NOON) == 1  # wrg3 was excluded: nothing to record
    assert record_outcomes(drafted, [("wrg1", "failed", "again"),
                                     ("wrg2", "unknown", "UNKNOWN")], NOON) == 1
    assert group_report(drafted) == {"planned": 2, "excluded": 1, "sent": 1, "failed": 0,
                                     "unknown": 1, "pending": 0, "delivered": 0,
                                     "already_received": 0, "expired": 0, "awaiting": 1}


def test_deliveries_are_recorded_once_for_sent_groups_and_close_their_task() -> None:
    # Given a campaign whose two groups went in one task of zhangsan's, a third failed
    drafted = campaign([("wrg1", "zhangsan"), ("wrg2", "zhangsan"), ("wrg3", "zhangsan")])
    policy = Policy()
    launch_groups(drafted, NOON, [plan_group(drafted, policy, g, "zhangsan", True, quota_free,
                                             NOON) for g in ("wrg1", "wrg2", "wrg3")],
                  "staff:m", NOON)
    record_outcomes(drafted, [("wrg1", "sent", "msg1"), ("wrg2", "sent", "msg1"),
                              ("wrg3", "failed", "REFUSED_BY_WECOM")], NOON)
    # Then the open task is that one, with both groups, from zhangsan
    [task] = open_tasks(drafted)
    assert (task.task_id, task.sender, task.groups, task.created_at) == (
        "msg1", "zhangsan", ("wrg1", "wrg2"), NOON)
    # When WeCom's results are recorded, twice, with a failed group and a bad status
    assert record_deliveries(drafted, [("wrg1", "delivered"), ("wrg3", "delivered"),
                                       ("wrg2", "nonsense")], "system", NOON) == 1
    assert record_deliveries(drafted, [("wrg1", "expired"), ("wrg2", "already_received")],
                             "system", NOON) == 1
    # Then each sent group has one delivery and the task is no longer open
    assert group_deliveries(drafted) == {"wrg1": "delivered", "wrg2": "already_received"}
    assert open_tasks(drafted) == []
    report = group_report(drafted)
    assert (report["delivered"], report["already_received"], report["awaiting"]) == (1, 1, 0)
