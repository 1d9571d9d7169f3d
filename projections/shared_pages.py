"""Several read models fed from one read of the log: each page fetched and decoded once.

A :class:`~projections.runner.BatchRunner` per view reads every page of the log and
decodes the events its view folds; with eighteen views, the same page was fetched
eighteen times and most events decoded four or five times — half the cost of the small
views (profiled in docs/operations.md, *Projection throughput*). A
:class:`SharedPageRunner` fetches a page once, decodes each event at most once (the union
of the topics its views read), and hands every view its share. Each view still writes
its rows **and** its tracking position in a transaction of its own, through its
``BatchRunner`` (so a poisoned event is quarantined for that view alone, exactly as
before), and views at different positions (one just created, say) each get only what
they have not applied.

The page asks the database for the topics the group reads only, and every view tracks
how far the page looked (:mod:`projections.topic_pages`): the staff views read a fifth
of the log, and fetching and handing out the rest cost more than folding theirs.

One process runs one group of views (:mod:`projections.groups`); groups run as separate
processes use both cores.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Sequence
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import Notification
from psycopg.sql import SQL, Identifier

from projections.leases import Lease, Superseded
from projections.page_decoding import event_decoder
from projections.read_model_setup import create_read_models
from projections.reads import TRANSIENT
from projections.runner import (
    BACKOFF_FIRST,
    BACKOFF_MAX,
    TRACKING_TABLE,
    BatchRunner,
    DecodedPage,
    Entry,
    Tracker,
    View,
    _lock_key,
    _Undecodable,
)
from projections.topic_pages import Dispatch, read_page

log = logging.getLogger(__name__)


def union_of_topics(runners: Sequence[BatchRunner]) -> frozenset[str] | None:
    """The topics any of ``runners`` reads (None: one of them reads every topic)."""
    topics = [r.topics for r in runners]
    if any(t is None for t in topics):
        return None
    return frozenset().union(*(t for t in topics if t is not None))


def decode_page(app: Application[Any], notifications: Sequence[Notification],
                topics: frozenset[str] | None) -> list[Any]:
    """Each notification's event, decoded once: None when no view reads its topic, an
    ``_Undecodable`` when it cannot be decoded (set aside for the views that read it)."""
    return _decoded(app, notifications, topics)[0]


def _decoded(app: Application[Any], notifications: Sequence[Notification],
             topics: frozenset[str] | None) -> tuple[list[Any], bool]:
    """:func:`decode_page`, and whether every event decoded."""
    to_event = event_decoder(app.mapper)
    out: list[Any] = []
    clean = True
    for n in notifications:
        if topics is not None and n.topic not in topics:
            out.append(None)
            continue
        try:
            out.append(to_event(n))
        except Exception as error:  # set aside for the views that read it, never fatal
            out.append(_Undecodable(error))
            clean = False
    return out, clean


class SharedPageRunner:
    """Keeps ``views`` up to date from one shared read of the notification log."""

    def __init__(self, app: Application[Any], views: Sequence[View], tracker: Tracker, *,
                 page_size: int = 5000, poll_interval: float = 0.5,
                 lease: Lease | None = None) -> None:
        self.app = app
        # With a lease (projections.leases) the process's lease connection holds the
        # group's locks and LISTENs; without, run_forever holds them on a connection of its
        # own.
        self.lease = lease
        self.tracker = tracker
        self.page_size = page_size
        self.poll_interval = poll_interval
        self.stopping = threading.Event()
        # Each runner writes under the group's lease (its memory between pages follows it).
        self.runners = [BatchRunner(app, view, tracker, page_size=page_size,
                                    poll_interval=poll_interval, lease=lease, create=False)
                        for view in views]
        create_read_models(tracker, views, stamped=True)  # in one transaction, if any
        self.topics = union_of_topics(self.runners)
        self._topic_list = None if self.topics is None else sorted(self.topics)
        self._dispatch = Dispatch([r.topics for r in self.runners])

    @property
    def names(self) -> list[str]:
        return [r.view.name for r in self.runners]

    def positions(self) -> dict[str, int]:
        """Every view's tracking position, in one query."""
        datastore = self.tracker.datastore
        with datastore.get_connection() as conn:
            rows = conn.execute(SQL(
                "SELECT application_name AS name, max(notification_id) AS n FROM {}.{} "
                "WHERE application_name = ANY(%s) GROUP BY application_name").format(
                    Identifier(datastore.schema), Identifier(TRACKING_TABLE)),
                (self.names,)).fetchall()
        found = {r["name"]: int(r["n"]) for r in rows}
        return {name: found.get(name, 0) for name in self.names}

    def run_once(self) -> int:
        """Fetch the page after the view furthest behind — only the topics the group
        reads (:mod:`projections.topic_pages`) —, apply it to every view that has not
        applied it; returns how many positions of the log the page covered."""
        positions = self.positions()
        start = min(positions.values())
        notifications, end = read_page(self.app.recorder, start, self.page_size,
                                       self._topic_list)
        if end <= start:
            return 0
        decoded, clean = _decoded(self.app, notifications, self.topics)
        after = [positions[runner.view.name] for runner in self.runners]
        pages = self._dispatch.view_pages(notifications, decoded, after, end)
        moves: list[tuple[BatchRunner, list[Entry]]] = []
        for runner, page in zip(self.runners, pages, strict=True):
            if page is None:
                continue
            if any(event is not None for _, event in page):
                runner._commit(DecodedPage(page) if clean else page)
            else:
                moves.append((runner, page))
        if moves:
            self._move(moves)
        return end - start

    def _move(self, moves: list[tuple[BatchRunner, list[Entry]]]) -> None:
        """Track the pages of the views that have no event in them — the bounds only — in
        one transaction: fenced and remembered per view as ``BatchRunner._write`` does, a
        transaction per view (a fifth of the engagement group's commits) saved, and the
        ``BEGIN``, the fences and the tracking sent in one round trip for all of them,
        ``COMMIT`` in another (:meth:`~projections.tracker.Tracker.pages`)."""
        try:
            with self.tracker.pages([(runner.view.name, page[0][0].id, page[-1][0].id)
                                     for runner, page in moves]) as (curs, committed):
                for (runner, _), position in zip(moves, committed, strict=True):
                    runner.memory.page_begins(curs, runner, position)
        except BaseException:
            for runner, _ in moves:
                runner.memory.forget()
            raise
        for runner, page in moves:
            runner.memory.page_committed(runner, page[-1][0].id)

    def catch_up(self) -> None:
        while self.run_once():
            pass

    def stop(self) -> None:
        self.stopping.set()

    def forget(self) -> None:
        """Lost leadership or the connection: what the views kept may not be committed."""
        for runner in self.runners:
            runner.forget()

    def run_forever(self) -> None:
        """Tail the log until :meth:`stop` while this process leads the group (one runner
        per read model at a time, as :meth:`BatchRunner.run_forever`); wakes on NOTIFY."""
        if self.lease is not None:
            self._follow_lease(self.lease)
            return
        channel = getattr(self.app.recorder, "channel_name", None)
        keys = [_lock_key(name) for name in self.names]
        delay = BACKOFF_FIRST
        while not self.stopping.is_set():
            try:
                with self.tracker.datastore.get_connection() as held:
                    for key in sorted(keys):  # one order everywhere: no lock cycles
                        held.execute("SELECT pg_advisory_lock(%s)", (key,))
                    try:
                        delay = BACKOFF_FIRST
                        self._tail(held, channel)
                    finally:
                        with contextlib.suppress(*TRANSIENT):
                            held.execute("SELECT pg_advisory_unlock_all()")
            except Superseded as superseded:  # cannot happen while this holds the locks
                log.info("read models %s: %s", ", ".join(self.names), superseded)
            except TRANSIENT as error:
                log.warning("read models %s lost the database (%s); retrying in %.1f s",
                            ", ".join(self.names), type(error).__name__, delay)
                self.stopping.wait(delay)
                delay = min(delay * 2, BACKOFF_MAX)
            except Exception as error:
                log.error("read models %s fail (%s): paused, retrying in %.0f s",
                          ", ".join(self.names), type(error).__name__, BACKOFF_MAX * 6,
                          exc_info=True)
                self.stopping.wait(BACKOFF_MAX * 6)
            finally:  # no longer leading, or reconnecting: what the views kept may be stale
                self.forget()

    def _follow_lease(self, lease: Lease) -> None:
        """Apply pages while the lease connection holds the group's locks (a pooled
        connection per page only), woken by its NOTIFY; a page another leader applied
        meanwhile is refused by the fence (``Superseded``) and followed, never split."""
        delay = BACKOFF_FIRST
        while not self.stopping.is_set():
            try:
                if not lease.held.wait(self.poll_interval):
                    continue
                while lease.held.is_set() and not self.stopping.is_set():
                    lease.wake.clear()
                    if self.run_once():
                        continue
                    lease.wake.wait(self.poll_interval)
                delay = BACKOFF_FIRST
            except Superseded as superseded:
                log.info("read models %s: %s; following the new leader",
                         ", ".join(self.names), superseded)
            except TRANSIENT as error:
                log.warning("read models %s lost the database (%s); retrying in %.1f s",
                            ", ".join(self.names), type(error).__name__, delay)
                self.stopping.wait(delay)
                delay = min(delay * 2, BACKOFF_MAX)
            except Exception as error:
                log.error("read models %s fail (%s): paused, retrying in %.0f s",
                          ", ".join(self.names), type(error).__name__, BACKOFF_MAX * 6,
                          exc_info=True)
                self.stopping.wait(BACKOFF_MAX * 6)
            finally:  # no longer leading, or reconnecting: what the views kept may be stale
                self.forget()

    def _tail(self, listen: Any, channel: str | None) -> None:
        if channel:
            listen.execute(SQL("LISTEN {}").format(Identifier(channel)))
        try:
            while not self.stopping.is_set():
                if self.run_once():
                    continue
                if channel:
                    for _ in listen.notifies(timeout=self.poll_interval, stop_after=1):
                        pass
                else:
                    self.stopping.wait(self.poll_interval)
        finally:
            if channel:
                with contextlib.suppress(*TRANSIENT):
                    listen.execute(SQL("UNLISTEN {}").format(Identifier(channel)))
