"""The planner's pure parts: the WeCom sender as WeCom delivers, and the template values."""

from __future__ import annotations

from typing import Any

import pytest

from projections.campaign_planning import choose_sender, missing, template_values


@pytest.mark.parametrize(("current", "owner", "last", "expected"), [
    (["b", "a", "c"], "a", "c", (("c", "a", "b"), "LAST_CHATTED")),
    (["b", "a"], "a", None, (("a", "b"), "OWNER")),
    (["b", "a"], "a", "gone", (("a", "b"), "OWNER")),  # chatted, but no longer a friend
    (["b", "c"], "a", None, (("b", "c"), "FRIEND")),  # the owner is no longer a friend
    ([], "a", "a", ((), None)),
])
def test_the_sender_is_the_last_chatter_else_the_owner_else_a_friend(
        current: list[str], owner: str | None, last: str | None,
        expected: tuple[tuple[str, ...], str | None]) -> None:
    assert choose_sender(current, owner, last) == expected


def test_values_come_from_the_profile_and_zero_points_is_a_value() -> None:
    row: dict[str, Any] = {"member_level": None, "points_balance": 0,
                           "category_orders": {"鞋": 2, "包": 2, "表": 1}}
    values = template_values(row, "NEW")
    assert values == {"member_level": None, "points_balance": 0, "favourite_category": "包",
                      "lifecycle": "NEW"}
    assert missing(values) == {"member_level"}
    assert missing(template_values({**row, "category_orders": {}}, "ACTIVE")) == {
        "member_level", "favourite_category"}
