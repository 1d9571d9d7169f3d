"""Batch projection runner: many events per transaction, tracking in the same one.

The library's ``ProjectionRunner`` commits once per event (~2k events/s here).
This runner reads the notification log in pages, hands a whole page to a
view, and the view writes its rows **and** the page's last notification id
(eventsourcing's tracking table) in one transaction. A crash before commit
loses nothing; after commit nothing is applied twice.

One runner per projection at a time: the runner holds a PostgreSQL advisory
lock named after the projection, and the tracking insert refuses to go
backwards, so a second runner cannot double-apply a page.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol

from eventsourcing.application import Application
from eventsourcing.persistence import Notification, Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from projections.bi_access import grant_bi_roles
from projections.topics import topics_of_view

log = logging.getLogger(__name__)

TRACKING_TABLE = "siyu_projection_tracking"


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


class Tracker:
    """The library's tracking table, written inside our own transactions."""

    def __init__(self, datastore: PostgresDatastore) -> None:
        self.datastore = datastore
        self.recorder = PostgresTrackingRecorder(datastore, tracking_table_name=TRACKING_TABLE)
        self.recorder.create_table()

    def position(self, name: str) -> int:
        return self.recorder.max_tracking_id(name) or 0

    def record(self, curs: Cursor[DictRow], name: str, notification_id: int) -> None:
        self.recorder._insert_tracking(curs, Tracking(name, notification_id))

    def reset(self, curs: Cursor[DictRow], name: str) -> None:
        curs.execute(SQL("DELETE FROM {}.{} WHERE application_name = %s").format(
            Identifier(self.datastore.schema), Identifier(TRACKING_TABLE)), (name,))

    def wait(self, name: str, position: int, timeout: float) -> bool:
        """Block until the projection has processed ``position``; False on timeout."""
        deadline = time.monotonic() + timeout
        delay = 0.005
        while True:
            if self.position(name) >= position:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class BatchRunner:
    """Keeps one view up to date with the application's notification log."""

    def __init__(self, app: Application[Any], view: View, tracker: Tracker, *,
                 page_size: int = 2000, poll_interval: float = 0.5) -> None:
        self.app = app
        self.view = view
        self.tracker = tracker
        self.page_size = page_size
        self.poll_interval = poll_interval
        self.stopping = threading.Event()
        self.topics = topics_of_view(view)  # after every register_topic (done at import)
        view.bind(app)
        with tracker.datastore.transaction(commit=True) as curs:
            self._migrate(curs)
            view.create(curs)
            grant_bi_roles(curs)  # tables created again lost their grants

    def _migrate(self, curs: Cursor[DictRow]) -> None:
        """Drop the view's tables and tracking when their recorded version is not ours."""
        curs.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(f"migrate:{self.view.name}"),))
        curs.execute("CREATE TABLE IF NOT EXISTS siyu_read_model_version "
                     "(name text PRIMARY KEY, version integer NOT NULL)")
        curs.execute("SELECT version FROM siyu_read_model_version WHERE name = %s",
                     (self.view.name,))
        row = curs.fetchone()
        if row is not None and row["version"] == self.view.version:
            return
        log.info("read model %s: version %s -> %s, rebuilding from the log", self.view.name,
                 None if row is None else row["version"], self.view.version)
        self.view.drop(curs)
        self.tracker.reset(curs, self.view.name)
        curs.execute("INSERT INTO siyu_read_model_version VALUES (%s, %s) ON CONFLICT (name) "
                     "DO UPDATE SET version = excluded.version",
                     (self.view.name, self.view.version))

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
        mapper = self.app.mapper
        # Decoding is a third of a small view's time: decode only the topics it reads.
        topics = self.topics
        events = [(n.id, mapper.to_domain_event(n)) for n in notifications
                  if topics is None or n.topic in topics]
        with self.datastore.transaction(commit=True) as curs:
            self.view.apply_page(curs, events)
            self.tracker.record(curs, self.view.name, notifications[-1].id)

    def catch_up(self) -> None:
        while self.run_once():
            pass

    def run_forever(self) -> None:
        """Tail the log until :meth:`stop`; wakes on NOTIFY, polls as a safety net."""
        channel = getattr(self.app.recorder, "channel_name", None)
        # One held connection per runner (the lock and LISTEN share it): every view's runner
        # shares the application's pool, which two held connections each would exhaust.
        with self.datastore.get_connection() as held:
            held.execute("SELECT pg_advisory_lock(%s)", (_lock_key(self.view.name),))
            try:
                self._tail(held, channel)
            finally:
                held.execute("SELECT pg_advisory_unlock(%s)", (_lock_key(self.view.name),))

    def _tail(self, listen: Any, channel: str | None) -> None:
        if channel:
            listen.execute(SQL("LISTEN {}").format(Identifier(channel)))
        try:
            while not self.stopping.is_set():
                try:
                    if self.run_once():
                        continue
                except Exception:
                    log.exception("projection %s stopped on a failing page", self.view.name)
                    raise
                if channel:
                    for _ in listen.notifies(timeout=self.poll_interval, stop_after=1):
                        pass
                else:
                    self.stopping.wait(self.poll_interval)
        finally:
            if channel:
                listen.execute(SQL("UNLISTEN {}").format(Identifier(channel)))

    def stop(self) -> None:
        self.stopping.set()

    def rebuild(self) -> None:
        """Drop the read model's rows and tracking, then replay the whole log."""
        with self.datastore.get_connection() as lock_conn:
            lock_conn.execute("SELECT pg_advisory_lock(%s)", (_lock_key(self.view.name),))
            try:
                with self.datastore.transaction(commit=True) as curs:
                    self.view.clear(curs)
                    self.tracker.reset(curs, self.view.name)
                self.catch_up()
            finally:
                lock_conn.execute("SELECT pg_advisory_unlock(%s)", (_lock_key(self.view.name),))
