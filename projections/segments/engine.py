"""Segment membership, maintained incrementally: who entered or left, when, and why.

The engine works on the in-memory :class:`Memberships` of the customers at
hand (the PostgreSQL view loads them for a page and writes them back in the
same transaction; a backfill holds every customer). For each change it
records a :class:`LedgerEntry` naming the segment version and the cause: the
customer event (its log position and type), a clock tick, or the segment's
own definition, revision or archiving.

A customer is re-evaluated after one of its events only for the segments
whose rule reads a profile column that the event changed — and, when that column is
only ``last_interaction_at`` (most interactions), only if the move flips one of the
rule's windows (``last + span > at``) or a due check of the pair has passed: otherwise
the answer is the one already recorded (see :meth:`SegmentEngine.customer_changed`).
A new row is asked every rule, but the rules reading only columns a registration leaves
blank, or its times through windows, are answered once per engine (or per distance from
first sight: :mod:`projections.segments.fresh`).
The passing of time is handled by horizons (:func:`projections.segments.evaluation.evaluate`): the
earliest time a customer's answer could change without an event, stored as a
due check and re-evaluated at the first clock tick at or after it. Both rules
are deterministic in log order, so a rebuild writes the same ledger.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from itertools import compress
from operator import is_not, ne
from uuid import UUID

from projections.segments.compiled import compiled
from projections.segments.evaluation import (
    last_interaction,
    lifecycle_and_horizon,
)
from projections.segments.fresh import REGISTERED, Fresh
from projections.segments.model import (
    CUSTOMER_BITS,
    ENTERED,
    EXITED,
    LAST,
    Cause,
    Key,
    LedgerEntry,
    Memberships,
    Row,
    Segmentation,
    Spec,
    customer_int,
    customer_of,
    key,
    new_cause,
    new_entry,
    segment_of,
)

#: The model's values are imported from here by the engine's callers.
__all__ = [
    "CUSTOMER_BITS",
    "ENTERED",
    "EXITED",
    "LAST",
    "Cause",
    "Key",
    "LedgerEntry",
    "Memberships",
    "Row",
    "SegmentEngine",
    "Segmentation",
    "Spec",
    "customer_int",
    "customer_of",
    "key",
    "new_cause",
    "new_entry",
    "segment_of",
]


class SegmentEngine:
    def __init__(self, specs: Iterable[Spec], state: Memberships) -> None:
        self.specs = list(specs)
        self.state = state
        self.watched = tuple(sorted(frozenset().union(*(s.columns for s in self.specs))))
        self.spans = frozenset().union(*(s.windows for s in self.specs))
        # (row, at, answer): holding the row keeps its identity from being reused
        self._stage: tuple[Row, datetime, tuple[str, datetime | None]] | None = None
        self._fresh: Fresh | None = None  # built at the first registration
        #: changed columns (in ``watched`` order) -> the specs reading one, each with
        #: whether it reads none of them but the last interaction (:meth:`_plan`)
        self._plans: dict[tuple[str, ...], list[tuple[Spec, bool]]] = {}

    def _evaluate(self, spec: Spec, row: Row, at: datetime) -> tuple[bool, datetime | None]:
        if spec.stage is None:
            check = spec.check or compiled(spec.rule)
            return check(row, at)
        memo = self._stage  # the four lifecycle segments ask in a row: compute once
        if memo is None or memo[0] is not row or memo[1] != at:
            memo = self._stage = (row, at, lifecycle_and_horizon(row, at))
        stage, horizon = memo[2]
        return stage == spec.stage, horizon

    def assess(self, spec: Spec, customer_id: UUID, row: Row | None, at: datetime,
               cause: Cause, answer: tuple[bool, datetime | None] | None = None) -> None:
        """Evaluate one segment for one customer (``row`` None: the customer is gone), or
        record ``answer`` when the caller knows the evaluation's."""
        self._assess_each(((spec, answer),), customer_id, row, at, cause)

    def _assess_each(self, asked: Iterable[tuple[Spec, tuple[bool, datetime | None] | None]],
                     customer_id: UUID, row: Row | None, at: datetime, cause: Cause) -> None:
        """:meth:`assess` of each spec in turn, with its answer if known (None: to ask):
        one call for an event's segments, not one each (~4 a registration or a change)."""
        state = self.state
        members, checks, customer = state.members, state.checks, customer_id.int
        for spec, answer in asked:
            if answer is not None:
                truth, horizon = answer
            elif row is None:
                truth, horizon = False, None
            else:
                truth, horizon = self._evaluate(spec, row, at)
            key = spec.base | customer
            if truth != (key in members):
                state.record(new_entry((spec.segment_id, spec.version, customer_id,
                                        ENTERED if truth else EXITED, at, cause)), key)
            # set_check's own test, without its call when it keeps the check (the usual case)
            current = checks.get(key)
            if current != horizon and (horizon is None or current is None
                                       or current > horizon):
                state.set_check(key, horizon)

    def customer_changed(self, customer_id: UUID, old: Row | None, new: Row | None,
                         at: datetime, cause: Cause) -> None:
        """After an event changed a customer's row: re-evaluate the segments it affects."""
        if old is None and new is not None:
            self._registered(customer_id, new, at, cause)
            return
        if old is None or new is None:
            for spec in self.specs:
                self.assess(spec, customer_id, new, at, cause)
            return
        # The fold replaces what it changes: unchanged columns are the same objects (told
        # apart in C: a Python test per watched column was 5 % of the group's Python).
        watched = self.watched
        moved = tuple(compress(watched, map(is_not, map(old.get, watched),
                                            map(new.get, watched))))
        if not moved:
            return
        changed = tuple(compress(moved, map(ne, map(old.get, moved), map(new.get, moved))))
        if not changed:
            return
        plan = self._plans.get(changed)
        if plan is None:
            plan = self._plan(changed)
        flipped: frozenset[timedelta] | None = None
        asked: list[tuple[Spec, None]] = []  # each pair's key is its own: none moves another
        for spec, last_only in plan:
            if last_only:
                # Only the last interaction moved for this rule: it reads it through its
                # windows alone, so unless one flips at `at` (or a check of the pair is
                # due, its recorded answer possibly stale) the answer is the recorded one,
                # and the horizon only moves later: the check already set comes first.
                if flipped is None:
                    flipped = self._flipped(old, new, at)
                if spec.windows.isdisjoint(flipped) and not self._due(spec, customer_id, at):
                    continue
            asked.append((spec, None))
        self._assess_each(asked, customer_id, new, at, cause)

    def _plan(self, changed: tuple[str, ...]) -> list[tuple[Spec, bool]]:
        """The specs (in order) reading one of the ``changed`` columns, each with whether
        the last interaction is the only one of them it reads; kept per change."""
        others = frozenset(changed) - {LAST} if LAST in changed else None
        plan = self._plans[changed] = [
            (spec, others is not None and spec.columns.isdisjoint(others))
            for spec in self.specs if not spec.columns.isdisjoint(changed)]
        return plan

    def _registered(self, customer_id: UUID, row: Row, at: datetime, cause: Cause) -> None:
        """A new row: every rule is asked, but those reading only columns a registration
        leaves blank are answered from the first fresh row, and those reading its times
        through windows by the instant's distance from them (:class:`Fresh`) — a rule that
        holds (or keeps a check) is recorded in its turn, one that does not is skipped, as
        asking it records nothing for a customer without its membership or check."""
        fresh = self._fresh
        if fresh is None:
            answers: dict[int, tuple[bool, None]] = {}
            for n, spec in enumerate(self.specs):
                if spec.columns.isdisjoint(REGISTERED):
                    truth, horizon = self._evaluate(spec, row, at)
                    if horizon is None:
                        answers[n] = (truth, None)
            fresh = self._fresh = Fresh.of(self.specs, answers, at, row)
        asked = fresh.answers(row, at, customer_id.int, self.state, self._evaluate)
        if asked is None:
            self._assess_each(((spec, None) for spec in self.specs), customer_id, row, at,
                              cause)
            return
        self._assess_each(asked, customer_id, row, at, cause)

    def _flipped(self, old: Row, new: Row, at: datetime) -> frozenset[timedelta]:
        """The window spans whose test ``last + span > at`` differs between the rows."""
        before, after = last_interaction(old), last_interaction(new)
        return frozenset(span for span in self.spans
                         if (before + span > at) is not (after + span > at))

    def _due(self, spec: Spec, customer_id: UUID, at: datetime) -> bool:
        check = self.state.checks.get(spec.base | customer_id.int)
        return check is not None and check <= at

    def recheck(self, spec: Spec, customer_id: UUID, row: Row | None, at: datetime,
                cause: Cause) -> None:
        """A due check: drop it, evaluate, schedule the next one."""
        self.state.set_check(spec.base | customer_id.int, None)
        self.assess(spec, customer_id, row, at, cause)

    def customer_reassessed(self, customer_id: UUID, row: Row | None, at: datetime,
                            cause: Cause) -> None:
        """Re-evaluate every segment for one customer (after a merge or un-merge)."""
        for spec in self.specs:
            self.assess(spec, customer_id, row, at, cause)

    def due(self, rows: dict[UUID, Row], keys: Iterable[Key], at: datetime,
            cause: Cause) -> None:
        """At a clock tick: re-evaluate the due (segment, customer) pairs, in the order given."""
        by_id = {s.segment_id.int: s for s in self.specs}
        for pair in keys:  # in due order: (check_at, segment, customer)
            spec = by_id.get(segment_of(pair))
            if spec is None:
                self.state.set_check(pair, None)
                continue
            customer_id = customer_of(pair)
            self.recheck(spec, customer_id, rows.get(customer_id), at, cause)

    def release(self, segment_id: UUID, version: int, at: datetime, cause: Cause) -> None:
        """Every member of the segment leaves (it was archived)."""
        segment = segment_id.int
        for pair in sorted(k for k in self.state.members if segment_of(k) == segment):
            self.state.record(LedgerEntry(segment_id, version, customer_of(pair), EXITED, at,
                                          cause), pair)
            self.state.set_check(pair, None)
