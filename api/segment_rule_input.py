"""The segment rule as a GraphQL input: a ``@oneOf`` tree mapped to the rule language."""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from enum import Enum
from typing import Any

import strawberry

from api.customer_types import Positioning
from api.errors import ApiError
from api.types import Lifecycle, Long
from domain.errors import DomainError
from domain.segment_rules import parse_rule


@strawberry.input(description="Paid orders, optionally within the last `withinDays` days.")
class OrderedInput:
    at_least: int
    within_days: int | None = None


@strawberry.input(description="Paid amount in fen, optionally within the last `withinDays` days.")
class GmvInput:
    at_least_fen: Long
    within_days: int | None = None


@strawberry.input(description="Minimum RFM scores (0-5, see docs/bi.md); at least one.")
class RfmInput:
    recency_at_least: int | None = None
    frequency_at_least: int | None = None
    monetary_at_least: int | None = None


@strawberry.input(description="Paid quantity of one SKU.")
class BoughtSkuInput:
    sku: str
    at_least: int


@strawberry.input(description="Paid orders with an item of the category.")
class BoughtCategoryInput:
    category: str
    at_least: int


@strawberry.input(description="Paid orders (default 1) with a line the product library files "
                              "under the category or one under it, optionally spending at least "
                              "`atLeastFen` on those lines, within the last `withinDays` days "
                              "(docs/segments.md).")
class BoughtFromCategoryInput:
    category: str
    at_least: int | None = None
    at_least_fen: Long | None = None
    within_days: int | None = None


@strawberry.input(description="Paid orders (default 1) with a line of the product (SKU), "
                              "optionally spending at least `atLeastFen` on it, within the last "
                              "`withinDays` days.")
class BoughtProductInput:
    sku: str
    at_least: int | None = None
    at_least_fen: Long | None = None
    within_days: int | None = None


@strawberry.input(description="Content views of the topic.")
class ViewedTopicInput:
    topic: str
    at_least: int


@strawberry.input(one_of=True, description="One node of a segment rule: `all`, `any`, `not`, "
                                           "or one predicate (README: Segments).")
class SegmentRuleInput:
    all: list[SegmentRuleInput] | None = strawberry.UNSET
    any: list[SegmentRuleInput] | None = strawberry.UNSET
    not_: SegmentRuleInput | None = strawberry.field(default=strawberry.UNSET, name="not")
    tag_in: list[str] | None = strawberry.UNSET
    has_all_tags: list[str] | None = strawberry.UNSET
    lifecycle: Lifecycle | None = strawberry.UNSET
    ordered: OrderedInput | None = strawberry.UNSET
    gmv: GmvInput | None = strawberry.UNSET
    inactive_days: int | None = strawberry.UNSET
    active_within_days: int | None = strawberry.UNSET
    referrals_at_least: int | None = strawberry.UNSET
    friend_of: strawberry.ID | None = strawberry.UNSET
    is_friend: bool | None = strawberry.UNSET
    joined_via: str | None = strawberry.UNSET
    in_group: str | None = strawberry.UNSET
    rfm: RfmInput | None = strawberry.UNSET
    positioning: Positioning | None = strawberry.UNSET
    member_level: str | None = strawberry.UNSET
    bought_sku: BoughtSkuInput | None = strawberry.UNSET
    bought_category: BoughtCategoryInput | None = strawberry.UNSET
    viewed_topic: ViewedTopicInput | None = strawberry.UNSET
    bought_from_category: BoughtFromCategoryInput | None = strawberry.UNSET
    bought_product: BoughtProductInput | None = strawberry.UNSET


def rule_to_data(rule: SegmentRuleInput) -> dict[str, Any]:
    """The GraphQL input as the rule language's plain data (validated by parse_rule)."""
    for name, value in vars(rule).items():
        if value is strawberry.UNSET or value is None:
            continue
        key = {"not_": "not"}.get(name, _camel(name))
        if name in ("all", "any"):
            return {key: [rule_to_data(r) for r in value]}
        if name == "not_":
            return {key: rule_to_data(value)}
        if isinstance(value, Enum):
            return {key: value.value}
        if is_dataclass(value):
            return {key: {_camel(k): v for k, v in asdict(value).items()}}  # type: ignore[arg-type]
        return {key: str(value) if name == "friend_of" else value}
    return {}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def parsed_rule(rule: SegmentRuleInput) -> dict[str, Any]:
    try:
        return parse_rule(rule_to_data(rule))
    except DomainError as error:
        raise ApiError(error.code, error.message, field=error.field) from None


