"""A segment rule compiled once into a function of ``(row, at)``, for the membership engine.

:func:`projections.segments.evaluation.evaluate` walks the rule tree and looks up each
predicate by name on every call; the engine asks the same few rules tens of thousands of
times a page (every event that moves ``last_interaction_at`` re-asks each rule reading it).
:func:`compiled` does the walk once per segment version: composites become closures over
their children, and the predicates asked most (recency windows, tags, friends, groups)
get their constants computed ahead — a window's ``timedelta``, a tag set. Every other
predicate calls :data:`~projections.segments.evaluation.PREDICATES` as ``evaluate`` does.
The answers (truth and horizon) are ``evaluate``'s exactly: a property test holds the two
to the same answers on random customers and rules.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from domain.segment_rules import Rule
from projections.segments.evaluation import PREDICATES, Row, _time

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
