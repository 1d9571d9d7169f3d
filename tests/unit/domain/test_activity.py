"""An activity's plan is validated in the command; revisions replace it, cancelling ends it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from domain.activity import Activity, ActivityCancelled, ActivityPlan, check_plan
from domain.errors import InvalidInput

AT = datetime(2026, 12, 1, tzinfo=UTC)
PLAN = ActivityPlan("双十二", "promotion", AT, AT + timedelta(days=12), channels=("qr", "qr"),
                    campaign_ids=("0A6F0000-0000-4000-8000-000000000001",),
                    products=(" A ",), target_gmv_fen=1_000_000, target_users=100,
                    target_aov_fen=20_000)


def test_a_plan_is_normalised() -> None:
    plan = check_plan(PLAN)
    assert plan.channels == ("qr",)
    assert plan.campaign_ids == ("0a6f0000-0000-4000-8000-000000000001",)
    assert plan.products == ("A",)
    assert plan.steps == ("reach", "visit", "cart", "order", "pay")


@pytest.mark.parametrize(("change", "field"), [
    ({"kind": "party"}, "kind"),
    ({"ends_at": AT}, "endsAt"),
    ({"ends_at": AT + timedelta(days=400)}, "endsAt"),
    ({"starts_at": datetime(2026, 12, 1)}, "startsAt"),
    ({"steps": ("reach", "visit")}, "steps"),
    ({"steps": ("pay",)}, "steps"),
    ({"steps": ("pay", "reach")}, "steps"),
    ({"steps": ("reach", "jump", "pay")}, "steps"),
    ({"target_gmv_fen": 0}, "targetGmvFen"),
    ({"target_gmv_fen": 10**13}, "targetGmvFen"),
    ({"target_users": None}, "targetUsers"),
    ({"target_aov_fen": None}, "targetAovFen"),
    ({"target_users": 1}, "targetUsers"),  # 1 * 20,000 < 1,000,000: conversion above 1
    ({"campaign_ids": ("nope",)}, "campaignIds"),
    ({"channels": ("",)}, "channels"),
    ({"channels": tuple(f"c{i}" for i in range(51))}, "channels"),
    ({"name": "\x07"}, "name"),
], ids=lambda v: str(v)[:40])
def test_bad_plans_name_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_plan(replace(PLAN, **change))  # type: ignore[arg-type]
    assert refused.value.field == field


def test_a_subset_of_the_journey_in_order_is_a_plan() -> None:
    assert check_plan(replace(PLAN, steps=("visit", "order", "pay"))).steps == (
        "visit", "order", "pay")


def test_revise_records_only_changes_and_keeps_the_kind() -> None:
    activity = Activity.plan(PLAN, "staff:m", AT)
    assert activity.revise(PLAN, "staff:m", AT) is False
    assert activity.revise(replace(PLAN, name="双十二 2"), "staff:m", AT) is True
    assert activity.current.name == "双十二 2"
    with pytest.raises(InvalidInput):
        activity.revise(replace(PLAN, kind="quiz"), "staff:m", AT)
    assert [type(e).__name__ for e in activity.collect_events()] == ["Planned", "Revised"]


def test_a_cancelled_activity_cannot_be_revised() -> None:
    activity = Activity.plan(PLAN, "staff:m", AT)
    assert activity.cancel("停办", "staff:m", AT) is True
    assert activity.cancel("again", "staff:m", AT) is False
    with pytest.raises(ActivityCancelled):
        activity.revise(replace(PLAN, name="x"), "staff:m", AT)
