"""A rebuild run in its caller's process settles the cycle collector for the fold only."""

from __future__ import annotations

import gc

from siyu.garbage import settled


def test_the_collector_is_settled_inside_the_block_and_as_it_was_after() -> None:
    # Given Python's default thresholds (whatever an earlier test in this process settled)
    earlier = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    frozen = gc.get_freeze_count()
    try:
        # When a block runs settled
        with settled():
            inside = gc.get_threshold()
        # Then young objects were collected far less often inside, and as before after it;
        # nothing frozen before the block is thawed (nor anything left frozen if nothing was)
        assert inside[0] == 20_000 > 700
        assert gc.get_threshold() == (700, 10, 10)
        assert (gc.get_freeze_count() == 0) if not frozen else (gc.get_freeze_count() >= frozen)
    finally:
        gc.set_threshold(*earlier)
