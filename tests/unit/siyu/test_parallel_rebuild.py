"""``siyu rebuild`` splits the read models it builds as ``siyu projections`` does."""

from __future__ import annotations

from projections.groups import GROUPS
from siyu.parallel_rebuild import parts_of
from siyu.processes import read_model_views


def test_every_read_model_is_built_by_exactly_one_process_of_the_default_split() -> None:
    # Given every read model
    names = [v.name for v in read_model_views()]
    # When the rebuild is split
    parts = parts_of(names)
    # Then the profile is built alone, beside everything else, each once
    assert parts[0] == list(GROUPS["profile"])
    assert sorted(n for part in parts for n in part) == sorted(names)
    assert len(parts) == 2


def test_a_rebuild_of_one_part_runs_in_one_process() -> None:
    assert parts_of(["tag_group", "campaign"]) == [["tag_group", "campaign"]]
    assert parts_of([]) == []
