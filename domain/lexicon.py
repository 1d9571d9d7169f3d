"""The ``Lexicon`` aggregate: the brand's sensitive words (敏感词), by category.

One lexicon per deployment (its id is fixed). Three categories are built in —
``abuse`` (辱骂 customers), ``private_order`` (私单) and ``diverted_order`` (飞单),
the sensitive behaviours of seed 000, each with starter terms (:data:`STARTER_TERMS`) —
and managers may define their own and extend any. Each
term has a stable id (``t1``, ``t2`` …) that hits and alerts refer to; a removed
term stays in the history. Every change is an event, so the lexicon's version
is the aggregate's version and any past lexicon can be rebuilt.

Terms are brand configuration, not personal data. Messages are scanned against
the lexicon at ingestion (:mod:`application.supervision`); their text is never stored
in an event.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from uuid import NAMESPACE_URL, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput, UnknownTerm
from domain.tag_group import check_label
from domain.wordmatch import Matcher, fold

LEXICON_ID = uuid5(NAMESPACE_URL, "https://siyu.invalid/lexicon")

BUILT_IN_CATEGORIES: dict[str, str] = {
    "abuse": "辱骂",
    "private_order": "私单",
    "diverted_order": "飞单",
}
#: Starter terms of the built-in categories (``Supervision.add_starter_terms``): a brand
#: adds them once and extends them; each is a phrase, never one character (``滚`` alone
#: would hit 滚动).
STARTER_TERMS: dict[str, tuple[str, ...]] = {
    "abuse": ("傻逼", "滚蛋", "白痴", "脑残", "神经病", "去死", "蠢货", "你有病"),
    "private_order": ("私单", "私下交易", "私下转账", "转我个人", "加我私人微信", "不走公司",
                      "私人账户"),
    "diverted_order": ("飞单", "别家买", "去我朋友店", "换个渠道下单", "外面买更便宜",
                       "不要在公司下单", "走其他平台"),
}
_CATEGORY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
MAX_TERMS = 10_000


@dataclass(frozen=True, slots=True)
class Term:
    term_id: str
    category: str
    term: str


class Lexicon(Aggregate):
    class Event(Aggregate.Event):
        by: str
        occurred_at: datetime

    class Started(Aggregate.Created):
        """The lexicon exists, with the built-in categories."""

        by: str
        occurred_at: datetime

    class CategoryDefined(Event):
        """A custom category (``code``, display ``label``)."""

        category: str
        label: str

    class TermAdded(Event):
        term_id: str
        category: str
        term: str

    class TermRemoved(Event):
        term_id: str

    @classmethod
    def start(cls, by: str, occurred_at: datetime) -> Lexicon:
        return cls._create(cls.Started, id=LEXICON_ID, by=by, occurred_at=occurred_at)

    @event(Started)
    def __init__(self, by: str, occurred_at: datetime) -> None:
        self.categories: dict[str, str] = dict(BUILT_IN_CATEGORIES)
        self.terms: dict[str, Term] = {}
        self.next_term = 1

    # == commands ==========================================================================
    def define_category(self, category: str, label: str, by: str, occurred_at: datetime
                        ) -> bool:
        if not _CATEGORY.match(category):
            raise InvalidInput("category must be 1-32 lower-case letters, digits or '_', "
                               "starting with a letter", field="category")
        name = check_label(label, "label")
        if self.categories.get(category) == name:
            return False
        self._define(category=category, label=name, by=by, occurred_at=occurred_at)
        return True

    def add_terms(self, category: str, terms: list[str], by: str, occurred_at: datetime
                  ) -> list[Term]:
        """Add the terms not yet in the category (compared folded); returns the new ones."""
        if category not in self.categories:
            raise InvalidInput(f"unknown category {category!r}; define it first",
                               field="category")
        held = {fold(t.term) for t in self.terms.values() if t.category == category}
        added: list[Term] = []
        for raw in terms:
            term = check_label(raw, "terms")
            if not fold(term):
                raise InvalidInput("a term needs letters or digits", field="terms")
            if fold(term) in held:
                continue
            if len(self.terms) >= MAX_TERMS:
                raise InvalidInput(f"a lexicon holds at most {MAX_TERMS} terms", field="terms")
            held.add(fold(term))
            self._add(term_id=f"t{self.next_term}", category=category, term=term, by=by,
                      occurred_at=occurred_at)
            added.append(self.terms[f"t{self.next_term - 1}"])
        return added

    def remove_term(self, term_id: str, by: str, occurred_at: datetime) -> None:
        if term_id not in self.terms:
            raise UnknownTerm(f"no term {term_id!r}", field="termId")
        self._remove(term_id=term_id, by=by, occurred_at=occurred_at)

    def matcher(self) -> Matcher:
        return Matcher((t.term_id, t.term) for t in self.terms.values())

    # == events: assign state only ===========================================================
    @event(CategoryDefined)
    def _define(self, category: str, label: str, by: str, occurred_at: datetime) -> None:
        self.categories[category] = label

    @event(TermAdded)
    def _add(self, term_id: str, category: str, term: str, by: str,
             occurred_at: datetime) -> None:
        self.terms[term_id] = Term(term_id, category, term)
        self.next_term = int(term_id[1:]) + 1

    @event(TermRemoved)
    def _remove(self, term_id: str, by: str, occurred_at: datetime) -> None:
        self.terms.pop(term_id, None)

