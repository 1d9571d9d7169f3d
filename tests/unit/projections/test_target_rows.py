"""staff_target rows: set, changed, removed, restored; a replayed event changes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from domain.target import Target
from projections.targets import apply, period_end

AT = datetime(2026, 11, 3, tzinfo=UTC)


def test_rows_follow_set_change_and_removal_and_ignore_replays() -> None:
    target = Target.define("department", "front_office", "quarter", date(2026, 11, 20),
                           "gmv_fen", 1000, None, None, False, "staff:m", AT)
    target.revise(2000, Decimal("0.9"), None, True, "staff:n", AT)
    target.remove("staff:o", AT)
    set_, changed, removed = target.collect_events()
    row = apply(None, set_, 1)
    assert row is not None
    assert (row["period_start"], row["period_end"], row["value"]) == (
        date(2026, 10, 1), date(2026, 12, 31), 1000)
    row = apply(row, changed, 2)
    assert row is not None and (row["value"], row["trial"], row["updated_by"]) == (
        2000, True, "staff:n")
    assert apply(row, changed, 2) == row
    row = apply(row, removed, 3)
    assert row is not None and (row["removed_at"], row["removed_by"]) == (AT, "staff:o")


def test_period_ends_are_the_last_day_of_the_month_or_quarter() -> None:
    assert period_end("month", date(2026, 12, 1)) == date(2026, 12, 31)
    assert period_end("month", date(2028, 2, 1)) == date(2028, 2, 29)
    assert period_end("quarter", date(2026, 10, 1)) == date(2026, 12, 31)
