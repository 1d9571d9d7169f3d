"""The funnel's merge trees kept in memory between pages never get ahead of, nor differ
from, what is committed: a page rolled back (its events then applied again, in parts), a
quarantine probe, another runner writing meanwhile — each read model equals an
independent count of the log and a rebuild that keeps nothing."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pytest
from psycopg import Cursor
from psycopg.rows import DictRow

from application.app import Siyu
from projections.funnels import FunnelView
from projections.runner import BatchRunner, Tracker
from tests.integration.projections.test_funnels_on_postgres import expected, raw_log, rollups
from tests.integration.projections.test_quarantine_on_postgres import open_quarantine
from tests.support.funnel_history import record_history, record_merges

pytestmark = pytest.mark.integration


class FailingFunnelView(FunnelView):
    """Folds a page (staging its trees), then fails: once for the first page that holds
    a position of ``once``, every time for a page that holds one of ``always``."""

    def __init__(self, once: Iterable[int] = (), always: Iterable[int] = (),
                 kept: int = 100_000) -> None:
        super().__init__(kept)
        self.once, self.always = set(once), set(always)

    def apply_page(self, curs: Cursor[DictRow], events: Sequence[tuple[int, Any]]) -> None:
        super().apply_page(curs, events)
        positions = {n for n, _ in events}
        if positions & self.always:
            raise ValueError("cannot apply it")
        if positions & self.once:
            self.once -= positions
            raise ValueError("failed once")


def rebuilt_without_memory(app: Siyu, tracker: Tracker, always: Iterable[int] = ()
                           ) -> tuple[Any, Any, Any]:
    BatchRunner(app, FailingFunnelView(always=always, kept=0), tracker, page_size=997).rebuild()
    return rollups(app)


def test_pages_rolled_back_and_applied_again_in_parts_count_every_event_once(
        pg_app: Siyu) -> None:
    # Given a history projected page by page, its trees kept in memory
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    customers = record_history(pg_app)
    start = len(raw_log(pg_app))
    record_merges(pg_app, customers)
    log = raw_log(pg_app)
    # When pages fail after folding (and staging) their events, once each — the merges
    # among them — and the runner applies them again, split in halves
    folded = [n for n, e in log if type(e) in frozenset(FunnelView.events)]
    merges = [n for n, e in log[start:] if type(e).__name__ in ("MergedInto", "UnmergedFrom")]
    failing = {merges[0], merges[-1], folded[len(folded) // 3]}
    view = FailingFunnelView(once=failing)
    BatchRunner(pg_app, view, tracker, page_size=13).catch_up()
    # Then nothing is quarantined, every event counts once: the rollups are the raw log's
    assert view.once == set()
    assert open_quarantine(pg_app, "funnel_customer") == []
    assert rollups(pg_app) == expected(log)
    assert rollups(pg_app) == rebuilt_without_memory(pg_app, tracker)


def test_a_quarantine_probe_leaves_nothing_kept_behind(pg_app: Siyu) -> None:
    # Given a history with one event no page holding it can apply
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    record_merges(pg_app, record_history(pg_app))
    log = raw_log(pg_app)
    poison = {log[len(log) // 2][0]}
    # When the runner isolates it, probing the events after it in transactions rolled back
    BatchRunner(pg_app, FailingFunnelView(always=poison), tracker, page_size=40).catch_up()
    # Then only it is set aside, and the read model is a memoryless rebuild's (which skips it)
    assert [e.notification_id for e in open_quarantine(pg_app, "funnel_customer")] == [*poison]
    live = rollups(pg_app)
    assert live == rebuilt_without_memory(pg_app, tracker, always=poison)


def test_a_runner_whose_read_model_another_wrote_meanwhile_reads_its_rows_back(
        pg_app: Siyu) -> None:
    # Given two runners of the funnel, each keeping trees (a leader and its successor)
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    customers = record_history(pg_app)
    first = BatchRunner(pg_app, FunnelView(), tracker, page_size=50)
    second = BatchRunner(pg_app, FunnelView(), tracker, page_size=50)
    # When they take turns, page after page, the merges in the middle of it
    record_merges(pg_app, customers)
    turns = 0
    while (first if turns % 2 else second).run_once():
        turns += 1
    # Then each page started from what the other committed: every event counted once
    assert turns > 4
    assert rollups(pg_app) == expected(raw_log(pg_app))


def test_a_memory_smaller_than_the_customers_gives_the_same_read_model(pg_app: Siyu) -> None:
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    record_merges(pg_app, record_history(pg_app))
    view = FunnelView(kept=5)
    BatchRunner(pg_app, view, tracker, page_size=17).catch_up()
    assert len(view.kept.memory) <= 5
    assert rollups(pg_app) == expected(raw_log(pg_app))
