"""The periods' row logic without a database: staff assignments and customer ownership."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.customer import Customer
from domain.staff import Staff
from projections.organisation import assignment_periods, owner_at, ownership_periods

AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


Fold = Callable[[Sequence[dict[str, Any]], Any, int], list[dict[str, Any]]]


def fold(events: Sequence[Any], fn: Fold) -> list[dict[str, Any]]:
    periods: list[dict[str, Any]] = []
    for position, event in enumerate(events, start=1):
        periods = fn(periods, event, position)
    return periods


def test_a_staff_members_moves_and_role_changes_become_consecutive_periods() -> None:
    # Given a hire, a move, a role change and the leaving
    staff = Staff.hire("sales", "front_office", "staff:m", AT)
    staff.move("middle_office", "staff:m", AT + DAY)
    staff.change_role("user_operator", "staff:m", AT + 2 * DAY)
    staff.leave("staff:m", AT + 3 * DAY)
    # When they are folded
    periods = fold(list(staff.collect_events()), assignment_periods)
    # Then there are three closed periods, each starting where the previous ended
    assert [(p["department"], p["role"], p["reason"], p["ended_reason"]) for p in periods] == [
        ("front_office", "sales", "hired", "moved"),
        ("middle_office", "sales", "moved", "role_changed"),
        ("middle_office", "user_operator", "role_changed", "left")]
    assert [(p["since"], p["until"]) for p in periods] == [
        (AT, AT + DAY), (AT + DAY, AT + 2 * DAY), (AT + 2 * DAY, AT + 3 * DAY)]


def test_folding_an_event_twice_changes_nothing() -> None:
    staff = Staff.hire("sales", "front_office", "staff:m", AT)
    staff.move("middle_office", "staff:m", AT + DAY)
    events = list(staff.collect_events())
    once = fold(events, assignment_periods)
    assert fold([*events, events[1]], assignment_periods) == once


def test_ownership_periods_answer_who_owned_the_customer_at_a_time() -> None:
    # Given A owns the customer from the first friend add, then a handover to B
    customer = Customer(first_channel="qr", by="system", occurred_at=AT)
    customer.add_friend("A", "qr", None, None, "service:wecom", AT)
    customer.hand_over("A", "B", "reassignment", "h1", "staff:m", AT + DAY)
    periods = fold(list(customer.collect_events()), ownership_periods)
    # Then A owned it before the handover, B from then on, nobody before the first add
    assert [p["staff_id"] for p in periods] == ["A", "B"]
    assert owner_at(periods, AT - DAY) is None
    assert owner_at(periods, AT + DAY / 2) == "A"
    assert owner_at(periods, AT + DAY) == "B" and owner_at(periods, AT + 9 * DAY) == "B"
    assert periods[1]["handover_id"] == "h1" and periods[0]["ended_reason"] == "reassignment"


def test_a_change_dated_before_the_open_period_does_not_overlap_it() -> None:
    # Given a first friend add dated after the handover's business time (clock skew)
    customer = Customer(first_channel="qr", by="system", occurred_at=AT)
    customer.add_friend("A", "qr", None, None, "service:wecom", AT + DAY)
    customer.hand_over("A", "B", "resignation", "h1", "staff:m", AT)
    periods = fold(list(customer.collect_events()), ownership_periods)
    # Then A's period is empty and B's starts where A's began
    assert [(p["since"], p["until"]) for p in periods] == [(AT + DAY, AT + DAY), (AT + DAY, None)]
