"""The facts a segment rule reads, finer than the profile columns that hold them.

The membership engine re-asks a rule after an event only if the event changed a fact the
rule reads (:class:`projections.segments.engine.SegmentEngine`). A column is the coarsest
fact: ``rfm`` reads ``gmv_fen`` as a whole. Finer ones say which part of a column a rule
reads, so that an event changing another part leaves the rule's answer as it was:

* ``(VALUE, column, v)`` — whether ``v`` is in a column holding a set (``tags``, ``groups``,
  ``current_staff_ids``): ``tagIn``/``hasAllTags`` read their tags' presence only,
  ``inGroup`` its group's, ``friendOf`` its staff member's. A customer tagged ``价格敏感`` is
  not re-asked for ``tagIn: [VIP]``;
* ``(EMPTY, column)`` — whether the column is empty (falsy): ``isFriend`` reads whether
  ``current_staff_ids`` is, ``lifecycle`` that and whether ``order_count`` is 0. A second
  friend or a second order re-asks neither.

Every answer of a rule (truth and horizon) is a function of the facts it reads: so an
event that changes none of them cannot change the answer. A rule matching customers
*without* a fact (``not``, an absent tag, no order in N days) is no exception — the
change of the fact (added, removed, became empty) is what is compared, never its
presence. The engine's property test holds the indexed engine to asking every rule
reading a changed column, on random rules and customers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from domain.segment_rules import Rule
from projections.segments.evaluation import COLUMNS

VALUE, EMPTY = "value", "empty"
#: A column name (any change of it), or (VALUE, column, value), or (EMPTY, column).
Fact = str | tuple[str, ...]

#: Columns holding a set of texts (a sorted list without repeats), read value by value.
SETS = frozenset({"tags", "groups", "current_staff_ids"})


def _predicate_facts(name: str, value: Any) -> frozenset[Fact]:
    if name in ("tagIn", "hasAllTags"):
        return frozenset((VALUE, "tags", v) for v in value)
    if name == "inGroup":
        return frozenset({(VALUE, "groups", value)})
    if name == "friendOf":
        return frozenset({(VALUE, "current_staff_ids", value)})
    if name == "isFriend":
        return frozenset({(EMPTY, "current_staff_ids")})
    if name == "lifecycle":  # evaluation.lifecycle: these, and the two times as columns
        return frozenset({"ever_friend", (EMPTY, "current_staff_ids"), (EMPTY, "order_count"),
                          "last_interaction_at", "first_seen_at"})
    return frozenset(COLUMNS[name])


def facts(rule: Rule) -> frozenset[Fact]:
    """The facts ``rule`` reads: an event changing none of them leaves its answer as is."""
    (name, value), = rule.items()
    if name in ("all", "any"):
        return frozenset().union(*(facts(r) for r in value))
    if name == "not":
        return facts(value)
    return _predicate_facts(name, value)


def bits(mask: int) -> Iterator[int]:
    """The indexes of the bits set in ``mask``, lowest first."""
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


class Readers:
    """Which of a list of rules read each fact, as bit masks (bit ``i``: rule ``i``).

    ``blank``: each column's value in a new profile row before any fact about the customer
    (:data:`projections.customer_profile.rows.BLANK`); a column not in it is never blank.
    """

    def __init__(self, rules: list[frozenset[Fact]], blank: dict[str, Any]) -> None:
        readers: dict[Fact, int] = {}
        for i, read in enumerate(rules):
            for fact in read:
                readers[fact] = readers.get(fact, 0) | 1 << i
        self.readers = readers
        columns: dict[str, int] = {}  # each column: the rules reading any fact of it
        for fact, mask in readers.items():
            column = fact if isinstance(fact, str) else fact[1]
            columns[column] = columns.get(column, 0) | mask
        missing = object()
        #: (column, rules reading it whole, rules reading its emptiness, rules reading
        #: its values by value, rules reading any of these, its blank value)
        self.columns = tuple(
            (column, readers.get(column, 0), readers.get((EMPTY, column), 0),
             {f[2]: m for f, m in readers.items() if f[0] == VALUE and f[1] == column},
             mask, blank.get(column, missing))
            for column, mask in sorted(columns.items()))

    def changed(self, old: dict[str, Any], new: dict[str, Any], apart: str) -> tuple[int, int]:
        """The rules reading a fact that differs between two rows of one customer; and
        those among them reading one other than the column ``apart`` as a whole."""
        mask = others = 0
        for column, whole, empty, values, _, _ in self.columns:
            # The fold replaces what it changes: unchanged columns are the same objects.
            before, after = old.get(column), new.get(column)
            if before is after or before == after:
                continue
            if column == apart:
                mask |= whole
            else:
                others |= whole
            if empty and bool(before) is not bool(after):
                others |= empty
            if values:
                for value in set(before or ()).symmetric_difference(after or ()):
                    others |= values.get(value, 0)
        return mask | others, others

    def not_blank(self, new: dict[str, Any]) -> int:
        """The rules reading a column that holds other than its blank value in ``new``."""
        mask = 0
        for column, _, _, _, readers, blank in self.columns:
            if new.get(column) != blank:
                mask |= readers
        return mask
