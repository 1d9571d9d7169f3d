"""A customer group as the group sync observes it: only what changed is recorded, nothing
once it is dismissed, and the facts replay to the same state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.wecom_directory import CustomerGroup

AT = datetime(2026, 12, 7, 2, tzinfo=UTC)
BY = "service:group-sync"


def test_observing_records_only_what_changed() -> None:
    # Given a group WeCom's callback created without a name
    group = CustomerGroup(corp_id="ww1", chat_id="wr1", owner="zhang", by="service:wecom",
                          occurred_at=AT)
    # When the sync sees it, then sees the same again, then a transfer and a new count
    first = group.observe("福利群", "zhang", 10, 2, BY, AT + timedelta(hours=1))
    same = group.observe("福利群", "zhang", 10, 2, BY, AT + timedelta(hours=2))
    later = group.observe("福利群", "li", 11, 2, BY, AT + timedelta(hours=3))
    # Then each pass recorded only what changed, with who and when
    assert (first, same, later) == (["renamed", "counted"], [], ["owner_changed", "counted"])
    events = group.collect_events()
    assert [type(e).__name__ for e in events] == [
        "Created", "Renamed", "MembersCounted", "OwnerChanged", "MembersCounted"]
    changed = [e for e in events if isinstance(e, CustomerGroup.OwnerChanged)]
    assert [(e.owner, e.by, e.occurred_at) for e in changed] == [
        ("li", BY, AT + timedelta(hours=3))]
    # And the facts replay to the same state
    replayed = None
    for event in events:
        replayed = event.mutate(replayed)
    assert isinstance(replayed, CustomerGroup)
    assert (replayed.name, replayed.owner, replayed.counts) == ("福利群", "li", (11, 2))


def test_a_dismissed_group_records_nothing_more_and_bad_counts_are_refused() -> None:
    group = CustomerGroup(corp_id="ww1", chat_id="wr1", owner="zhang", by="service:wecom",
                          occurred_at=AT)
    with pytest.raises(ValueError):
        group.observe("群", "", 1, 0, BY, AT)
    group.dismiss(BY, AT)
    assert group.observe("群", "li", 1, 0, BY, AT) == []
