"""The main job through a database restart and a kill -9 of the postmaster, under load:
the API, the projections and the worker resume on their own (no part restarted by the
supervisor), within 10 s of the database being back, with no acknowledged write lost or
stored twice, no ``INTERNAL`` answer, and read models equal to a rebuild afterwards.

``siyu demo`` runs as a process tree on a throwaway cluster of the test's own
(``tests/support/throwaway_pg.py``); the scenario is the ``db_restart_recovery``
benchmark's (``bench/operations.py``).
"""

from __future__ import annotations

import pytest

from bench.operations import outage_recovery

pytestmark = pytest.mark.integration


@pytest.mark.timeout(600)  # a demo start on a loaded 2-core machine
@pytest.mark.parametrize("outage", ["restart", "kill -9"])
def test_the_main_job_rides_out_a_database_outage_under_load(outage: str) -> None:
    # Given the main job ingesting through its API from 8 clients
    # When the database restarts (or its postmaster is killed and started again)
    found = outage_recovery(outage, customers=50, verify=True)
    # Then writes were acknowledged before and after, none lost or stored twice
    assert found.acknowledged > 0, found.statuses
    assert (found.lost, found.repeated) == (0, 0)
    # And nothing was answered INTERNAL (UNAVAILABLE while the database was away)
    assert found.internal == 0, found.statuses
    # And every part resumed by itself, within 10 s (20 s here: the suite runs loaded)
    assert found.restarts == 0
    assert found.seconds < 20, found
    # And, stopped, every read model equals a rebuild from the log (siyu verify)
    assert found.verified == 0
