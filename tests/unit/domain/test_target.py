"""Targets: validation, grades with default and overridden thresholds, set/revise/remove."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from api.staff_kpis import KPIS
from application.app import Siyu
from domain.errors import UnknownStaff
from domain.target import (
    KPI_HIGHER_IS_BETTER,
    Grade,
    InvalidTarget,
    Target,
    UnknownTarget,
    achievement,
    grade,
    period_start,
    shown,
)

AT = datetime(2026, 11, 3, tzinfo=UTC)


def test_every_kpi_of_the_catalogue_can_have_a_target() -> None:
    assert set(KPI_HIGHER_IS_BETTER) == {k.name for k in KPIS}


def test_achievement_is_graded_missed_met_exceeded_at_100_and_120_percent_by_default() -> None:
    met, exceeded = Decimal("1.00"), Decimal("1.20")
    assert grade(achievement("gmv_fen", Decimal(100), Decimal(99)), met, exceeded) is Grade.MISSED
    assert grade(achievement("gmv_fen", Decimal(100), Decimal(100)), met, exceeded) is Grade.MET
    assert grade(achievement("gmv_fen", Decimal(100), Decimal(120)), met,
                 exceeded) is Grade.EXCEEDED
    assert grade(achievement("gmv_fen", Decimal(100), None), met, exceeded) is None


def test_where_less_is_better_the_ratio_is_target_over_actual_and_capped() -> None:
    # Given a target of at most 60 s median response
    assert achievement("first_response_median_s", Decimal(60), Decimal(120)) == Decimal("0.5")
    assert achievement("first_response_median_s", Decimal(60), Decimal(50)) == Decimal("1.2")
    assert achievement("refunds", Decimal(2), Decimal(0)) == Decimal(10)
    assert achievement("friends_new", Decimal(3), Decimal(1)) == Decimal(1) / Decimal(3)


def test_grades_are_decided_on_the_unrounded_ratio_and_only_the_display_rounds() -> None:
    # Given a ratio that rounds to 100.00 % but is below it
    ratio = achievement("gmv_fen", Decimal(100_000), Decimal(99_996))
    assert ratio is not None and shown(ratio) == Decimal("1.0000")
    # Then it is missed, not met
    assert grade(ratio, Decimal("1.00"), Decimal("1.20")) is Grade.MISSED


def test_overridden_thresholds_change_the_grade() -> None:
    ratio = achievement("orders_paid", Decimal(10), Decimal(9))
    assert grade(ratio, Decimal("0.9"), Decimal("1.5")) is Grade.MET


def test_periods_are_months_or_quarters_holding_the_day() -> None:
    assert period_start("month", date(2026, 11, 20)) == date(2026, 11, 1)
    assert period_start("quarter", date(2026, 11, 20)) == date(2026, 10, 1)
    with pytest.raises(InvalidTarget) as error:
        period_start("week", date(2026, 11, 20))
    assert error.value.field == "period"


@pytest.mark.parametrize(("kpi", "value", "met", "exceeded", "field"), [
    ("charisma", 1, None, None, "kpi"),
    ("gmv_fen", 0, None, None, "value"),
    ("gmv_fen", -5, None, None, "value"),
    ("gmv_fen", "NaN", None, None, "value"),
    ("conversion_rate", 2, None, None, "value"),
    ("gmv_fen", 10, 0, None, "metAt"),
    ("gmv_fen", 10, 1.5, 1.2, "exceededAt"),
])
def test_invalid_targets_are_refused_with_the_field_at_fault(
        kpi: str, value: object, met: float | None, exceeded: float | None, field: str) -> None:
    with pytest.raises(InvalidTarget) as error:
        Target.define("department", "front_office", "month", date(2026, 11, 1), kpi,
                      value, met, exceeded, False, "staff:m", AT)  # type: ignore[arg-type]
    assert (error.value.code, error.value.field) == ("INVALID_TARGET", field)


def test_a_target_is_set_revised_and_removed_with_who_and_when(
        memory_app: Siyu) -> None:
    # Given a staff member
    staff = memory_app.staff.hire("sales", "front_office", "A", "staff:m", AT)
    # When a manager sets, sets again (same), revises and removes a target
    tid, first = memory_app.targets.set("staff", str(staff), "month", date(2026, 11, 20),
                                       "friends_new", 30, "staff:m", AT)
    same_id, unchanged = memory_app.targets.set("staff", str(staff), "month", date(2026, 11, 1),
                                               "friends_new", 30, "staff:m", AT)
    _, revised = memory_app.targets.set("staff", str(staff), "month", date(2026, 11, 1),
                                       "friends_new", 40, "staff:m2", AT, trial=True)
    removed = memory_app.targets.remove(tid, "staff:m3", AT)
    # Then one target stream holds each fact, and re-setting restores it
    assert (same_id, unchanged) == (tid, None)
    assert first is not None and revised is not None and removed is not None
    events = list(memory_app.repository.event_store.get(tid))
    assert [type(e).__qualname__ for e in events] == ["Target.Set", "Target.Changed",
                                                      "Target.Removed"]
    assert [e.by for e in events] == ["staff:m", "staff:m2", "staff:m3"]  # type: ignore[attr-defined]
    assert memory_app.targets.remove(tid, "staff:m", AT) is None
    _, restored = memory_app.targets.set("staff", str(staff), "month", date(2026, 11, 1),
                                        "friends_new", 40, "staff:m", AT, trial=True)
    assert restored is not None


def test_targets_name_known_staff_and_known_targets(memory_app: Siyu) -> None:
    with pytest.raises(UnknownStaff):
        memory_app.targets.set("staff", "0a6f0000-0000-4000-8000-000000000009", "month",
                              date(2026, 11, 1), "gmv_fen", 100, "staff:m", AT)
    with pytest.raises(UnknownTarget):
        memory_app.targets.remove(Target.create_id("department", "front_office", "month",
                                                  "2026-11-01", "gmv_fen"), "staff:m", AT)
