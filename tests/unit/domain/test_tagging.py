"""Tag-library and tagging commands on in-memory persistence."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from adapters.memory_recorder import SiyuMemoryRecorder
from application.app import Siyu
from domain.customer import Customer
from domain.errors import (
    ExclusiveTagConflict,
    InvalidInput,
    TagGroupArchived,
    TagInOtherGroup,
    UnknownCustomer,
    UnknownTagGroup,
)
from domain.ingestion import EventItem
from domain.tag_group import TagGroup

AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
BY = "staff:manager-1"


def customer(app: Siyu, value: str = "u1", *items: EventItem) -> UUID:
    result = app.ingestion.record_batch(
        [EventItem(f"{value}-seen", "CONTENT_VIEWED", ("wx_unionid", value), AT,
                   content_id="c1"), *items], "service:test")
    customer_id = result.outcomes[0].customer_id
    assert customer_id is not None
    return customer_id


def tag_events(app: Siyu, customer_id: UUID) -> list[tuple[str, str, str]]:
    return [(type(e).__name__, e.tag, e.reason)
            for e in app.repository.event_store.get(customer_id)
            if isinstance(e, (Customer.Tagged, Customer.Untagged))]


def held(app: Siyu, customer_id: UUID) -> set[str]:
    found: Customer = app.repository.get(customer_id)
    return set(found.tags)


def test_creating_a_group_stores_it_and_claims_its_tags(memory_app: Siyu) -> None:
    # When a manager creates a group
    group_id, position = memory_app.tags.create_group("客户等级", ["A", "B"], True, BY, AT)
    # Then the group is stored, and its tags are claimed for it
    group: TagGroup = memory_app.repository.get(group_id)
    assert (group.name, group.tags, group.exclusive) == ("客户等级", ["A", "B"], True)
    assert position is not None
    claims = memory_app.recorder.tag_claims(["A", "B"])  # type: ignore[attr-defined]
    assert {(c.tag, c.group_id, c.live) for c in claims} == {("A", group_id, True),
                                                             ("B", group_id, True)}


def test_a_tag_belongs_to_at_most_one_live_group(memory_app: Siyu) -> None:
    # Given a group holding "A"
    memory_app.tags.create_group("客户等级", ["A", "B"], True, BY, AT)
    other, _ = memory_app.tags.create_group("购买力", ["高"], False, BY, AT)
    # When another group would hold "A" too, then it is refused, on creation and on addition
    with pytest.raises(TagInOtherGroup) as caught:
        memory_app.tags.create_group("重复", ["C", "A"], False, BY, AT)
    assert caught.value.field == "tags"
    with pytest.raises(TagInOtherGroup):
        memory_app.tags.add_to_group(other, ["A"], BY, AT)
    group: TagGroup = memory_app.repository.get(other)
    assert group.tags == ["高"]  # nothing of the refused change stays, even in the cache


def test_a_tag_is_free_again_once_removed_or_its_group_archived(
    memory_app: Siyu
) -> None:
    # Given a group holding A and B
    group_id, _ = memory_app.tags.create_group("客户等级", ["A", "B"], True, BY, AT)
    # When A is removed and the group archived
    memory_app.tags.remove_from_group(group_id, "A", BY, AT)
    memory_app.tags.archive_group(group_id, BY, AT)
    # Then both can join a new group
    new_id, _ = memory_app.tags.create_group("新等级", ["A", "B"], True, BY, AT)
    assert memory_app.repository.get(new_id).tags == ["A", "B"]


def test_the_side_table_refuses_a_claim_even_when_the_check_was_passed(
    memory_app: Siyu
) -> None:
    # Given a claim on "A" committed by another process after our check (simulated):
    # the store itself refuses a second live claim, so the command decides again and refuses
    memory_app.tags.create_group("客户等级", ["A"], False, BY, AT)
    recorder = memory_app.recorder
    assert isinstance(recorder, SiyuMemoryRecorder)
    real = recorder.tag_claims
    calls: list[int] = []

    def stale_then_real(tags: list[str]) -> object:
        calls.append(1)
        return [] if len(calls) == 1 else real(tags)

    recorder.tag_claims = stale_then_real  # type: ignore[assignment,method-assign]
    with pytest.raises(TagInOtherGroup):
        memory_app.tags.create_group("重复", ["A"], False, BY, AT)
    assert len(calls) == 2  # the first commit failed on the claim, the retry refused


def test_renaming_and_commands_on_unknown_groups(memory_app: Siyu) -> None:
    group_id, _ = memory_app.tags.create_group("客户等级", ["A"], False, BY, AT)
    memory_app.tags.rename_group(group_id, "等级", BY, AT)
    assert memory_app.repository.get(group_id).name == "等级"
    with pytest.raises(UnknownTagGroup) as caught:
        memory_app.tags.rename_group(uuid4(), "x", BY, AT)
    assert caught.value.field == "groupId"
    a_customer = customer(memory_app)
    with pytest.raises(UnknownTagGroup):
        memory_app.tags.archive_group(a_customer, BY, AT)  # a customer is not a group


def test_tagging_records_who_and_why_and_free_tags_stay_allowed(
    memory_app: Siyu
) -> None:
    # Given a customer and a group
    alice = customer(memory_app)
    memory_app.tags.create_group("购买力", ["高", "中"], False, BY, AT)
    # When staff tag her with a group tag and a free tag, twice
    memory_app.tags.tag(alice, ["高", "宝妈"], "staff:s1", "回访确认", AT)
    memory_app.tags.tag(alice, ["高"], "staff:s1", "again", AT)
    # Then each tag is recorded once, with who and why
    assert tag_events(memory_app, alice) == [("Tagged", "高", "回访确认"),
                                             ("Tagged", "宝妈", "回访确认")]
    tagged = next(e for e in memory_app.repository.event_store.get(alice)
                  if isinstance(e, Customer.Tagged))
    assert (tagged.by, tagged.occurred_at) == ("staff:s1", AT)


def test_an_exclusive_group_replaces_the_tag_the_customer_held(
    memory_app: Siyu
) -> None:
    # Given a customer of level A in the exclusive group 客户等级
    alice = customer(memory_app)
    levels, _ = memory_app.tags.create_group("客户等级", ["A", "B", "C"], True, BY, AT)
    memory_app.tags.tag(alice, ["A", "vip"], "staff:s1", "manual", AT)
    # When she is tagged B
    memory_app.tags.tag(alice, ["B"], "staff:s1", "升级", AT)
    # Then A was removed, saying why, and she holds B (and her free tag)
    assert held(memory_app, alice) == {"B", "vip"}
    assert tag_events(memory_app, alice)[-2:] == [("Untagged", "A", f"exclusive:{levels}"),
                                                  ("Tagged", "B", "升级")]


def test_two_tags_of_one_exclusive_group_at_once_are_refused(
    memory_app: Siyu
) -> None:
    alice = customer(memory_app)
    memory_app.tags.create_group("客户等级", ["A", "B"], True, BY, AT)
    memory_app.tags.create_group("兴趣", ["茶", "酒"], False, BY, AT)
    with pytest.raises(ExclusiveTagConflict):
        memory_app.tags.tag(alice, ["A", "B"], "staff:s1", "manual", AT)
    memory_app.tags.tag(alice, ["茶", "酒"], "staff:s1", "manual", AT)  # not exclusive
    assert held(memory_app, alice) == {"茶", "酒"}


def test_tags_of_an_archived_group_cannot_be_given_but_can_be_removed(
    memory_app: Siyu
) -> None:
    # Given a customer tagged A, and A's group archived
    alice = customer(memory_app)
    levels, _ = memory_app.tags.create_group("客户等级", ["A", "B"], True, BY, AT)
    memory_app.tags.tag(alice, ["A"], "staff:s1", "manual", AT)
    memory_app.tags.archive_group(levels, BY, AT)
    # When B is given, then it is refused, and nothing of the call is stored
    with pytest.raises(TagGroupArchived) as caught:
        memory_app.tags.tag(alice, ["vip", "B"], "staff:s1", "manual", AT)
    assert caught.value.field == "tags"
    assert held(memory_app, alice) == {"A"}
    # And A can still be removed
    memory_app.tags.untag(alice, ["A"], "staff:s1", "清理", AT)
    assert held(memory_app, alice) == set()
    assert tag_events(memory_app, alice)[-1] == ("Untagged", "A", "清理")


def test_untagging_ignores_tags_not_held(memory_app: Siyu) -> None:
    alice = customer(memory_app)
    assert memory_app.tags.untag(alice, ["nothing"], "staff:s1", "manual", AT) is None


def test_bad_tag_input_and_unknown_customers_are_refused(
    memory_app: Siyu
) -> None:
    alice = customer(memory_app)
    for tags, reason, field in (([], "r", "tags"), (["a", "a"], "r", "tags"),
                                (["a\x1b"], "r", "tags"), (["a"], " ", "reason"),
                                (["a"], "r" * 129, "reason")):
        with pytest.raises(InvalidInput) as caught:
            memory_app.tags.tag(alice, tags, "staff:s1", reason, AT)
        assert caught.value.field == field
    with pytest.raises(UnknownCustomer):
        memory_app.tags.tag(uuid4(), ["a"], "staff:s1", "manual", AT)


def test_a_merged_customer_is_tagged_on_its_survivor_and_loses_the_tags_it_brought(
    memory_app: Siyu
) -> None:
    # Given Bob, level A, merged into Alice
    alice = customer(memory_app, "alice")
    bob = customer(memory_app, "bob")
    levels, _ = memory_app.tags.create_group("客户等级", ["A", "B"], True, BY, AT)
    memory_app.tags.tag(bob, ["A"], "staff:s1", "manual", AT)
    memory_app.identity.merge(alice, bob, BY, AT)
    # When Bob's old id is tagged B
    memory_app.tags.tag(bob, ["B"], "staff:s1", "manual", AT)
    # Then the survivor holds B, and the A that Bob brought was removed where it was held
    assert held(memory_app, alice) == {"B"}
    assert held(memory_app, bob) == set()
    assert tag_events(memory_app, bob)[-1] == ("Untagged", "A", f"exclusive:{levels}")
