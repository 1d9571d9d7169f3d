"""The corp's tag library records what WeCom listed only when it differs from the last
listing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.errors import InvalidInput
from domain.wecom_directory import CorpTagLibrary

AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
BY = "service:corp-tags"


def tag(tag_id: str, name: str, group: str = "客户等级") -> dict[str, object]:
    return {"tag_id": tag_id, "name": name, "group_id": "g-" + group, "group_name": group,
            "order": 0, "group_order": 0}


def test_a_listing_is_recorded_once_and_only_its_differences_later() -> None:
    library = CorpTagLibrary(corp_id="ww1", by=BY, occurred_at=AT)
    # When WeCom lists A and B, twice
    assert library.record_listing([tag("et1", "A"), tag("et2", "B")], BY, AT)
    assert not library.record_listing([tag("et2", "B"), tag("et1", "A")], BY, AT)
    # Then a rename of B and the loss of A are the next event's whole content
    assert library.record_listing([tag("et2", "B+")], BY, AT)
    last = library.collect_events()[-1]
    assert isinstance(last, CorpTagLibrary.Listed) and last.corp_id == "ww1"
    assert [t["name"] for t in last.tags] == ["B+"] and last.gone == ["et1"]


def test_a_listed_tag_without_its_names_is_refused() -> None:
    library = CorpTagLibrary(corp_id="ww1", by=BY, occurred_at=AT)
    with pytest.raises(InvalidInput):
        library.record_listing([{**tag("et1", "A"), "group_name": ""}], BY, AT)
