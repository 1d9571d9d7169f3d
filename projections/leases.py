"""Who leads each read model, decided by advisory locks held on one connection per process.

Several projection processes may run the same read models (failover, rolling deploys):
the **leader** of a read model is the process holding its advisory lock (the key
``siyu rebuild`` takes too). A process holds the locks of every read model it leads on
**one** connection of its own, which also ``LISTEN``\\s for new events and wakes the
runners it leads. A runner needs a connection from the shared pool only while it reads or
writes a page, and a standby holds nothing but that one connection: it tries the locks it
lacks every ``retry`` seconds, so when a leader dies (kill -9: its session ends, its locks
go with it) another process leads within about ``retry`` seconds. The connection's
``application_name`` is ``siyu-leases-<pid>``: ``pg_locks`` joined with
``pg_stat_activity`` tells which process leads which read model.

When the lease connection is lost, every lease of the process is lost at once: the
runners stop after their page, and a page being written when the lock changed hands is
refused at commit by the read model's fence (:func:`fence`), so no event is applied twice.
The connection is opened again with backoff and the locks retaken.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import select
import threading
import time
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from projections.reads import TRANSIENT

log = logging.getLogger(__name__)

BACKOFF_FIRST, BACKOFF_MAX = 0.5, 10.0


class Superseded(Exception):
    """Another runner applied this page's events first: the page is not applied."""


def lock_key(name: str) -> int:
    """The advisory lock a read model's leader holds (and a rebuild takes)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def fence(curs: Any, tracking_table: Identifier, name: str, first_id: int) -> int:
    """First statements of a page's transaction: wait for any other writer of this read
    model to commit, then refuse the page (:class:`Superseded`) if its first event was
    tracked meanwhile — by a runner that took over while this one still wrote. Returns the
    committed tracking position (0: none)."""
    return fences(curs, tracking_table, [(name, first_id)])[0]


def fences(curs: Any, tracking_table: Identifier, pages: Sequence[tuple[str, int]]
           ) -> list[int]:
    """:func:`fence` for several read models' pages ``(name, first id)`` in one
    transaction, in order, sent in one round trip: the statements still run one after the
    other, each with a snapshot of its own, so a position is read only once its lock is
    held. (Two round trips per read model were most of an idle page's cost: an event
    batch moves a dozen read models that read none of it.)"""
    with curs.connection.pipeline():
        reads = send_fences(curs, tracking_table, pages)
    return fenced_positions(pages, reads)


def send_fences(curs: Any, tracking_table: Identifier, pages: Sequence[tuple[str, int]]
                ) -> list[Any]:
    """Queue :func:`fences`' statements on ``curs``'s connection, in pipeline mode; their
    results are read by :func:`fenced_positions` once the pipeline is synced."""
    conn = curs.connection
    reads = []
    for name, _ in pages:
        curs.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(name + ":fence"),),
                     prepare=False)
        read = conn.cursor(row_factory=tuple_row)
        read.execute(SQL("SELECT max(notification_id) FROM {} WHERE application_name = %s"
                         ).format(tracking_table), (name,), prepare=False)
        reads.append(read)
    return reads


def fenced_positions(pages: Sequence[tuple[str, int]], reads: Sequence[Any]) -> list[int]:
    """Each page's committed tracking position, read by :func:`send_fences`; raises
    :class:`Superseded` if a page's first event was tracked meanwhile."""
    positions = []
    for (name, first_id), read in zip(pages, reads, strict=True):
        row = read.fetchone()
        position = row[0] if row else None
        if position is not None and position >= first_id:
            raise Superseded(f"{name}: events from {first_id} already applied (at {position})")
        positions.append(int(position or 0))
    return positions


class Lease:
    """Leadership in this process of one read model — or of a group of read models run
    together, whose locks are then taken all or none (``names``)."""

    def __init__(self, name: str, names: tuple[str, ...] = ()) -> None:
        self.name = name
        self.keys = sorted(lock_key(n) for n in (names or (name,)))
        self.held = threading.Event()  # this process leads the read model
        #: Counts the times leadership was taken or lost: state kept in memory between
        #: pages is valid only while it stays the same (and ``held`` is set).
        self.term = 0
        self.wake = threading.Event()  # new events were recorded


class Leases:
    """The process's lease connection: takes the locks it can, wakes on NOTIFY."""

    def __init__(self, conninfo: str, channel: str | None, *, retry: float = 1.0,
                 connect_timeout: int = 5) -> None:
        self.conninfo = conninfo
        self.channel = channel
        self.retry = retry
        self.connect_timeout = connect_timeout
        self.leases: dict[str, Lease] = {}
        self.backend_pid: int | None = None  # of the lease connection, while it stands
        self.stopping = threading.Event()
        # Written to by stop(): wakes a wait for NOTIFY at once (a stop waited up to
        # ``retry`` seconds for it, and every worker's or projections process's stop with it).
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_write, False)
        self._wake_open = True
        self._thread: threading.Thread | None = None

    def lease(self, name: str, names: tuple[str, ...] = ()) -> Lease:
        """The lease of read model ``name``, or of the group ``name`` of read models
        ``names`` (one process leads all of them or none)."""
        return self.leases.setdefault(name, Lease(name, names))

    def start(self) -> Leases:
        self._thread = threading.Thread(target=self.run_forever, name="leases", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if not self._wake_open:
            return
        with contextlib.suppress(BlockingIOError):  # woken already
            os.write(self._wake_write, b"x")
        if self._thread is not None:
            self._thread.join(10)
        if self._thread is None or not self._thread.is_alive():
            self._wake_open = False
            os.close(self._wake_read)
            os.close(self._wake_write)

    def led(self) -> list[str]:
        return sorted(n for n, lease in self.leases.items() if lease.held.is_set())

    def run_forever(self) -> None:
        delay = BACKOFF_FIRST
        while not self.stopping.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True,
                                     connect_timeout=self.connect_timeout,
                                     application_name=f"siyu-leases-{os.getpid()}") as conn:
                    delay = BACKOFF_FIRST
                    self._hold(conn)
            except TRANSIENT as error:
                log.warning("leases lost the database (%s); retrying in %.1f s",
                            type(error).__name__, delay)
            finally:
                self._lose_all()
            self.stopping.wait(delay)
            delay = min(delay * 2, BACKOFF_MAX)

    def _hold(self, conn: psycopg.Connection[Any]) -> None:
        self.backend_pid = conn.info.backend_pid
        if self.channel:
            conn.execute(SQL("LISTEN {}").format(Identifier(self.channel)))
        tried = 0.0
        while not self.stopping.is_set():
            if time.monotonic() - tried >= self.retry:  # not on every NOTIFY of a busy log
                self._take_free_locks(conn)
                tried = time.monotonic()
            woken = False
            if self.channel:
                woken = self._notified(conn)
            else:
                self.stopping.wait(self.retry)
            for lease in self.leases.values():
                if woken or not self.channel:
                    lease.wake.set()

    def _notified(self, conn: psycopg.Connection[Any]) -> bool:
        """Wait up to ``retry`` seconds for a NOTIFY on ``conn`` — or for stop(): True if
        one came. (``conn.notifies(timeout=…)`` alone cannot be woken by another thread.)"""
        # One received during the last statements sits in the connection's backlog, not
        # on the socket: take those first.
        if any(True for _ in conn.notifies(timeout=0, stop_after=1)):
            return True
        poller = select.poll()  # not select(): a descriptor may be past FD_SETSIZE
        poller.register(conn.fileno(), select.POLLIN)
        poller.register(self._wake_read, select.POLLIN)
        ready = {fd for fd, _ in poller.poll(self.retry * 1000)}
        if conn.fileno() in ready:
            return any(True for _ in conn.notifies(timeout=0, stop_after=1))
        return False

    def _take_free_locks(self, conn: psycopg.Connection[Any]) -> None:
        waiting = [lease for lease in self.leases.values() if not lease.held.is_set()]
        if not waiting:
            conn.execute("SELECT 1")  # notices a lost connection while every lock is held
            return
        for lease in waiting:
            taken: list[int] = []
            for key in lease.keys:  # sorted: two processes never hold half a group each
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
                if not (row and row[0]):
                    break
                taken.append(key)
            if len(taken) < len(lease.keys):
                for key in taken:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
                continue
            log.info("this process now leads read model %s", lease.name)
            lease.term += 1
            lease.held.set()
            lease.wake.set()

    def _lose_all(self) -> None:
        for lease in self.leases.values():
            if lease.held.is_set():
                log.warning("this process no longer leads read model %s", lease.name)
                lease.term += 1
            lease.held.clear()
            lease.wake.set()
