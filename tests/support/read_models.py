"""Read models following the log in a test, grouped as ``siyu projections`` groups them.

One :class:`~projections.shared_pages.SharedPageRunner` per group of
:mod:`projections.groups`: one thread, one lock-and-LISTEN connection and one read of each
page per group, not per read model — a test's connections and idle wake-ups are the main
job's, not six times them (36 connections per API test with a runner per read model, 15
grouped).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from psycopg.sql import SQL, Identifier

from application.app import Siyu
from projections.groups import GROUPS
from projections.runner import BatchRunner, Tracker
from projections.shared_pages import SharedPageRunner
from siyu.processes import views_of


def grouped_runners(app: Siyu, tracker: Tracker, poll_interval: float = 0.05
                    ) -> list[SharedPageRunner]:
    """A runner per read-model group (each creates its views' tables as it is built)."""
    return [SharedPageRunner(app, views_of([group]), tracker, poll_interval=poll_interval)
            for group in GROUPS]


@contextmanager
def read_models_running(app: Siyu) -> Iterator[None]:
    """Every read model follows the log while the block runs."""
    tracker = Tracker(app.factory.datastore)  # type: ignore[attr-defined]
    runners = grouped_runners(app, tracker)
    threads = [threading.Thread(target=r.run_forever, daemon=True) for r in runners]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        for runner in runners:
            runner.stop()
        for thread in threads:
            thread.join(timeout=5)


def replay_whole_log(app: Siyu, runner: BatchRunner) -> None:
    """Apply every event of the log the runner's view reads to that view once more, in one
    page and one transaction, tracking aside: a replay, as a page applied twice would be."""
    notifications = app.recorder.select_notifications(start=0, limit=10_000)
    page = [(n.id, app.mapper.to_domain_event(n)) for n in notifications
            if n.topic in (runner.topics or ())]
    with runner.tracker.datastore.transaction(commit=True) as curs:
        runner.view.apply_page(curs, page)


def replay_after_losing_half(app: Siyu, runner: BatchRunner, url: str, table: str,
                             unchanged: Callable[[], bool]) -> None:
    """:func:`replay_whole_log` twice, ``unchanged()`` after each: as it stands, then after
    the later half of ``table``'s rows (by log position) were deleted — a page applied again
    must add nothing, and one partly stored only the rows missing
    (:mod:`projections.position_rows`)."""
    replay_whole_log(app, runner)
    assert unchanged(), "a page applied again changed the read model"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SQL("DELETE FROM {t} WHERE position > (SELECT percentile_disc(0.5) "
                         "WITHIN GROUP (ORDER BY position) FROM {t})").format(t=Identifier(table)))
    replay_whole_log(app, runner)
    assert unchanged(), f"a replay did not give back exactly the {table} rows deleted"
