"""Compile a segment rule to one SQL condition over ``customer_profile p``.

Used to evaluate a rule over every customer at once (sizes, backfills, the
1,000,000-customer benchmark). The meaning is the one of
:mod:`projections.segments.evaluation`; a property test holds the two equal. Every
predicate is null-safe (``coalesce(…, false)``) so that ``not`` negates the
Python truth exactly. Days are whole 24-hour spans, as in Python.
"""

from __future__ import annotations

from typing import Any

from domain.segment_rules import Rule

DAY = "interval '24 hours'"
LAST = "coalesce(p.last_interaction_at, p.first_seen_at)"


class _Compiler:
    def __init__(self) -> None:
        self.params: dict[str, Any] = {}

    def param(self, value: Any) -> str:
        name = f"r{len(self.params)}"
        self.params[name] = value
        return f"%({name})s"

    def rule(self, rule: Rule) -> str:
        (name, value), = rule.items()
        if name in ("all", "any"):
            joiner = " AND " if name == "all" else " OR "
            return "(" + joiner.join(self.rule(r) for r in value) + ")"
        if name == "not":
            return f"(NOT {self.rule(value)})"
        return f"coalesce({getattr(self, name)(value)}, false)"

    def days(self, days: int) -> str:
        return f"({self.param(days)}::int * {DAY})"

    def tagIn(self, value: list[str]) -> str:
        return f"p.tags && {self.param(value)}::text[]"

    def hasAllTags(self, value: list[str]) -> str:
        return f"p.tags @> {self.param(value)}::text[]"

    def lifecycle(self, value: str) -> str:
        return ("siyu_lifecycle(p.ever_friend, p.current_staff_ids, p.last_interaction_at, "
                f"p.first_seen_at, p.order_count, %(at)s) = {self.param(value)}")

    def ordered(self, value: dict[str, Any]) -> str:
        n = int(value["atLeast"])
        if value["withinDays"] is None:
            return f"cardinality(p.order_times) >= {self.param(n)}"
        return f"p.order_times[{n}] > %(at)s - {self.days(value['withinDays'])}"

    def gmv(self, value: dict[str, Any]) -> str:
        floor = self.param(int(value["atLeastFen"]))
        if value["withinDays"] is None:
            return f"p.gmv_fen >= {floor}"
        return ("(SELECT coalesce(sum(u.a), 0) FROM unnest(p.order_times, p.order_amounts) "
                f"u(t, a) WHERE u.t > %(at)s - {self.days(value['withinDays'])}) >= {floor}")

    def inactiveDays(self, value: int) -> str:
        return f"{LAST} <= %(at)s - {self.days(value)}"

    def activeWithinDays(self, value: int) -> str:
        return f"{LAST} > %(at)s - {self.days(value)}"

    def referralsAtLeast(self, value: int) -> str:
        return f"p.referrals_brought >= {self.param(value)}"

    def friendOf(self, value: str) -> str:
        return f"p.current_staff_ids @> ARRAY[{self.param(value)}::text]"

    def isFriend(self, value: bool) -> str:
        return f"(cardinality(p.current_staff_ids) > 0) = {self.param(value)}"

    def joinedVia(self, value: str) -> str:
        # hierarchical (domain.channels): the channel itself, or one under it ("qr" + ":")
        channel, under = self.param(value), self.param(value + ":")
        return (f"(p.first_channel = {channel} OR starts_with(p.first_channel, {under}) "
                f"OR p.staff_relations @> "
                f"jsonb_build_array(jsonb_build_object('channel', {channel}::text)) "
                f"OR EXISTS (SELECT 1 FROM jsonb_array_elements(p.staff_relations) r "
                f"WHERE starts_with(r->>'channel', {under})))")

    def inGroup(self, value: str) -> str:
        return f"p.groups @> ARRAY[{self.param(value)}::text]"

    def rfm(self, value: dict[str, Any]) -> str:
        parts = []
        if value.get("recencyAtLeast") is not None:
            parts.append(f"siyu_recency_score(p.last_order_at, %(at)s) >= "
                         f"{self.param(value['recencyAtLeast'])}")
        if value.get("frequencyAtLeast") is not None:
            parts.append(f"siyu_frequency_score(p.order_count) >= "
                         f"{self.param(value['frequencyAtLeast'])}")
        if value.get("monetaryAtLeast") is not None:
            parts.append(f"siyu_monetary_score(p.gmv_fen - p.refunded_fen) >= "
                         f"{self.param(value['monetaryAtLeast'])}")
        return "(" + " AND ".join(parts) + ")"

    def positioning(self, value: str) -> str:
        return f"siyu_positioning(p.order_count, p.gmv_fen) = {self.param(value)}"

    def memberLevel(self, value: str) -> str:
        return f"p.member_level = {self.param(value)}"

    def _counter(self, column: str, key: str, at_least: int) -> str:
        return f"coalesce((p.{column} ->> {self.param(key)})::bigint, 0) >= {self.param(at_least)}"

    def boughtSku(self, value: dict[str, Any]) -> str:
        return self._counter("sku_quantities", value["sku"], value["atLeast"])

    def boughtCategory(self, value: dict[str, Any]) -> str:
        return self._counter("category_orders", value["category"], value["atLeast"])

    def viewedTopic(self, value: dict[str, Any]) -> str:
        return self._counter("topic_views", value["topic"], value["atLeast"])

    def _bought(self, skus: str, value: dict[str, Any]) -> str:
        """Orders with a line of ``skus`` (an SQL text[]) and the fen spent on those lines."""
        window = "" if value["withinDays"] is None else \
            f"AND u.t > %(at)s - {self.days(value['withinDays'])}"
        floor = "" if value["atLeastFen"] is None else \
            f" AND coalesce(sum(o.fen), 0) >= {self.param(int(value['atLeastFen']))}"
        return ("(SELECT count(*) >= " + self.param(int(value["atLeast"])) + floor +
                " FROM (SELECT u.t, sum(l.fen::bigint) AS fen "
                "FROM unnest(p.order_times) WITH ORDINALITY u(t, n) "
                "CROSS JOIN LATERAL jsonb_each_text(p.order_lines -> (u.n::int - 1)) l(sku, fen) "
                f"WHERE l.sku = ANY({skus}) {window} GROUP BY u.n, u.t) o)")

    def boughtProduct(self, value: dict[str, Any]) -> str:
        return self._bought(f"ARRAY[{self.param(value['sku'])}::text]", value)

    def boughtFromCategory(self, value: dict[str, Any]) -> str:
        """Resolved (``skus``), or against the projection's library (``segment_product``)."""
        if value.get("skus") is not None:
            return self._bought(f"{self.param(list(value['skus']))}::text[]", value)
        category = self.param(value["category"])
        under = self.param(value["category"] + ":")
        return self._bought(f"ARRAY(SELECT sku FROM segment_product WHERE category = {category} "
                            f"OR starts_with(category, {under}))", value)


def compile_rule(rule: Rule) -> tuple[str, dict[str, Any]]:
    """``(condition, params)``: the condition uses ``%(at)s`` and named parameters."""
    compiler = _Compiler()
    return compiler.rule(rule), compiler.params
