"""The membership engine re-asks a rule only when an event may change its answer."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.customer import Customer
from domain.segment_rules import Rule, parse_rule
from projections.customer_profile import apply
from projections.segments.engine import (
    Cause,
    LedgerEntry,
    Memberships,
    SegmentEngine,
    Spec,
    key,
    new_cause,
    new_entry,
)
from projections.segments.evaluation import COLUMNS, WINDOWS, windows
from projections.segments.fresh import REGISTERED
from tests.support.segment_support import random_customer, rules

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
Row = dict[str, Any]


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def cause(position: int = 1) -> Cause:
    return Cause("EVENT", position, "Customer.ContentViewed")


class Counted:
    """A spec whose evaluations are counted."""

    def __init__(self, rule: dict[str, Any]) -> None:
        spec = Spec.of(uuid4(), 1, parse_rule(rule))
        inner = spec.check
        assert inner is not None
        self.calls = 0

        def check(row: Row, at: datetime) -> tuple[bool, datetime | None]:
            self.calls += 1
            return inner(row, at)
        self.spec = replace(spec, check=check)


def rows_of(customer: Customer) -> list[tuple[Any, Row | None, Row]]:
    """(event, row before, row after) for each event that changed the row."""
    out: list[tuple[Any, Row | None, Row]] = []
    row: Row | None = None
    for position, event in enumerate(customer.collect_events(), start=1):
        new = apply(row, event, position)
        assert new is not None
        if new is not row:
            out.append((event, row, new))
        row = new
    return out


def viewed(customer: Customer, at: datetime) -> None:
    customer.view_content("c", "h5", "service:test", at)


def test_an_interaction_that_flips_no_window_re_asks_no_rule_reading_only_the_last_interaction(
) -> None:
    # Given a customer first seen on day 0, active within 7 days, not 30 days inactive
    active, inactive = Counted({"activeWithinDays": 7}), Counted({"inactiveDays": 30})
    state = Memberships()
    engine = SegmentEngine([active.spec, inactive.spec], state)
    customer = Customer(first_channel="qr", by="service:test", occurred_at=day(0))
    viewed(customer, day(1))
    viewed(customer, day(2))
    (_, none, registered), (_, _, first), (_, _, second) = rows_of(customer)
    cid = registered["customer_id"]
    engine.customer_changed(cid, none, registered, day(0), cause())
    assert (active.calls, inactive.calls) == (1, 1)
    # When views move the last interaction later, flipping neither window at their instants
    engine.customer_changed(cid, registered, first, day(1), cause(2))
    engine.customer_changed(cid, first, second, day(2), cause(3))
    # Then neither rule is asked again, and the member and check are those asking gives
    assert (active.calls, inactive.calls) == (1, 1)
    assert set(state.members) == {key(active.spec.segment_id, cid)}
    assert state.checks == {key(active.spec.segment_id, cid): day(7),
                            key(inactive.spec.segment_id, cid): day(30)}


def test_an_interaction_after_a_silence_flips_the_window_and_the_customer_enters() -> None:
    # Given a customer silent since day 0, evaluated on day 10 (a tick let them out)
    active = Counted({"activeWithinDays": 7})
    state = Memberships()
    engine = SegmentEngine([active.spec], state)
    customer = Customer(first_channel="qr", by="service:test", occurred_at=day(0))
    viewed(customer, day(10))
    (_, none, registered), (_, _, back) = rows_of(customer)
    cid = registered["customer_id"]
    engine.customer_changed(cid, none, registered, day(0), cause())
    engine.due({cid: registered}, [key(active.spec.segment_id, cid)], day(10),
               Cause("TICK", 2, "Tick.Struck"))
    assert not state.members and active.calls == 2
    # When they view content on day 10
    engine.customer_changed(cid, registered, back, day(10), cause(3))
    # Then the rule is asked again and they enter, until day 17
    assert active.calls == 3
    assert set(state.members) == {key(active.spec.segment_id, cid)}
    assert state.entries[-1].change == "ENTERED" and state.entries[-1].cause.position == 3
    assert state.checks == {key(active.spec.segment_id, cid): day(17)}


def test_a_check_already_due_is_answered_by_the_next_interaction_as_before() -> None:
    # Given a customer active within 7 days from day 0, no tick since day 7 passed
    active = Counted({"activeWithinDays": 7})
    state = Memberships()
    engine = SegmentEngine([active.spec], state)
    customer = Customer(first_channel="qr", by="service:test", occurred_at=day(0))
    viewed(customer, day(1))  # recorded late: its window ended on day 8
    (_, none, registered), (_, _, late) = rows_of(customer)
    cid = registered["customer_id"]
    engine.customer_changed(cid, none, registered, day(0), cause())
    # When a view that happened on day 1 arrives on day 9 (no window flips at day 9)
    engine.customer_changed(cid, registered, late, day(9), cause(2))
    # Then the rule is asked (its check of day 7 was due): the customer leaves at the event
    assert active.calls == 2
    assert not state.members and state.entries[-1].change == "EXITED"
    assert state.entries[-1].cause.position == 2 and not state.checks


def registration(channel: str, at: datetime) -> tuple[UUID, Row]:
    (_, _, row), = rows_of(Customer(first_channel=channel, by="service:test", occurred_at=at))
    return row["customer_id"], row


def test_a_registration_asks_only_the_rules_reading_what_a_registration_fills() -> None:
    # Given rules on blank columns (one holding for a new customer), one on the last
    # interaction and one on the first channel, in an engine that has seen one registration
    tagged, unfriended = Counted({"tagIn": ["vip"]}), Counted({"not": {"isFriend": True}})
    active, joined = Counted({"activeWithinDays": 7}), Counted({"joinedVia": "qr"})
    state = Memberships()
    specs = [tagged.spec, active.spec, unfriended.spec, joined.spec]
    engine, asking = SegmentEngine(specs, state), AskingEveryRule(specs, Memberships())
    for n, (channel, at) in enumerate([("qr", day(0)), ("mall", day(3)), ("h5", day(20))]):
        cid, row = registration(channel, at)
        # When customers register, each an hour after first sight
        for each in (engine, asking):
            each.customer_changed(cid, None, row, at + timedelta(hours=1), cause(n))
    # Then the blank columns' rules were asked once per engine, the window's once per
    # distance from first sight (one here), the channel's per customer; and the ledger,
    # members and checks are those of asking every rule
    assert (tagged.calls, unfriended.calls) == (1 + 3, 1 + 3)  # the engine's, asking's
    assert active.calls == 1 + 3
    assert joined.calls == 3 + 3
    assert state.entries == asking.state.entries and len(state.entries) == 7
    assert state.members == asking.state.members and state.checks == asking.state.checks


def test_a_window_is_asked_once_per_span_its_distance_from_first_sight_falls_between() -> None:
    # Given window and lifecycle rules (spans 7, 14, 30 days) and a composite on them
    rules_: list[dict[str, Any]] = [
        {"activeWithinDays": 7}, {"inactiveDays": 14}, {"lifecycle": "NEW"},
        {"lifecycle": "SILENT"},
        {"all": [{"not": {"inactiveDays": 30}}, {"not": {"isFriend": True}}]}]
    counted = [Counted(r) for r in rules_]
    specs = [c.spec for c in counted]
    engine, asking = SegmentEngine(specs, Memberships()), AskingEveryRule(specs, Memberships())
    # When customers register 1 hour, 2, 6.9, 7, 13, 14, 29 and 31 days after first sight
    distances = [timedelta(hours=1), timedelta(days=2), timedelta(days=6.9), timedelta(days=7),
                 timedelta(days=13), timedelta(days=14), timedelta(days=29),
                 timedelta(days=31)]
    for n, distance in enumerate(distances):
        cid, row = registration("qr", day(n))
        for each in (engine, asking):
            each.customer_changed(cid, None, row, day(n) + distance, cause(n))
    # Then each rule was asked once per bucket of the distance among the spans (below 7
    # days, 7 to 14, 14 to 30, 30 and more), and the answers are those of asking
    # (a lifecycle rule is computed, not checked: not counted)
    assert [c.calls for c in counted] == [4 + 8, 4 + 8, 0, 0, 4 + 8]
    assert engine.state.entries == asking.state.entries
    assert engine.state.members == asking.state.members
    assert engine.state.checks == asking.state.checks
    assert {e.customer_id for e in engine.state.entries}  # some entered


def test_a_new_row_with_a_stale_membership_or_check_is_asked_every_rule() -> None:
    # Given an engine that has seen one registration, and a customer holding a membership
    # of a rule a new row fails, and a check of another
    tagged, grouped = Counted({"tagIn": ["vip"]}), Counted({"inGroup": "grp0"})
    engine = SegmentEngine([tagged.spec, grouped.spec], Memberships())
    first, row = registration("qr", day(0))
    engine.customer_changed(first, None, row, day(0), cause())
    cid, row = registration("qr", day(1))
    engine.state.members[key(tagged.spec.segment_id, cid)] = 1
    engine.state.checks[key(grouped.spec.segment_id, cid)] = day(5)
    # When the customer's new row comes
    engine.customer_changed(cid, None, row, day(1), cause(2))
    # Then both rules are asked: the customer leaves the one, the check is cleared
    assert (tagged.calls, grouped.calls) == (2, 2)
    assert [(e.customer_id, e.change) for e in engine.state.entries] == [(cid, "EXITED")]
    assert not engine.state.checks and not engine.state.members


def test_a_new_row_unlike_the_first_or_earlier_than_it_is_asked_every_rule() -> None:
    # Given an engine that has seen one registration on day 10
    tagged = Counted({"tagIn": ["vip"]})
    engine = SegmentEngine([tagged.spec], Memberships())
    cid, row = registration("qr", day(0))
    engine.customer_changed(cid, None, row, day(10), cause())
    # When a new row already tagged, then a plain one evaluated on day 9, come
    cid, row = registration("qr", day(0))
    engine.customer_changed(cid, None, {**row, "tags": ["vip"]}, day(11), cause(2))
    late, row = registration("qr", day(0))
    engine.customer_changed(late, None, row, day(9), cause(3))
    # Then the rule is asked for each (the tagged customer enters)
    assert tagged.calls == 3
    assert [(e.customer_id, e.change) for e in engine.state.entries] == [(cid, "ENTERED")]


def test_a_registration_fills_no_column_a_rule_reads_but_those_named_registered() -> None:
    # Given two customers registered through different channels at different times
    _, one = registration("qr", day(0))
    _, other = registration("mall:shop-2", day(40))
    # Then every column a rule reads holds the same value in both rows, but the named ones
    read = frozenset().union(*map(frozenset, COLUMNS.values()))
    assert read >= REGISTERED
    assert {c for c in read if one[c] != other[c]} == REGISTERED


def test_every_predicate_reading_the_last_interaction_reads_it_through_a_window() -> None:
    assert {n for n, cs in COLUMNS.items() if "last_interaction_at" in cs} == set(WINDOWS)
    assert windows(parse_rule({"all": [{"lifecycle": "SILENT"}, {"not": {"inactiveDays": 3}},
                                       {"tagIn": ["vip"]}]})) == {timedelta(days=30),
                                                                  timedelta(days=3)}


def test_causes_and_entries_made_in_c_are_those_of_their_fields_in_order() -> None:
    # Given the fields the fold and the engine give, in order
    cid, segment = uuid4(), uuid4()
    made = new_cause(("EVENT", 3, "Customer.Tagged", False, day(1)))
    entry = new_entry((segment, 2, cid, "ENTERED", day(2), made))
    # Then they are the named tuples of those fields
    assert made == Cause("EVENT", 3, "Customer.Tagged", occurred_at=day(1))
    assert type(made) is Cause and made.occurred_at == day(1) and not made.backfilled
    assert type(entry) is LedgerEntry and entry == LedgerEntry(segment, 2, cid, "ENTERED",
                                                                day(2), made)
    assert Cause._fields == ("kind", "position", "event_type", "backfilled", "occurred_at")
    assert LedgerEntry._fields == ("segment_id", "rule_version", "customer_id", "change", "at",
                                   "cause")


class AskingEveryRule(SegmentEngine):
    """The engine before windows and fresh rows' answers: every rule reading a changed
    column is asked, every rule for a new row."""

    def customer_changed(self, customer_id: UUID, old: Row | None, new: Row | None,
                         at: datetime, cause: Cause) -> None:
        if old is None or new is None:
            for spec in self.specs:
                self.assess(spec, customer_id, new, at, cause)
            return
        changed = {c for c in self.watched if old.get(c) != new.get(c)}
        for spec in self.specs:
            if not spec.columns.isdisjoint(changed):
                self.assess(spec, customer_id, new, at, cause)


def tick(engine: SegmentEngine, rows: dict[UUID, Row], at: datetime, position: int) -> None:
    due = sorted((check, key) for key, check in engine.state.checks.items() if check <= at)
    engine.due(rows, [key for _, key in due], at, Cause("TICK", position, "Tick.Struck"))


@settings(max_examples=300, deadline=None)
@given(chosen=st.lists(rules, min_size=1, max_size=4), seed=st.integers(0, 10**6),
       delays=st.lists(st.integers(0, 60 * 24 * 40), min_size=20, max_size=20),
       ticks=st.lists(st.booleans(), min_size=20, max_size=20))
def test_the_ledger_members_and_checks_are_those_of_asking_every_rule_reading_a_change(
        chosen: list[Rule], seed: int, delays: list[int], ticks: list[bool]) -> None:
    # Given random rules and customers, their events evaluated at later and later
    # instants (each some minutes to 40 days after the previous), ticks in between
    rng = random.Random(seed)
    now = day(200)
    specs = [Spec.of(uuid4(), 1, rule) for rule in chosen]
    skipping, asking = SegmentEngine(specs, Memberships()), AskingEveryRule(specs, Memberships())
    histories = [rows_of(random_customer(rng, now)) for _ in range(3)]
    rows: dict[UUID, Row] = {}
    at = now - timedelta(days=200)
    n = 0
    while any(histories):  # customers interleaved, each one's events in order
        _, old, new = rng.choice([h for h in histories if h]).pop(0)
        at += timedelta(minutes=delays[n % len(delays)])
        cid = new["customer_id"]
        rows[cid] = new
        # When both engines follow the same events and ticks
        for engine in (skipping, asking):
            engine.customer_changed(cid, old, new, at, cause(n))
            if ticks[n % len(ticks)]:
                tick(engine, rows, at + timedelta(hours=1), n)
        n += 1
    # Then they record the same ledger, members and checks
    assert skipping.state.entries == asking.state.entries
    assert skipping.state.members == asking.state.members
    assert skipping.state.checks == asking.state.checks
