"""A fresh row's answers, shared by every registration an engine sees.

A registration asked every rule (24 on the bench's log: 7-10 % of the profile group's
Python, profiled), for a row that is the same for every customer but its first channel
and its times (:data:`REGISTERED`). So an engine keeps, from the first fresh row:

* the answers of the rules reading none of those columns: each with no horizon holds for
  any row with the same values in the columns it reads, at any later instant;
* for the rules reading the times only (``first_seen_at``, ``last_interaction_at``: the
  windows ``activeWithinDays``, ``inactiveDays``, ``lifecycle``), their answers by the
  instant's distance from the customer's first sight. A fresh row's two times are one
  instant ``first``, and these rules compare the distance ``at - first`` with their spans
  only (``at < first + span``, ``first <= at - span`` …), their horizons are ``first +``
  a span: so the answer is the same for every distance between the same two spans
  (:func:`bisect.bisect_right` of the distance among them), its horizon ``first`` plus the
  same offset. Kept per such bucket, once per engine.

The rules reading ``first_channel`` are asked for every new row.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from copy import deepcopy
from datetime import datetime, timedelta
from operator import itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from projections.segments.model import Memberships, Spec

Row = dict[str, Any]
Answer = tuple[bool, datetime | None]
#: The columns a rule may read that a registration fills from its event (``customer_profile``'s
#: ``new_row``, and the registration folded as an interaction): every other column of a fresh
#: row holds the same blank value for every customer (a test holds the fold to this).
REGISTERED = frozenset({"first_channel", "first_seen_at", "last_interaction_at"})
#: The registered columns read only through windows (a test holds the predicates to it).
TIMES = frozenset({"first_seen_at", "last_interaction_at"})
#: What :meth:`Fresh.answers` gives for a rule to ask.
ASK = None
_TIMED = object()  # a placeholder in ``Fresh.asked`` for a rule answered by its bucket


class Fresh(NamedTuple):
    """The answers of the first fresh row an engine saw, and its timed answers by bucket."""

    since: datetime  # the instant of the untimed answers (a horizon None holds from it on)
    read: Callable[[Row], Any]  # the values of the columns the kept answers read
    values: Any  # as in the first fresh row (a copy)
    #: Every spec in order but the answered-false ones, with its answer, ``ASK``, or the
    #: placeholder of a timed one.
    asked: list[tuple[Spec, Any]]
    silent: list[int]  # the answered-false specs' key bases
    timed: list[Spec]  # the specs answered by bucket, in order
    spans: list[timedelta]  # the timed specs' spans, sorted
    #: bucket -> each timed spec's (truth, horizon - first)
    buckets: dict[int, list[tuple[bool, timedelta | None]]]

    @classmethod
    def of(cls, specs: list[Spec], answers: dict[int, tuple[bool, None]], at: datetime,
           row: Row) -> Fresh:
        """From the answers (by the spec's index) of ``row``, a fresh row, at ``at``."""
        timed = [n for n, s in enumerate(specs)
                 if n not in answers and not s.columns.isdisjoint(TIMES)
                 and s.columns.isdisjoint(REGISTERED - TIMES)]
        read_by = [*answers, *timed]
        columns = sorted(frozenset().union(*(specs[n].columns for n in read_by)) - REGISTERED)
        read: Callable[[Row], Any] = itemgetter(*columns) if columns else _nothing
        asked: list[tuple[Spec, Any]] = [
            (s, _TIMED if n in timed else answers.get(n, ASK)) for n, s in enumerate(specs)
            if answers.get(n) != (False, None)]
        return cls(at, read, deepcopy(read(row)), asked,
                   [s.base for n, s in enumerate(specs) if answers.get(n) == (False, None)],
                   [specs[n] for n in timed],
                   sorted(frozenset().union(*(specs[n].windows for n in timed))), {})

    def answers(self, row: Row, at: datetime, customer: int, state: Memberships,
                evaluate: Callable[[Spec, Row, datetime], Answer]
                ) -> list[tuple[Spec, Answer | None]] | None:
        """Each spec to assess for the new ``row`` at ``at``, with its answer (``ASK``: to
        ask); None when the kept answers may not hold (every rule to ask): the row differs
        from the first in a column they read, ``at`` is earlier than theirs, or the
        customer holds a membership or check of a rule skipped (asking it would clear it)."""
        if at < self.since or self.read(row) != self.values:
            return None
        keys = [base | customer for base in self.silent]
        if not (state.members.keys().isdisjoint(keys) and state.checks.keys().isdisjoint(keys)):
            return None
        if not self.timed:
            return self.asked
        first = row["first_seen_at"]
        last = row["last_interaction_at"]
        if not isinstance(first, datetime) or (last is not None and last != first):
            return [(s, ASK if a is _TIMED else a) for s, a in self.asked]
        bucket = bisect_right(self.spans, at - first)
        kept = self.buckets.get(bucket)
        if kept is None:
            kept = [(truth, None if horizon is None else horizon - first)
                    for truth, horizon in (evaluate(s, row, at) for s in self.timed)]
            if any(offset is not None and offset not in self.spans for _, offset in kept):
                # a horizon not at a window's end: not an answer of the distance alone
                return [(s, ASK if a is _TIMED else a) for s, a in self.asked]
            self.buckets[bucket] = kept
        given = iter(kept)
        out: list[tuple[Spec, Answer | None]] = []
        for spec, answer in self.asked:
            if answer is _TIMED:
                truth, offset = next(given)
                answer = (truth, None if offset is None else first + offset)
            out.append((spec, answer))
        return out


def _nothing(row: Row) -> tuple[()]:
    return ()
