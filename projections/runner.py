"""Batch projection runner: many events per transaction, tracking in the same one.

The library's ``ProjectionRunner`` commits once per event (~2k events/s here).
This runner reads the notification log in pages, hands a whole page to a
view, and the view writes its rows **and** the page's last notification id
(eventsourcing's tracking table) in one transaction. A crash before commit
loses nothing; after commit nothing is applied twice.

One runner per projection at a time: the process that leads the read model
holds a PostgreSQL advisory lock named after it (:mod:`projections.leases`: on one
connection for all the read models it leads, or, without a lease, on the runner's
own), and each page's transaction is fenced — it waits for any other writer of the
read model and applies nothing if its first event was tracked meanwhile — so a
runner that lost its lock while writing cannot double-apply a page.

A runner never dies on one event: a page that fails is split until the
failing event is alone, and that event is quarantined (:mod:`projections.quarantine`)
while the rest apply. A lost connection or a database restart is not an event's
fault: the runner backs off, reconnects, takes its lock again and goes on.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol

from eventsourcing.application import Application
from eventsourcing.persistence import Notification
from eventsourcing.postgres import PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from projections import quarantine
from projections.json_codec import use_fast_loads
from projections.leases import Lease, Superseded, lock_key
from projections.page_memory import memory_of
from projections.read_model_setup import create_read_models
from projections.reads import TRANSIENT
from projections.topics import topics_of_view
from projections.tracker import TRACKING_TABLE as TRACKING_TABLE  # re-exported
from projections.tracker import Tracker as Tracker  # re-exported: runners and tests import it here

log = logging.getLogger(__name__)


#: Reconnection backoff of a tailing runner, in seconds.
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 10.0
#: Other events of a failing page tried (and rolled back) before blaming one event.
CANARIES = 3
#: How often a rebuild waiting for a running projection's lock says so.
LOCK_WAIT_REPORT = 10.0


class _Undecodable:
    """A notification whose stored event could not be decoded (its class is gone, say)."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


#: A page entry: the notification and its decoded event, None (not a topic the view
#: reads) or the decoding failure.
Entry = tuple[Notification, Any]


class DecodedPage(list[Entry]):
    """A page none of whose events failed to decode, as its reader found: the runner need
    not look at every entry for one (a walk per view of each page, a per cent of a
    group's time). A part of it split off after a failure is a plain list again."""


class View(Protocol):
    """A read model that applies a page of events inside a given transaction.

    ``version`` names the shape of its tables: when it differs from the one
    recorded, the runner drops them and rebuilds from the event log. A view may
    declare ``events``, the event classes it folds (an aggregate class standing for
    all of its events): the runner then decodes and passes only the events stored
    under their topics, old ones registered with ``register_topic`` included
    (:mod:`projections.topics`).
    """

    name: str
    version: int

    def bind(self, app: Application[Any]) -> None:
        """Receive the application (e.g. its mapper, to re-read streams)."""

    def create(self, curs: Cursor[DictRow]) -> None: ...

    def drop(self, curs: Cursor[DictRow]) -> None: ...

    def apply_page(self, curs: Cursor[DictRow], events: Sequence[tuple[int, Any]]) -> None: ...

    def clear(self, curs: Cursor[DictRow]) -> None: ...


_lock_key = lock_key
#: Failures of a page that no event caused: never split or quarantined.
_NOT_THE_EVENTS_FAULT: tuple[type[BaseException], ...] = (*TRANSIENT, Superseded)


class BatchRunner:
    """Keeps one view up to date with the application's notification log."""

    def __init__(self, app: Application[Any], view: View, tracker: Tracker, *,
                 page_size: int = 2000, poll_interval: float = 0.5,
                 lease: Lease | None = None, create: bool = True) -> None:
        self.app = app
        self.lease = lease
        self.view = view
        self.tracker = tracker
        self.page_size = page_size
        self.poll_interval = poll_interval
        self.stopping = threading.Event()
        self.topics = topics_of_view(view)  # after every register_topic (done at import)
        self.memory = memory_of(view)  # rows it keeps between pages (projections.page_memory)
        view.bind(app)
        if create:  # (else its creator created it with others: read_model_setup)
            create_read_models(tracker, [view])

    @property
    def datastore(self) -> PostgresDatastore:
        return self.tracker.datastore

    def run_once(self) -> int:
        """Process one page; returns the number of notifications consumed."""
        start = self.tracker.position(self.view.name)
        notifications = self.app.recorder.select_notifications(
            start=start, limit=self.page_size, inclusive_of_start=False)
        if not notifications:
            return 0
        self._apply(notifications)
        return len(notifications)

    def _apply(self, notifications: Sequence[Notification]) -> None:
        self._commit(self._decode(notifications))

    def _decode(self, notifications: Sequence[Notification]) -> list[Entry]:
        mapper = self.app.mapper
        # Decoding is a third of a small view's time: decode only the topics it reads.
        topics = self.topics
        page: list[Entry] = []
        for n in notifications:
            if topics is not None and n.topic not in topics:
                page.append((n, None))
                continue
            try:
                page.append((n, mapper.to_domain_event(n)))
            except Exception as error:  # set aside, never fatal
                page.append((n, _Undecodable(error)))
        return page

    def _commit(self, page: list[Entry], whole: list[Entry] | None = None) -> None:
        """Apply ``page`` and track its end in one transaction; on an event's failure,
        split the page until that event is alone, and quarantine it — unless the view
        fails on the page's other events too (a broken view, not a bad event: raised)."""
        try:
            self._write(page, poisoned=None)
        except _NOT_THE_EVENTS_FAULT:
            raise
        except Exception as error:
            if self.tracker.position(self.view.name) >= page[-1][0].id:
                return  # applied meanwhile by another runner: nothing to do
            whole = whole or page
            applicable = [i for i, (_, e) in enumerate(page)
                          if e is not None and not isinstance(e, _Undecodable)]
            if not applicable:
                raise  # not an event's fault: the quarantine or tracking write itself failed
            if len(applicable) == 1:
                failing = page[applicable[0]][0]
                if not self._applies_any(whole, failing):
                    raise
                self._write(page, poisoned=(applicable[0], error))
                return
            middle = applicable[len(applicable) // 2]
            self._commit(page[:middle], whole)
            self._commit(page[middle:], whole)

    def _applies_any(self, whole: list[Entry], failing: Notification) -> bool:
        """Whether the view can apply some event it has not applied yet — later in the
        page, else next in the log — tried alone and rolled back. With none to try, the
        failing event gets the benefit of the doubt."""
        later = [(n, e) for n, e in whole if n.id > failing.id]
        if not later:
            later = self._decode(self.app.recorder.select_notifications(
                start=whole[-1][0].id, limit=CANARIES * 10, inclusive_of_start=False))
        others = [(n, e) for n, e in later
                  if e is not None and not isinstance(e, _Undecodable)][:CANARIES]
        if not others:
            return True
        self.forget()  # the probes below must not read what the failed page staged
        for n, event in others:
            try:
                with self.datastore.transaction(commit=False) as curs:
                    use_fast_loads(curs)
                    self.view.apply_page(curs, [(n.id, event)])
                return True
            except TRANSIENT:
                raise
            except Exception:  # noqa: S112 - another poisoned event: try the next
                continue
        return False

    def _write(self, page: list[Entry], poisoned: tuple[int, Exception] | None) -> None:
        # A view keeping rows in memory promotes this page's only once it is committed,
        # and forgets what it kept when the page fails (rolled back, or its commit's
        # outcome unknown): projections.page_memory.
        try:
            # Begun, fenced and tracked in one round trip, the rows then written and
            # committed with the tracking: projections.tracker.Tracker.page.
            with self.tracker.page(self.view.name, page[0][0].id,
                                   page[-1][0].id) as (curs, committed):
                use_fast_loads(curs)  # the rows the view reads back: their jsonb, decoded fast
                self.memory.page_begins(curs, self, committed)
                events = self._events(curs, page, poisoned)
                if events:
                    self.view.apply_page(curs, events)
        except BaseException:
            self.memory.forget()
            raise
        self.memory.page_committed(self, page[-1][0].id)  # what it staged is committed now

    def _events(self, curs: Cursor[DictRow], page: list[Entry],
                poisoned: tuple[int, Exception] | None) -> list[tuple[int, Any]]:
        """The page's events to apply, by log position; those that cannot be decoded, and
        ``poisoned``, quarantined instead."""
        if poisoned is None and (type(page) is DecodedPage
                                 or not any(type(e) is _Undecodable for _, e in page)):
            return [(n.id, event) for n, event in page if event is not None]
        events: list[tuple[int, Any]] = []
        for index, (n, event) in enumerate(page):
            if isinstance(event, _Undecodable):
                quarantine.record(curs, self.view.name, n, event.error)
            elif poisoned is not None and index == poisoned[0]:
                quarantine.record(curs, self.view.name, n, poisoned[1])
            elif event is not None:
                events.append((n.id, event))
        return events

    def forget(self) -> None:
        """Lost leadership or the connection: what the view kept may not be committed."""
        self.memory.forget()

    def catch_up(self) -> None:
        while self.run_once():
            pass

    def run_forever(self) -> None:
        """Tail the log until :meth:`stop` while this process leads the read model; wakes
        on NOTIFY, polls as a safety net.

        A lost connection or a restarting database backs off and reconnects (the lock,
        released with the old session, is taken again); nothing is applied twice,
        since tracking moves in the same transaction as the rows.
        """
        delay = BACKOFF_FIRST
        while not self.stopping.is_set():
            try:
                if self.lease is None:
                    self._hold_own_lock()
                elif self.lease.held.wait(self.poll_interval):
                    self._follow_lease(self.lease)
                delay = BACKOFF_FIRST
            except Superseded as superseded:
                log.info("read model %s: %s; following the new leader", self.view.name,
                         superseded)
            except TRANSIENT as error:
                log.warning("read model %s lost the database (%s); retrying in %.1f s",
                            self.view.name, type(error).__name__, delay)
                self.stopping.wait(delay)
                delay = min(delay * 2, BACKOFF_MAX)
            except Exception as error:
                # Every event fails: the view itself is broken (a bug, a missing table).
                # Quarantining the whole log would hide it; dying would stop the others.
                log.error("read model %s fails on every event (%s): paused, retrying in "
                          "%.0f s; fix and restart", self.view.name, type(error).__name__,
                          BACKOFF_MAX * 6, exc_info=True)
                self.stopping.wait(BACKOFF_MAX * 6)
            finally:  # no longer leading, or reconnecting: what the view kept may be stale
                self.forget()

    def _follow_lease(self, lease: Lease) -> None:
        """Apply pages while the process's lease connection holds the lock; a pooled
        connection only per page, woken by the lease connection's NOTIFY."""
        while lease.held.is_set() and not self.stopping.is_set():
            lease.wake.clear()
            if self.run_once():
                continue
            lease.wake.wait(self.poll_interval)

    def _hold_own_lock(self) -> None:
        """Without a lease: one held connection for this runner (its lock and LISTEN)."""
        channel = getattr(self.app.recorder, "channel_name", None)
        with self.datastore.get_connection() as held:
            held.execute("SELECT pg_advisory_lock(%s)", (_lock_key(self.view.name),))
            try:
                self._tail(held, channel)
            finally:
                with contextlib.suppress(*TRANSIENT):
                    held.execute("SELECT pg_advisory_unlock(%s)",
                                 (_lock_key(self.view.name),))

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

    def stop(self) -> None:
        self.stopping.set()

    def _lock_for_rebuild(self, conn: Any) -> None:
        """Take the read model's lock, saying what it waits for instead of hanging silently
        (a running ``siyu projections`` holds it while it tails the log)."""
        key = _lock_key(self.view.name)
        waited = 0.0
        while not conn.execute("SELECT pg_try_advisory_lock(%s) AS locked",
                               (key,)).fetchone()["locked"]:
            if waited % LOCK_WAIT_REPORT == 0:
                log.warning("rebuild of %s waits for its lock, held by a running projection "
                            "process (stop it, or wait)", self.view.name)
            time.sleep(0.5)
            waited += 0.5

    def rebuild(self) -> None:
        """Drop the read model's rows and tracking, then replay the whole log."""
        with self.datastore.get_connection() as lock_conn:
            self._lock_for_rebuild(lock_conn)
            try:
                with self.datastore.transaction(commit=True) as curs:
                    self.view.clear(curs)
                    self.tracker.reset(curs, self.view.name)
                self.catch_up()
            finally:
                lock_conn.execute("SELECT pg_advisory_unlock(%s)", (_lock_key(self.view.name),))

    def retry_quarantined(self) -> tuple[int, int]:
        """After a fix: rebuild this read model if it has quarantined events; returns
        (resolved, still quarantined)."""
        with self.datastore.transaction(commit=True) as curs:
            if not quarantine.open_entries(curs, self.view.name):
                return 0, 0
            since = quarantine.clock(curs)
        self.rebuild()
        with self.datastore.transaction(commit=True) as curs:
            resolved = quarantine.resolve_unmet(curs, self.view.name, since)
            remaining = len(quarantine.open_entries(curs, self.view.name))
        return resolved, remaining
