"""tag_group rows as a pure function of the events (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.tag_group import TagGroup
from projections.tag_groups import apply

AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def test_a_group_row_follows_its_events_and_says_who_changed_it_last() -> None:
    # Given a group's history
    group = TagGroup.create("客户等级", ["A", "B"], True, "staff:m1", AT)
    group.add_tags(["C"], "staff:m2", AT + timedelta(hours=1))
    group.remove_tag("A", "staff:m2", AT + timedelta(hours=2))
    group.rename("等级", "staff:m2", AT + timedelta(hours=3))
    group.archive("service:ops", AT + timedelta(hours=4))
    # When its events are folded
    row = None
    for position, event in enumerate(group.collect_events(), start=10):
        row = apply(row, event, position)
    # Then the row is the group now
    assert row is not None
    assert (row["name"], row["tags"], row["exclusive"]) == ("等级", ["B", "C"], True)
    assert (row["created_by"], row["created_at"], row["position"]) == ("staff:m1", AT, 10)
    assert (row["archived_by"], row["archived_at"]) == ("service:ops", AT + timedelta(hours=4))
    assert (row["updated_by"], row["last_version"]) == ("service:ops", 5)


def test_applying_the_same_event_twice_changes_nothing() -> None:
    group = TagGroup.create("客户等级", ["A"], False, "staff:m1", AT)
    group.add_tags(["B"], "staff:m1", AT)
    created, added = group.collect_events()
    row = apply(apply(None, created, 1), added, 2)
    assert apply(apply(row, created, 1), added, 2) == row
    assert row is not None and row["tags"] == ["A", "B"]


def test_events_of_an_unknown_group_are_ignored() -> None:
    group = TagGroup.create("客户等级", ["A"], False, "staff:m1", AT)
    group.rename("x", "staff:m1", AT)
    _, renamed = group.collect_events()
    assert apply(None, renamed, 2) is None
