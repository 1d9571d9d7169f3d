"""The segment rule language (parse_rule, is_time_dependent) and the Segment aggregate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.errors import InvalidInput
from domain.segment import MAX_DESCRIPTION, MAX_NAME, Segment, SegmentArchived
from domain.segment_rules import (
    MAX_COUNT,
    MAX_DAYS,
    MAX_DEPTH,
    MAX_FEN,
    MAX_LIST,
    MAX_NODES,
    MAX_TEXT,
    InvalidRule,
    is_time_dependent,
    parse_rule,
)

AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def refusal(rule: Any) -> InvalidRule:
    with pytest.raises(InvalidRule) as caught:
        parse_rule(rule)
    return caught.value


def nested(depth: int) -> dict[str, Any]:
    rule: dict[str, Any] = {"tagIn": ["a"]}
    for _ in range(depth - 1):
        rule = {"not": rule}
    return rule


# -- canonical form ---------------------------------------------------------------------------
def test_tag_lists_are_sorted_stripped_and_deduplicated() -> None:
    # Given a tag list out of order, with a duplicate and padding
    rule = {"tagIn": ["vip", " 宝妈 ", "vip", "a"]}
    # When it is parsed
    parsed = parse_rule(rule)
    # Then the canonical form is the sorted set of stripped tags
    assert parsed == {"tagIn": ["a", "vip", "宝妈"]}


def test_an_omitted_window_becomes_an_explicit_null() -> None:
    assert parse_rule({"ordered": {"atLeast": 2}}) == {
        "ordered": {"atLeast": 2, "withinDays": None}}
    assert parse_rule({"gmv": {"atLeastFen": 100, "withinDays": None}}) == {
        "gmv": {"atLeastFen": 100, "withinDays": None}}


def test_rfm_lists_every_score_with_null_for_the_ones_not_given() -> None:
    assert parse_rule({"rfm": {"monetaryAtLeast": 3}}) == {
        "rfm": {"recencyAtLeast": None, "frequencyAtLeast": None, "monetaryAtLeast": 3}}


def test_two_spellings_of_the_same_rule_have_one_canonical_form() -> None:
    # Given the same rule written twice with different list orders and a missing null
    first = {"all": [{"hasAllTags": ["b", "a"]}, {"not": {"ordered": {"atLeast": 1}}}]}
    second = {"all": [{"hasAllTags": ["a", "b", "a"]},
                      {"not": {"ordered": {"withinDays": None, "atLeast": 1}}}]}
    # Then both parse to the same value, and parsing is idempotent
    assert parse_rule(first) == parse_rule(second)
    assert parse_rule(parse_rule(first)) == parse_rule(first)


def test_children_of_all_and_any_keep_their_order() -> None:
    rule = {"any": [{"tagIn": ["z"]}, {"tagIn": ["a"]}]}
    assert parse_rule(rule) == rule


def test_text_predicates_are_stripped_and_choices_kept() -> None:
    assert parse_rule({"friendOf": " s1 "}) == {"friendOf": "s1"}
    assert parse_rule({"lifecycle": "SILENT"}) == {"lifecycle": "SILENT"}
    assert parse_rule({"positioning": "SERVICE_HUB"}) == {"positioning": "SERVICE_HUB"}
    assert parse_rule({"isFriend": False}) == {"isFriend": False}


# -- refusals name the field ------------------------------------------------------------------
@pytest.mark.parametrize(("rule", "field"), [
    ({"ordered": {"atLeast": 0}}, "rule.ordered.atLeast"),
    ({"ordered": {}}, "rule.ordered.atLeast"),
    ({"ordered": {"atLeast": 1, "withinDays": 0}}, "rule.ordered.withinDays"),
    ({"ordered": {"atLeast": 1, "since": 3}}, "rule.ordered.since"),
    ({"ordered": 3}, "rule.ordered"),
    ({"gmv": {"withinDays": 7}}, "rule.gmv.atLeastFen"),
    ({"gmv": {"atLeastFen": MAX_FEN + 1}}, "rule.gmv.atLeastFen"),
    ({"all": [{"tagIn": ["a"]}, {"ordered": {"atLeast": 1, "withinDays": MAX_DAYS + 1}}]},
     "rule.all[1].ordered.withinDays"),
    ({"any": [{"not": {"inactiveDays": 0}}]}, "rule.any[0].not.inactiveDays"),
    ({"all": []}, "rule.all"),
    ({"any": {"tagIn": ["a"]}}, "rule.any"),
    ({"tagIn": []}, "rule.tagIn"),
    ({"tagIn": "vip"}, "rule.tagIn"),
    ({"tagIn": ["ok", "  "]}, "rule.tagIn[1]"),
    ({"tagIn": ["ok", "bad\u0000tag"]}, "rule.tagIn[1]"),
    ({"hasAllTags": ["x" * (MAX_TEXT + 1)]}, "rule.hasAllTags[0]"),
    ({"hasAllTags": ["\ud800"]}, "rule.hasAllTags[0]"),
    ({"friendOf": ""}, "rule.friendOf"),
    ({"inGroup": 7}, "rule.inGroup"),
    ({"memberLevel": None}, "rule.memberLevel"),
    ({"joinedVia": "qr\x7f"}, "rule.joinedVia"),
    ({"lifecycle": "new"}, "rule.lifecycle"),
    ({"positioning": "HUB"}, "rule.positioning"),
    ({"rfm": {}}, "rule.rfm"),
    ({"rfm": {"recencyAtLeast": 6}}, "rule.rfm.recencyAtLeast"),
    ({"rfm": {"frequencyAtLeast": -1}}, "rule.rfm.frequencyAtLeast"),
    ({"rfm": {"loyalty": 1}}, "rule.rfm.loyalty"),
    ({"referralsAtLeast": 0}, "rule.referralsAtLeast"),
    ({"referralsAtLeast": MAX_COUNT + 1}, "rule.referralsAtLeast"),
    ({"isFriend": 1}, "rule.isFriend"),
    ({"isFriend": "true"}, "rule.isFriend"),
    ({"activeWithinDays": 1.5}, "rule.activeWithinDays"),
    ({"activeWithinDays": "7"}, "rule.activeWithinDays"),
    ({"not": {}}, "rule.not"),
    ({"not": {"tagIn": ["a"], "inGroup": "g"}}, "rule.not"),
    ([{"tagIn": ["a"]}], "rule"),
    ({"all": [{"tagIn": ["a"]}, {"ageAbove": 30}]}, "rule.all[1].ageAbove"),
])
def test_every_refusal_names_the_exact_place_at_fault(rule: Any, field: str) -> None:
    # When an invalid rule is parsed, Then the refusal names the offending field path
    error = refusal(rule)
    assert error.field == field
    assert error.code == "INVALID_SEGMENT_RULE"
    assert isinstance(error, InvalidInput)


def test_a_custom_root_name_prefixes_every_path() -> None:
    with pytest.raises(InvalidRule) as caught:
        parse_rule({"any": [{"tagIn": []}]}, where="input.rule")
    assert caught.value.field == "input.rule.any[0].tagIn"


@pytest.mark.parametrize("flag", [True, False])
def test_booleans_are_not_whole_numbers(flag: bool) -> None:
    # Given a boolean where a count or a number of days is expected (True == 1 in Python)
    for rule, field in [({"inactiveDays": flag}, "rule.inactiveDays"),
                        ({"referralsAtLeast": flag}, "rule.referralsAtLeast"),
                        ({"ordered": {"atLeast": flag}}, "rule.ordered.atLeast"),
                        ({"rfm": {"monetaryAtLeast": flag}}, "rule.rfm.monetaryAtLeast")]:
        # Then it is refused at that field
        assert refusal(rule).field == field


def test_unknown_predicates_are_refused_with_their_name() -> None:
    error = refusal({"spendsAlot": True})
    assert error.field == "rule.spendsAlot"
    assert "spendsAlot" in error.message


# -- limits -----------------------------------------------------------------------------------
def test_days_run_from_one_to_the_maximum_inclusive() -> None:
    assert parse_rule({"inactiveDays": 1}) == {"inactiveDays": 1}
    assert parse_rule({"activeWithinDays": MAX_DAYS}) == {"activeWithinDays": MAX_DAYS}
    assert refusal({"inactiveDays": MAX_DAYS + 1}).field == "rule.inactiveDays"
    assert refusal({"activeWithinDays": 0}).field == "rule.activeWithinDays"
    assert refusal({"gmv": {"atLeastFen": 1, "withinDays": -1}}).field == "rule.gmv.withinDays"


def test_counts_and_money_accept_their_bounds() -> None:
    assert parse_rule({"referralsAtLeast": MAX_COUNT}) == {"referralsAtLeast": MAX_COUNT}
    assert parse_rule({"gmv": {"atLeastFen": MAX_FEN}})["gmv"]["atLeastFen"] == MAX_FEN
    assert parse_rule({"rfm": {"recencyAtLeast": 0}})["rfm"]["recencyAtLeast"] == 0


def test_a_rule_may_nest_exactly_the_maximum_depth() -> None:
    # Given chains of `not` as deep as allowed and one level deeper
    assert parse_rule(nested(MAX_DEPTH)) == nested(MAX_DEPTH)
    # Then the deeper one is refused at the node that is too deep
    error = refusal(nested(MAX_DEPTH + 1))
    assert error.field == "rule" + ".not" * MAX_DEPTH
    assert "nest" in error.message


def test_a_rule_may_have_at_most_the_maximum_number_of_nodes() -> None:
    # Given an `all` of three `any` groups holding predicates: 1 + 3 * (1 + 20) = 64 nodes
    groups: list[dict[str, list[dict[str, Any]]]] = [
        {"any": [{"tagIn": [f"t{g}-{i}"]} for i in range(20)]} for g in range(3)]
    assert len(parse_rule({"all": groups})["all"]) == 3
    # When one more predicate is added
    groups[2]["any"].append({"inGroup": "g"})
    # Then the rule is refused at the first node over the limit
    error = refusal({"all": groups})
    assert error.field == "rule.all[2].any[20]"
    assert str(MAX_NODES) in error.message


def test_lists_hold_at_most_the_maximum_number_of_values() -> None:
    tags = [f"t{i}" for i in range(MAX_LIST)]
    assert parse_rule({"tagIn": tags}) == {"tagIn": sorted(tags)}
    assert refusal({"tagIn": [*tags, "one-more"]}).field == "rule.tagIn"
    children = [{"tagIn": [f"t{i}"]} for i in range(MAX_LIST + 1)]
    assert refusal({"any": children}).field == "rule.any"


# -- time dependence --------------------------------------------------------------------------
@pytest.mark.parametrize(("rule", "expected"), [
    ({"lifecycle": "NEW"}, True),
    ({"inactiveDays": 30}, True),
    ({"activeWithinDays": 7}, True),
    ({"rfm": {"frequencyAtLeast": 3}}, True),
    ({"ordered": {"atLeast": 2, "withinDays": 30}}, True),
    ({"gmv": {"atLeastFen": 100, "withinDays": 30}}, True),
    ({"ordered": {"atLeast": 2}}, False),
    ({"gmv": {"atLeastFen": 100}}, False),
    ({"tagIn": ["vip"]}, False),
    ({"all": [{"tagIn": ["vip"]}, {"not": {"isFriend": True}}]}, False),
    ({"all": [{"tagIn": ["vip"]}, {"any": [{"inGroup": "g"}, {"not": {"inactiveDays": 3}}]}]},
     True),
])
def test_a_rule_is_time_dependent_when_any_predicate_reads_the_clock(
        rule: dict[str, Any], expected: bool) -> None:
    assert is_time_dependent(parse_rule(rule)) is expected


# -- the Segment aggregate --------------------------------------------------------------------
def define(rule: Any = None, name: str = "复购客户", description: str = "") -> Segment:
    return Segment.define(name, description, rule or {"ordered": {"atLeast": 2}}, "staff:m", AT)


def test_defining_a_segment_records_the_canonical_rule_as_version_one() -> None:
    # When a segment is defined with a padded name and a non-canonical rule
    segment = define({"tagIn": ["b", "a", "b"]}, name="  vip  ", description=" top ")
    # Then it holds the cleaned name, the canonical rule, version 1, and one Defined event
    assert (segment.name, segment.description, segment.rule, segment.rule_version) == (
        "vip", "top", {"tagIn": ["a", "b"]}, 1)
    assert segment.archived_at is None
    events = segment.collect_events()
    assert [type(e) for e in events] == [Segment.Defined]
    defined = events[0]
    assert isinstance(defined, Segment.Defined)
    assert (defined.by, defined.occurred_at) == ("staff:m", AT)


@pytest.mark.parametrize("name", ["", "   ", "x" * (MAX_NAME + 1), "tab\there"])
def test_a_segment_needs_a_printable_name_of_bounded_length(name: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        define(name=name)
    assert caught.value.field == "name"


@pytest.mark.parametrize("description", ["x" * (MAX_DESCRIPTION + 1), "bell\x07"])
def test_a_description_is_bounded_and_printable(description: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        define(description=description)
    assert caught.value.field == "description"


def test_a_description_may_span_lines() -> None:
    assert define(description="line one\n\tline two").description == "line one\n\tline two"


def test_defining_with_an_invalid_rule_records_nothing() -> None:
    with pytest.raises(InvalidRule) as caught:
        define({"ordered": {"atLeast": -1}})
    assert caught.value.field == "rule.ordered.atLeast"


def test_revising_the_rule_records_the_next_version() -> None:
    # Given a defined segment
    segment = define()
    segment.collect_events()
    # When its rule is revised twice
    assert segment.revise({"ordered": {"atLeast": 3}}, "staff:m", AT + timedelta(hours=1))
    assert segment.revise({"ordered": {"atLeast": 4}}, "staff:m", AT + timedelta(hours=2),
                          name="loyal")
    # Then each revision is an event with the next rule version
    events = segment.collect_events()
    assert [type(e) for e in events] == [Segment.Revised, Segment.Revised]
    assert [e.rule_version for e in events if isinstance(e, Segment.Revised)] == [2, 3]
    assert (segment.rule_version, segment.name, segment.rule) == (
        3, "loyal", {"ordered": {"atLeast": 4, "withinDays": None}})


def test_revising_with_the_same_rule_in_another_spelling_records_nothing() -> None:
    # Given a segment whose rule is canonical
    segment = define({"all": [{"tagIn": ["a", "b"]}, {"ordered": {"atLeast": 2}}]},
                     description="d")
    segment.collect_events()
    # When it is "revised" to the same rule written differently, same name and description
    changed = segment.revise({"all": [{"tagIn": ["b", "a"]},
                                      {"ordered": {"atLeast": 2, "withinDays": None}}]},
                             "staff:m", AT, name=" 复购客户 ", description="d")
    # Then nothing is recorded and the version stays
    assert changed is False
    assert segment.collect_events() == []
    assert segment.rule_version == 1


def test_changing_only_the_description_is_a_new_version() -> None:
    segment = define()
    assert segment.revise(segment.rule, "staff:m", AT, description="now described")
    assert segment.rule_version == 2


def test_a_revision_with_an_invalid_rule_is_refused_at_its_field() -> None:
    segment = define()
    with pytest.raises(InvalidRule) as caught:
        segment.revise({"any": [{"tagIn": ["a"]}, {"inactiveDays": 99999}]}, "staff:m", AT)
    assert caught.value.field == "rule.any[1].inactiveDays"
    assert segment.rule_version == 1


def test_an_archived_segment_refuses_revision_and_archives_once() -> None:
    # Given an archived segment
    segment = define()
    assert segment.archive("staff:m", AT + timedelta(days=1)) is True
    assert segment.archived_at == AT + timedelta(days=1)
    # When it is archived again, nothing is recorded
    assert segment.archive("staff:m", AT + timedelta(days=2)) is False
    assert [type(e) for e in segment.collect_events()] == [Segment.Defined, Segment.Archived]
    # And a revision is refused with a stable code
    with pytest.raises(SegmentArchived) as caught:
        segment.revise({"ordered": {"atLeast": 9}}, "staff:m", AT)
    assert caught.value.code == "SEGMENT_ARCHIVED"
    assert segment.rule_version == 1


def test_bought_from_category_defaults_to_one_order_and_is_time_dependent_with_a_window() -> None:
    # Given a category rule with only the category
    rule = parse_rule({"boughtFromCategory": {"category": " tea:green "}})
    # Then its canonical form says one order, no spend floor, no window
    assert rule == {"boughtFromCategory": {"category": "tea:green", "atLeast": 1,
                                           "atLeastFen": None, "withinDays": None}}
    assert not is_time_dependent(rule)
    # and with a window it changes as time passes
    assert is_time_dependent(parse_rule({"boughtProduct": {"sku": "TEA-LJ", "withinDays": 30}}))


@pytest.mark.parametrize(("rule", "field"), [
    ({"boughtFromCategory": {"category": "tea:"}}, "rule.boughtFromCategory.category"),
    ({"boughtFromCategory": {"atLeast": 2}}, "rule.boughtFromCategory.category"),
    ({"boughtFromCategory": {"category": "tea", "atLeastFen": 0}},
     "rule.boughtFromCategory.atLeastFen"),
    ({"boughtFromCategory": {"category": "tea", "withinDays": 99999}},
     "rule.boughtFromCategory.withinDays"),
    ({"boughtFromCategory": {"category": "tea", "brand": "x"}}, "rule.boughtFromCategory.brand"),
    ({"boughtProduct": {"sku": " TEA"}}, "rule.boughtProduct.sku"),
    ({"any": [{"boughtProduct": {"sku": "TEA", "atLeast": 0}}]},
     "rule.any[0].boughtProduct.atLeast"),
])
def test_a_bad_product_or_category_rule_is_refused_at_its_field(rule: dict[str, Any],
                                                                field: str) -> None:
    with pytest.raises(InvalidRule) as caught:
        parse_rule(rule)
    assert caught.value.field == field
    assert caught.value.code == "INVALID_SEGMENT_RULE"
