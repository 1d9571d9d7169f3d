"""A shadow rebuild (``siyu verify``) reads the log in pages of its own order: a page
reads as many rows as it holds, however much of the log lies after it, even on a log the
planner has no statistics of."""

from __future__ import annotations

import pytest

from application.app import Siyu
from bench import workload
from projections import topic_pages
from projections.runner import Tracker
from projections.shadow import _CappedRunner
from siyu.processes import read_model_views
from tests.support.log_reads import counted, forget_statistics

pytestmark = pytest.mark.integration


def test_a_capped_rebuild_s_pages_read_no_more_of_a_never_analyzed_log_than_they_hold(
        pg_app: Siyu, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a log the planner has no statistics of (just loaded or restored)
    pg_app.ingestion.record_batch(workload.items(600, customers=60, seed=8), "service:test")
    head = pg_app.recorder.max_notification_id() or 0
    forget_statistics(pg_url)
    # When the as-of read model is folded up to the head in pages of 50 notifications
    reads: list[tuple[int, int]] = []
    monkeypatch.setattr(topic_pages, "fetch", counted(topic_pages.fetch, reads))
    view = next(v for v in read_model_views() if v.name == "siyu_customer_as_of")
    runner = _CappedRunner(pg_app, view, Tracker(pg_app.factory.datastore),  # type: ignore[attr-defined]
                           page_size=50)
    runner.cap = head
    runner.catch_up()
    # Then each page read the log in order up to its 50th notification, not the rest of
    # the log up to the cap, sorted
    pages = [read for given, read in reads if given]
    assert len(pages) >= head // 50
    assert max(pages) <= 2 * 50
    assert runner.tracker.position(view.name) == head
