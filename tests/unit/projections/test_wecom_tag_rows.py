"""``wecom_corp_tag`` rows are a pure fold of ``CorpTagLibrary.Listed``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.wecom_directory import CorpTagLibrary
from projections.wecom_tags import apply
from projections.wecom_tags.view import touched

AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def test_a_listed_tag_is_upserted_a_gone_one_kept_as_removed_and_a_replay_changes_nothing(
) -> None:
    library = CorpTagLibrary(corp_id="ww1", by="s", occurred_at=AT)
    a = {"tag_id": "et1", "name": "A", "group_id": "g1", "group_name": "客户等级",
         "order": 2, "group_order": 1}
    library.record_listing([a], "s", AT)
    library.record_listing([], "s", AT + timedelta(hours=1))
    first, second = library.collect_events()[1:]
    assert touched(first) == ["et1"] and touched(second) == ["et1"]
    row = apply(None, "et1", first, 10)
    assert row is not None and row["name"] == "A" and row["corp_id"] == "ww1"
    assert row["tag_order"] == 2 and row["removed_at"] is None
    removed = apply(row, "et1", second, 11)
    assert removed is not None and removed["removed_at"] == AT + timedelta(hours=1)
    assert apply(removed, "et1", first, 10) == removed  # already folded
