"""A rebuild run in its caller's process settles the cycle collector for the fold only."""

from __future__ import annotations

import gc

from siyu.garbage import settled


def test_the_collector_is_settled_inside_the_block_and_as_it_was_after() -> None:
    # Given the collector's thresholds as they are
    before = gc.get_threshold()
    # When a block runs settled
    with settled():
        inside = gc.get_threshold()
    # Then young objects were collected far less often inside, and as before after it
    assert inside[0] == 20_000 > before[0]
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
