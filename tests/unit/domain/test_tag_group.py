"""The TagGroup aggregate: its own rules (names, tags, archiving)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.errors import InvalidInput, TagGroupArchived
from domain.tag_group import TagGroup

AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
BY = "staff:manager-1"


def levels() -> TagGroup:
    return TagGroup.create("客户等级", ["A", "B", "C"], True, BY, AT)


def test_a_created_group_records_its_name_tags_exclusivity_and_who_and_when() -> None:
    # Given / When
    group = levels()
    # Then
    (created,) = group.collect_events()
    assert isinstance(created, TagGroup.Created)
    assert (created.name, created.tags, created.exclusive) == ("客户等级", ["A", "B", "C"], True)
    assert (created.by, created.occurred_at) == (BY, AT)


@pytest.mark.parametrize(("name", "tags", "field"), [
    ("", ["A"], "name"),
    ("x" * 65, ["A"], "name"),
    ("等\x07级", ["A"], "name"),
    ("等\u2028级", ["A"], "name"),
    ("等级", [], "tags"),
    ("等级", ["A", "A"], "tags"),
    ("等级", ["A", " A "], "tags"),
    ("等级", ["B\x00"], "tags"),
    ("等级", ["y" * 65], "tags"),
    ("等级", ["  "], "tags"),
])
def test_names_and_tags_must_be_1_to_64_characters_without_controls_or_duplicates(
    name: str, tags: list[str], field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        TagGroup.create(name, tags, False, BY, AT)
    assert caught.value.field == field


def test_names_and_tags_are_trimmed_and_may_be_any_script_or_emoji() -> None:
    group = TagGroup.create("  购买力 ", [" 高 ", "中", "👨‍👩‍👧 宝妈"], False, BY, AT)
    assert group.name == "购买力" and group.tags == ["高", "中", "👨‍👩‍👧 宝妈"]


def test_adding_tags_keeps_the_order_and_skips_those_already_held() -> None:
    group = levels()
    assert group.add_tags(["C", "D"], BY, AT) == ["D"]
    assert group.add_tags(["A"], BY, AT) == []  # nothing new: no event
    assert group.tags == ["A", "B", "C", "D"]
    assert [type(e) for e in group.collect_events()] == [TagGroup.Created, TagGroup.TagsAdded]


def test_removing_renaming_and_archiving_change_nothing_when_already_so() -> None:
    group = levels()
    assert group.remove_tag("Z", BY, AT) is False
    group.rename("客户等级", BY, AT)
    assert group.archive(BY, AT) is True
    assert group.archive(BY, AT) is False
    assert [type(e) for e in group.collect_events()] == [TagGroup.Created, TagGroup.Archived]
    assert group.archived_at == AT


def test_an_archived_group_refuses_every_change() -> None:
    # Given an archived group
    group = levels()
    group.archive(BY, AT)
    # When / Then
    for change in (lambda: group.rename("等级", BY, AT), lambda: group.add_tags(["D"], BY, AT),
                   lambda: group.remove_tag("A", BY, AT)):
        with pytest.raises(TagGroupArchived):
            change()


def test_a_group_replays_to_the_same_state_from_its_events() -> None:
    # Given a group with a history
    group = levels()
    group.add_tags(["D"], BY, AT)
    group.remove_tag("A", BY, AT)
    group.rename("等级", BY, AT)
    group.archive(BY, AT)
    events = group.collect_events()
    # When it is rebuilt from its events
    replayed = None
    for e in events:
        replayed = e.mutate(replayed)
    # Then it is the same group
    assert isinstance(replayed, TagGroup)
    assert (replayed.name, replayed.tags, replayed.exclusive, replayed.archived_at) == (
        "等级", ["B", "C", "D"], True, AT)
