"""Working time: waits measured while the staff are on duty."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.working_time import (
    ALWAYS,
    SHANGHAI,
    InvalidWorkingHours,
    Week,
    parse_week,
    working_seconds,
)

EVERY_DAY = {day: [("09:00", "21:00")] for day in
             ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")}
OFFICE = {day: [("09:00", "12:00"), ("13:00", "18:00")] for day in
          ("monday", "tuesday", "wednesday", "thursday", "friday")}
MONDAY = datetime(2026, 11, 30, tzinfo=SHANGHAI)  # a Monday, midnight in Shanghai
H = timedelta(hours=1)
M = timedelta(minutes=1)


def test_without_working_hours_every_second_counts() -> None:
    assert working_seconds([], MONDAY, MONDAY + 3 * H + 5 * M) == 3 * 3600 + 300
    assert working_seconds([], MONDAY + H, MONDAY) == 0


def test_a_message_at_night_waits_only_from_the_next_working_morning() -> None:
    # Given 09:00-21:00 every day since long ago
    schedule = [(MONDAY - timedelta(days=30), parse_week(EVERY_DAY))]
    # When a customer writes at 23:00 and is answered at 09:05 next morning
    asked, answered = MONDAY + 23 * H, MONDAY + 33 * H + 5 * M
    # Then the wait is five working minutes
    assert working_seconds(schedule, asked, answered) == 300


def test_lunch_breaks_and_weekends_do_not_count() -> None:
    schedule = [(MONDAY - timedelta(days=30), parse_week(OFFICE))]
    # Friday 17:30 → Monday 09:30: 30 minutes on Friday, 30 on Monday
    friday = MONDAY - timedelta(days=3)
    assert working_seconds(schedule, friday + 17 * H + 30 * M, MONDAY + 9 * H + 30 * M) == 3600
    # 11:50 → 13:10 the same day: 10 + 10 minutes
    assert working_seconds(schedule, MONDAY + 11 * H + 50 * M, MONDAY + 13 * H + 10 * M) == 1200


def test_a_change_of_hours_counts_from_when_it_is_in_force() -> None:
    # Given always-on until Monday 12:00, then 09:00-21:00 — a wait from 06:00 to 22:00
    schedule = [(MONDAY + 12 * H, parse_week(EVERY_DAY))]
    # Then 06:00-12:00 counts whole (6 h) and 12:00-21:00 as working time (9 h)
    assert working_seconds(schedule, MONDAY + 6 * H, MONDAY + 22 * H) == 15 * 3600


def test_sub_second_waits_are_floored_to_whole_seconds() -> None:
    start = MONDAY + 10 * H + timedelta(microseconds=600_000)
    assert working_seconds([], start, start + timedelta(seconds=1, microseconds=500_000)) == 1


@pytest.mark.parametrize(("days", "field"), [
    ({"funday": [("09:00", "10:00")]}, "funday"),
    ({"monday": [("9am", "10:00")]}, "monday[0].start"),
    ({"monday": [("10:00", "09:00")]}, "monday[0].end"),
    ({"monday": [("09:00", "12:00"), ("11:00", "13:00")]}, "monday"),
    ({"monday": [("09:00:30", "12:00")]}, "monday[0].start"),
    ({}, "monday"),
])
def test_bad_working_hours_are_refused_with_the_field_at_fault(
        days: dict[str, list[tuple[str, str]]], field: str) -> None:
    with pytest.raises(InvalidWorkingHours) as refused:
        parse_week(days)
    assert refused.value.field == field
    assert refused.value.code == "INVALID_WORKING_HOURS"


def test_a_week_round_trips_through_json_and_reads_back_as_text() -> None:
    week = parse_week({"monday": [("13:00", "24:00"), ("08:30", "12:00")]})
    assert Week.from_json(week.to_json()) == week
    assert week.describe()["monday"] == ["08:30-12:00", "13:00-24:00"]
    assert week.describe()["sunday"] == []
    assert ALWAYS.describe()["friday"] == ["00:00-24:00"]


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 14 * 24 * 60), st.integers(0, 4 * 24 * 60), st.integers(0, 59))
def test_working_time_never_exceeds_elapsed_time(start_min: int, length_min: int,
                                                 seconds: int) -> None:
    schedule = [(MONDAY + 36 * H, parse_week(OFFICE)), (MONDAY + 100 * H, parse_week(EVERY_DAY))]
    start = MONDAY + start_min * M
    end = start + length_min * M + timedelta(seconds=seconds)
    assert 0 <= working_seconds(schedule, start, end) <= int((end - start).total_seconds())
