"""What a view keeps between pages is what was committed, never what a page only staged."""

from __future__ import annotations

from projections.page_memory import PageMemory


def test_a_staged_value_is_kept_only_once_its_page_committed() -> None:
    # Given a memory whose page staged a value
    memory: PageMemory[str, int] = PageMemory(10)
    memory.begin(("runner", 0))
    memory.stage("a", 1)
    # Then it is not kept before the commit, and it is after
    assert memory.get("a") is None
    memory.promote(("runner", 5))
    assert memory.get("a") == 1


def test_a_page_that_did_not_commit_leaves_nothing_behind() -> None:
    memory: PageMemory[str, int] = PageMemory(10)
    memory.begin(("runner", 0))
    memory.stage("a", 1)
    memory.promote(("runner", 5))
    # When a page stages a change and never commits, and the next begins where it stood
    memory.begin(("runner", 5))
    memory.stage("a", 2)
    memory.begin(("runner", 5))
    memory.promote(("runner", 9))
    # Then the committed value is kept, the staged one is gone
    assert memory.get("a") == 1


def test_a_page_begun_on_another_committed_state_starts_empty() -> None:
    memory: PageMemory[str, int] = PageMemory(10)
    memory.begin(("runner", 0))
    memory.stage("a", 1)
    memory.promote(("runner", 5))
    # When another writer moved the position (or another runner, or a table, took over)
    memory.begin(("runner", 8))
    # Then nothing kept is used
    assert memory.get("a") is None and len(memory) == 0


def test_past_its_limit_the_least_recently_written_go_with_their_group() -> None:
    # Given values grouped in pairs (one merge tree's streams)
    pairs = {"a": ("a", "b"), "b": ("a", "b"), "c": ("c", "d"), "d": ("c", "d"),
             "e": ("e", "f"), "f": ("e", "f")}
    memory: PageMemory[str, tuple[str, str]] = PageMemory(4, group=lambda v: v)
    memory.begin(None)
    for key in "abcd":
        memory.stage(key, pairs[key])
    memory.promote(1)
    # When a page writes the first pair again (a tree is staged whole), then a new one
    memory.begin(1)
    for key in "abef":
        memory.stage(key, pairs[key])
    memory.promote(2)
    # Then the least recently written pair went, whole
    assert len(memory) == 4
    assert memory.get("c") is None and memory.get("d") is None
    assert all(memory.get(k) == pairs[k] for k in "abef")
