"""The campaign rate limiter, shared by every worker through PostgreSQL."""

from __future__ import annotations

import itertools
import threading
import time
from uuid import UUID

import pytest

from application.app import Siyu
from projections.runner import Tracker
from tests.integration.workers.test_campaign_sends_on_postgres import (  # noqa: F401 - the fixture
    RecordingGateway,
    launched,
    running,
)
from workers.campaign_sending import CampaignDeps, send_chunk
from workers.campaign_store import CampaignStore
from workers.campaigns import CampaignDispatcher

pytestmark = pytest.mark.integration


def test_reservations_from_two_stores_never_overlap_and_follow_the_rate(pg_url: str) -> None:
    # Given two stores (two worker processes) reserving 10 sends at a time at 200/s
    stores = [CampaignStore.connect(pg_url) for _ in range(2)]
    starts: list[float] = []
    lock = threading.Lock()

    def take(store: CampaignStore) -> None:
        for _ in range(10):
            start = store.reserve("campaign:test", 200.0, 10).timestamp()
            with lock:
                starts.append(start)

    try:
        threads = [threading.Thread(target=take, args=(s,)) for s in stores for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wait = stores[0].reserve_wait("campaign:test", 200.0, 1)
    finally:
        for store in stores:
            store.close()
    # Then the 40 batches are 50 ms apart, back to back, and the next slot is after them
    starts.sort()
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(gap >= 0.05 - 1e-6 for gap in gaps)
    assert starts[-1] - starts[0] == pytest.approx(39 * 0.05, abs=0.5)
    assert wait > 0


def test_a_chunk_sends_at_the_configured_rate(pg_app: Siyu, pg_url: str,
                                              running: Tracker) -> None:  # noqa: F811
    # Given a launched campaign to 60 customers and a limit of 100 sends/s on its channel
    campaign_id = launched(pg_app, running, 60)
    store = CampaignStore.connect(pg_url)
    gateway = RecordingGateway()
    stamps: list[float] = []
    original = gateway.send_direct

    def stamped(*args: object, **kwargs: object) -> object:
        stamps.append(time.monotonic())
        return original(*args, **kwargs)  # type: ignore[arg-type]

    gateway.send_direct = stamped  # type: ignore[assignment,method-assign]
    deps = CampaignDeps(app=pg_app, store=store, gateway=gateway,
                        rates={"mini_program": 100.0})
    messages: list[tuple[str, int, list[str]]] = []
    try:
        CampaignDispatcher(store, lambda c, s, i: messages.append((c, s, i))).run_once()
        [(campaign, step, ids)] = messages
        # When the chunk is sent
        before = time.monotonic()
        assert send_chunk(deps, UUID(campaign), step, [UUID(i) for i in ids]) == 60
    finally:
        store.close()
    # Then no send ran ahead of its turn: the n-th went at least n intervals of 10 ms
    # after the chunk began (a send held up — the first, by its intent's commit on a loaded
    # machine — may leave the next ones less than 10 ms after it: they keep their turns,
    # not its lateness), the last 59 intervals after; each customer once
    assert campaign_id == UUID(campaign)
    assert all(at - before >= n * 0.01 - 0.005 for n, at in enumerate(stamps)), [
        round(at - before, 4) for at in stamps]
    assert 0.59 - 0.005 <= stamps[-1] - before < 2.0
    assert len(gateway.receipts) == 60 and set(gateway.receipts.values()) == {1}
