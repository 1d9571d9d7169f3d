"""A customer's state at an instant of business time, folded without a database: which
events count, backfills, owner, and checkpoints that change no answer."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.customer import Customer
from projections.customer_as_of import fold, row_at
from projections.customer_as_of.fold import fold_at
from projections.customer_profile import apply

AT = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


def day(n: float) -> datetime:
    return AT + timedelta(days=n)


def events_of(customer: Customer) -> list[tuple[int, Any]]:
    return list(enumerate(customer.collect_events(), start=1))


def test_only_events_dated_at_or_before_the_instant_count_even_when_recorded_later() -> None:
    # Given a customer tagged VIP on the 5th, untagged on the 20th, and an import recorded
    # after both that says they were tagged 宝妈 on the 3rd (a backfill)
    customer = Customer(first_channel="qr", by="system", occurred_at=day(0))
    customer.add_friend("s1", "qr", None, None, "service:wecom", day(0))
    customer.tag("VIP", "staff:s1", day(4))
    customer.untag("VIP", "staff:s1", day(19))
    customer.tag("宝妈", "service:import", day(2))
    events = events_of(customer)
    # Then each instant sees the events dated by then, whenever they were recorded
    def tags(at: datetime) -> list[str]:
        state = fold_at(None, events, at)
        assert state is not None
        return list(state["tags"])
    assert tags(day(1)) == []
    assert tags(day(3)) == ["宝妈"]
    assert tags(day(10)) == ["VIP", "宝妈"]
    assert tags(day(25)) == ["宝妈"]
    # and nothing existed before the first event
    assert fold_at(None, events, day(-1)) is None


def test_after_every_event_the_state_is_the_live_profile_with_its_owner() -> None:
    customer = Customer(first_channel="h5", by="system", occurred_at=day(0))
    customer.add_friend("s1", "qr", None, None, "service:wecom", day(1))
    customer.give_consent("marketing", "v2", "customer:self", day(2))
    customer.pay_order("o1", 3_000, [], "h5", "service:mall", day(3))
    customer.hand_over("s1", "s2", "reassignment", "h-1", "staff:m", day(4))
    events = events_of(customer)
    live: dict[str, Any] | None = None
    for position, event in events:
        live = apply(live, event, position)
    state = fold_at(None, events, day(30))
    assert state is not None and live is not None
    assert {k: v for k, v in state.items() if k not in ("owner", "through_at")} == live
    assert state["owner"] == "s2" and state["through_at"] == day(4)
    assert fold_at(None, events, day(3.5))["owner"] == "s1"  # type: ignore[index]
    # and what the profile view computes at read time is computed at the instant
    row = row_at(state, day(5))
    assert (row["lifecycle"], row["average_order_fen"], row["frequency_score"]) == (
        "ACTIVE", 3_000, 1)
    assert row_at(state, day(60))["lifecycle"] == "SILENT"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_starting_from_a_checkpoint_whose_events_all_count_changes_no_answer(seed: int) -> None:
    # Given 300 events dated in random order (imports interleaved with live events)
    rng = random.Random(seed)
    customer = Customer(first_channel="qr", by="system", occurred_at=day(0))
    for n in range(300):
        at = day(rng.uniform(0, 60))
        if n % 3:
            customer.view_content(f"c{n % 5}", "h5", "customer:self", at)
        elif n % 2:
            customer.tag(f"t{n % 4}", "staff:s1", at)
        else:
            customer.untag(f"t{n % 4}", "staff:s1", at)
    events = events_of(customer)
    for cut in (50, 150, 250):
        checkpoint: dict[str, Any] | None = None
        for position, event in events[:cut]:
            checkpoint = fold(checkpoint, event, position)
        assert checkpoint is not None
        for at in (day(10), day(45), checkpoint["through_at"], day(61)):
            if checkpoint["through_at"] > at:
                continue  # not usable at this instant
            assert fold_at(checkpoint, events[cut:], at) == fold_at(None, events, at)


@pytest.mark.parametrize("seed", [4, 5])
def test_paid_orders_stay_newest_first_in_the_order_a_stable_sort_gives(seed: int) -> None:
    # Given orders paid in random business order, some at the same instant
    rng = random.Random(seed)
    customer = Customer(first_channel="h5", by="system", occurred_at=day(0))
    paid = []
    for n in range(200):
        at = day(rng.randrange(30))
        customer.pay_order(f"o{n}", n, [], "h5", "service:mall", at)
        paid.append((at, n))
    state: dict[str, Any] | None = None
    for position, event in events_of(customer):
        state = fold(state, event, position)
    # Then times and amounts are what re-sorting every pair after each order kept
    assert state is not None
    expected = sorted(paid, key=lambda p: p[0], reverse=True)
    assert list(zip(state["order_times"], state["order_amounts"], strict=True)) == expected
