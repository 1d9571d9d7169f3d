"""Sensitive-word hits (敏感词) in the staff KPIs, both sides of a chat.

* ``sensitive_word_hits``: the member's **own** messages that hit the lexicon
  (``Customer.SensitiveWordsFound`` with side ``staff``), one per message.
* ``customer_sensitive_word_hits``: the **customers'** messages that hit it in the member's
  chats (side ``customer``), one per message, credited to the member serving that chat — the
  event's ``staff_id``, the staff member of the customer's ``MessageReceived`` — on the
  message's business day (Asia/Shanghai). The customer, not the member, wrote them: the figure
  shows a manager where to step in, it is no offence of the member.
* Its breakdown by category: ``customer_abuse_hits`` (辱骂), ``customer_private_order_hits``
  (私单), ``customer_diverted_order_hits`` (飞单) for the built-in categories and
  ``customer_custom_category_hits`` for the categories a brand defined. A message counts once in
  each category it hit, so a message hitting two categories is one hit of the total and one of
  each of the two (the breakdown may add up to more than the total, never less).

Row logic only (no I/O): :mod:`projections.staff_performance.view` folds it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from domain.lexicon import BUILT_IN_CATEGORIES

STAFF_HIT = "sensitive_word_hit"
CUSTOMER_HIT = "customer_sensitive_word_hit"
CUSTOMER_TOTAL = "customer_sensitive_word_hits"
CUSTOM_CATEGORIES = "customer_custom_category_hits"
#: Breakdown KPI (rollup column) → the category it counts (None: any brand-defined one).
CATEGORY_KPIS: dict[str, str | None] = {
    **{f"customer_{category}_hits": category for category in BUILT_IN_CATEGORIES},
    CUSTOM_CATEGORIES: None}
CUSTOMER_HIT_COUNTERS = (CUSTOMER_TOTAL, *CATEGORY_KPIS)


def hit_categories(hits: Iterable[dict[str, Any]]) -> list[str]:
    """The distinct categories of a hit's terms, sorted."""
    return sorted({str(h["category"]) for h in hits})


def category_kpi(category: str) -> str:
    """The breakdown column a category's hits count in."""
    return f"customer_{category}_hits" if category in BUILT_IN_CATEGORIES else CUSTOM_CATEGORIES


def customer_hit_deltas(categories: Iterable[str]) -> dict[str, int]:
    """What one customer-side hit adds to its member's day: one to the total, one to each
    breakdown column one of its categories falls in."""
    return {CUSTOMER_TOTAL: 1, **{category_kpi(c): 1 for c in categories}}
