"""The segment engine's values: a live segment version (:class:`Spec`), a membership key,
the cause of a change and its ledger entry, and the memberships of the customers at hand
(:class:`Memberships`). Apart from :mod:`projections.segments.engine`, which works on them,
so that the modules it uses (:mod:`projections.segments.fresh`) may name them too."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, NamedTuple
from uuid import UUID

from domain.segment_rules import Rule
from projections.segments.compiled import Evaluator, compiled
from projections.segments.evaluation import columns, windows

Row = dict[str, Any]
#: A (segment, customer) pair as one int: the segment id's 128 bits, then the customer id's
#: (:func:`key`). The engine's dicts and sets were keyed by ``(UUID, UUID)`` tuples, and
#: hashing one calls ``UUID.__hash__`` — Python code — twice: ~67 calls an event, 11 % of
#: the profile group's time, profiled. An int hashes in C, and sorts as the pair of UUIDs
#: does (a UUID compares by its ``int``).
Key = int
#: ``key & CUSTOMER_BITS`` is the customer id's int.
CUSTOMER_BITS = (1 << 128) - 1
LAST = "last_interaction_at"

ENTERED, EXITED = "ENTERED", "EXITED"
#: One customer's memberships (key -> version that let it in) and due checks.
Segmentation = tuple[dict[Key, int], dict[Key, datetime]]


def key(segment_id: UUID, customer_id: UUID) -> Key:
    """The :data:`Key` of a (segment, customer) pair."""
    return segment_id.int << 128 | customer_id.int


def segment_of(pair: Key) -> int:
    """The segment id of a :data:`Key`, as its int."""
    return pair >> 128


def customer_of(pair: Key) -> UUID:
    """The customer id of a :data:`Key`."""
    return UUID(int=pair & CUSTOMER_BITS)


def customer_int(pair: Key) -> int:
    """The customer id of a :data:`Key`, as its int."""
    return pair & CUSTOMER_BITS


@dataclass(frozen=True, slots=True)
class Spec:
    """One live segment version."""

    segment_id: UUID
    version: int
    rule: Rule
    columns: frozenset[str]
    stage: str | None = None  # the rule is "lifecycle = stage": computed once per row change
    check: Evaluator | None = None  # the rule compiled by Spec.of (None: per call)
    #: The spans through which the rule reads the last interaction (evaluation.windows).
    windows: frozenset[timedelta] = frozenset()
    #: ``key(segment_id, customer) == base | customer.int``: derived, never given.
    base: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "base", self.segment_id.int << 128)

    @classmethod
    def of(cls, segment_id: UUID, version: int, rule: Rule) -> Spec:
        stage = rule["lifecycle"] if set(rule) == {"lifecycle"} else None
        return cls(segment_id, version, rule, columns(rule), stage, compiled(rule),
                   windows(rule))


# Cause and LedgerEntry are named tuples, immutable as the frozen dataclasses they were: a
# frozen dataclass sets each field through object.__setattr__, and the fold makes one cause
# per customer event and 1.3 entries (3.6 against 1.3 us each, measured: ~8 % of the
# profile group's Python time).
class Cause(NamedTuple):
    kind: str  # EVENT | TICK | DEFINED | REVISED | ARCHIVED | MERGED | UNMERGED
    position: int
    event_type: str
    backfilled: bool = False
    #: Business time of the cause (the event's ``occurred_at``); None: the evaluation time
    #: (a clock tick: time passing happens when it is noticed).
    occurred_at: datetime | None = None


class LedgerEntry(NamedTuple):
    segment_id: UUID
    rule_version: int
    customer_id: UUID
    change: str
    at: datetime
    cause: Cause

    @property
    def occurred_at(self) -> datetime:
        """Business time of the change: its cause's, or the evaluation time."""
        return self.cause.occurred_at or self.at


# A NamedTuple's own ``__new__`` is Python code: a frame per entry and per event's cause
# (~3 % of the profile group's Python, sampled). These make the same tuples in C, from
# every field in order (a test holds the fields to the order the callers give).
new_cause: Callable[[tuple[str, int, str, bool, datetime | None]], Cause] = partial(
    tuple.__new__, Cause)
new_entry: Callable[[tuple[UUID, int, UUID, str, datetime, Cause]], LedgerEntry] = partial(
    tuple.__new__, LedgerEntry)


@dataclass(slots=True)
class Memberships:
    """Members and due checks of the loaded customers, with what changed since loading."""

    members: dict[Key, int] = field(default_factory=dict)  # key -> version that let it in
    checks: dict[Key, datetime] = field(default_factory=dict)
    entries: list[LedgerEntry] = field(default_factory=list)
    entered: dict[Key, LedgerEntry] = field(default_factory=dict)
    exited: set[Key] = field(default_factory=set)
    checks_set: dict[Key, datetime | None] = field(default_factory=dict)
    #: The members and checks stored in the tables of each customer loaded whole (by its
    #: id's int), as loaded — never changed here: the cache's own, shared. What these
    #: customers write is plain inserts and updates (projections.segments.store.flush);
    #: any other customer's, upserts.
    stored: dict[int, Segmentation] = field(default_factory=dict)

    def set_check(self, key: Key, at: datetime | None) -> None:
        """Schedule a re-evaluation; an earlier one already scheduled is kept (it will
        re-evaluate and reschedule), which saves rewriting checks that only move later."""
        current = self.checks.get(key)
        if current == at or (at is not None and current is not None and current < at):
            return
        if at is None:
            self.checks.pop(key, None)
        else:
            self.checks[key] = at
        self.checks_set[key] = at

    def record(self, entry: LedgerEntry, pair: Key | None = None) -> None:
        """``pair``: the entry's :data:`Key`, when the caller has it."""
        key = pair if pair is not None else entry.segment_id.int << 128 | entry.customer_id.int
        self.entries.append(entry)
        if entry.change == ENTERED:
            self.members[key] = entry.rule_version
            self.entered[key] = entry
            self.exited.discard(key)
        else:
            self.members.pop(key, None)
            self.entered.pop(key, None)
            self.exited.add(key)

    def delta(self) -> dict[int, int]:
        """Net change of member count per segment (its id's int) since loading."""
        out: dict[int, int] = {}
        for entry in self.entries:
            segment = entry.segment_id.int
            out[segment] = out.get(segment, 0) + (1 if entry.change == ENTERED else -1)
        return out
