"""A segment rule compiled once into a function of ``(row, at)``, for the membership engine.

:func:`projections.segments.evaluation.evaluate` walks the rule tree and looks up each
predicate by name on every call; the engine asks the same few rules tens of thousands of
times a page (every event that moves ``last_interaction_at`` re-asks each rule reading it).
:func:`compiled` does the walk once per segment version: composites become closures over
their children, and the predicates asked most (recency windows, tags, friends, groups)
get their constants computed ahead — a window's ``timedelta``, a tag set — and the costly
ones asked on every order or friend change (``rfm``, ``ordered``, ``gmv``, ``joinedVia``)
skip what only ``explain`` needs (the observed values, sorted channel lists, generators of
candidate edges): profiled, ``rfm`` and ``joinedVia`` alone were a sixth of the profile
group's time. Every other predicate calls
:data:`~projections.segments.evaluation.PREDICATES` as ``evaluate`` does.
The answers (truth and horizon) are ``evaluate``'s exactly: a property test holds the two
to the same answers on random customers and rules.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from domain.channels import SEPARATOR
from domain.segment_rules import Rule
from projections.segments.evaluation import (
    PREDICATES,
    RECENCY_DAYS,
    Row,
    _time,
    frequency_score,
    monetary_score,
)

#: Truth and horizon of one rule for one row at one instant (as ``evaluate``).
Evaluator = Callable[[Row, datetime], tuple[bool, datetime | None]]


def compiled(rule: Rule) -> Evaluator:
    """``lambda row, at: evaluate(rule, row, at)``, the tree walked once."""
    (name, value), = rule.items()
    if name in ("all", "any"):
        return _composite([compiled(r) for r in value], every=name == "all")
    if name == "not":
        return _negated(compiled(value))
    if name in ("activeWithinDays", "inactiveDays"):
        return _window(timedelta(days=value), active=name == "activeWithinDays")
    if name == "tagIn":
        wanted = frozenset(value)
        return lambda row, at: (not wanted.isdisjoint(row["tags"]), None)
    if name == "isFriend":
        return lambda row, at: (bool(row["current_staff_ids"]) == value, None)
    if name == "friendOf":
        return lambda row, at: (value in row["current_staff_ids"], None)
    if name == "inGroup":
        return lambda row, at: (value in row["groups"], None)
    if name == "joinedVia":
        return _joined_via(value)
    if name == "rfm":
        return _rfm(value.get("recencyAtLeast"), value.get("frequencyAtLeast"),
                    value.get("monetaryAtLeast"))
    if name == "ordered":
        return _ordered(value["atLeast"], value.get("withinDays"))
    if name == "gmv":
        return _gmv(value["atLeastFen"], value.get("withinDays"))
    return _leaf(PREDICATES[name], value)


def _leaf(predicate: Callable[[Row, Any, datetime], tuple[bool, Any, datetime | None]],
          value: Any) -> Evaluator:
    def leaf(row: Row, at: datetime) -> tuple[bool, datetime | None]:
        truth, _, edge = predicate(row, value, at)
        return truth, edge if edge is not None and edge > at else None
    return leaf


def _composite(children: list[Evaluator], *, every: bool) -> Evaluator:
    def composite(row: Row, at: datetime) -> tuple[bool, datetime | None]:
        truth = every
        horizon: datetime | None = None
        for child in children:  # every child: the horizon is the earliest of them all
            held, edge = child(row, at)
            if held != every:
                truth = not every
            if edge is not None and (horizon is None or edge < horizon):
                horizon = edge
        return truth, horizon
    return composite


def _negated(child: Evaluator) -> Evaluator:
    def negated(row: Row, at: datetime) -> tuple[bool, datetime | None]:
        held, edge = child(row, at)
        return not held, edge
    return negated


def _window(span: timedelta, *, active: bool) -> Evaluator:
    """``activeWithinDays`` (``active``) or ``inactiveDays``: from the last interaction,
    or first sight when there is none."""
    def window(row: Row, at: datetime) -> tuple[bool, datetime | None]:
        last = row["last_interaction_at"]
        if last is None:
            last = row["first_seen_at"]
        if not isinstance(last, datetime):
            last = _time(last)
        edge = last + span
        if active:
            return (True, edge) if at < edge else (False, None)
        return (True, None) if at >= edge else (False, edge)
    return window


def _joined_via(channel: str) -> Evaluator:
    """The first channel or any friend-add channel is ``channel`` or under it."""
    under = channel + SEPARATOR

    def joined(row: Row, at: datetime) -> tuple[bool, datetime | None]:
        first = row["first_channel"]
        if first is not None and (first == channel or first.startswith(under)):
            return True, None
        for relation in row["staff_relations"]:
            via = relation.get("channel")
            if via is not None and (via == channel or via.startswith(under)):
                return True, None
        return False, None
    return joined


#: Recency scores 5, 4, 3, 2 while the last order is within these spans; else 1.
_RECENCY = tuple(zip((5, 4, 3, 2), (timedelta(days=d) for d in RECENCY_DAYS), strict=True))


def _rfm(recency: int | None, frequency: int | None, monetary: int | None) -> Evaluator:
    """Each given score a floor; the horizon is the next recency bin edge (when a recency
    floor is given), as ``evaluate``'s whether or not the rule holds."""
    def rfm(row: Row, at: datetime) -> tuple[bool, datetime | None]:
        truth = ((frequency is None or frequency_score(row) >= frequency)
                 and (monetary is None or monetary_score(row) >= monetary))
        if recency is None:
            return truth, None
        last = row["last_order_at"]
        if last is None:
            return truth and recency <= 0, None
        if not isinstance(last, datetime):
            last = _time(last)
        for score, span in _RECENCY:  # the narrowest bin still open: its score and end
            end = last + span
            if end > at:
                return truth and score >= recency, end
        return truth and recency <= 1, None
    return rfm


def _order_times(row: Row) -> list[datetime]:
    times = row["order_times"]
    if times and not isinstance(times[0], datetime):
        times = [_time(t) for t in times]  # a row read back from JSON
    return times  # type: ignore[no-any-return]


def _ordered(at_least: int, days: int | None) -> Evaluator:
    """Paid orders are kept newest first: those in the window are a prefix, so the rule
    holds when the ``at_least``-th newest is inside it, until it leaves."""
    span = None if days is None else timedelta(days=days)

    def ordered(row: Row, at: datetime) -> tuple[bool, datetime | None]:
        times = _order_times(row)
        if len(times) < at_least:
            return False, None
        if span is None:
            return True, None
        end = times[at_least - 1] + span
        return (True, end) if end > at else (False, None)
    return ordered


def _gmv(at_least_fen: int, days: int | None) -> Evaluator:
    """Paid amounts in the window (a prefix, newest first) summed; the horizon is when the
    order that makes the sum reach the floor leaves the window."""
    span = None if days is None else timedelta(days=days)

    def gmv(row: Row, at: datetime) -> tuple[bool, datetime | None]:
        times = _order_times(row)
        total = 0
        edge: datetime | None = None
        for time, amount in zip(times, row["order_amounts"], strict=True):
            if span is not None:
                end = time + span
                if not end > at:
                    break
                if edge is None and total + amount >= at_least_fen:
                    edge = end
            total += amount
        truth = total >= at_least_fen
        return truth, edge if truth else None
    return gmv
