"""A page of the log as a group of read models needs it: only the topics they read, and
how far it looked.

A group's views may read a fraction of the log (the staff views, a fifth of it): fetching
and handing out every notification cost more than folding theirs. :func:`read_page` asks
the database for the topics the group reads only, and says up to which position the page
*looked*, whether or not an event of those topics was there — every view then tracks that
position, as it tracked the last notification of an unfiltered page, so a page of events
no view reads still moves every view forward, and ``Tracker.wait`` answers as before.

A position is safe to claim only if no event can commit at or below it later: positions
follow commit order (the events table's lock, :mod:`adapters.event_positions`), so the log's
committed head, read before the page, bounds it.

:func:`view_pages` gives each view the entries of the topics it reads, between markers at
the first position the page covers for it and the last one it looked at: its runner fences
from the first and tracks the last, exactly as for an unfiltered page.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Notification
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import Connection
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier

#: A filtered page looks at most this many page sizes of the log (one query stays short
#: when the group's topics are rare).
SPAN = 20

_NIL = UUID(int=0)
_new = object.__new__
_assign = object.__setattr__


def marker(position: int) -> Notification:
    """A position of the log standing for no event (a page's bounds, never applied)."""
    return Notification(id=position, originator_id=_NIL, originator_version=0, topic="",
                        state=b"")


def read_page(recorder: ApplicationRecorder, start: int, limit: int,
              topics: Sequence[str] | None) -> tuple[Sequence[Notification], int]:
    """The notifications after ``start`` of ``topics`` (every topic: None), at most
    ``limit``, and the last position the page looked at (``start``: nothing new)."""
    if topics is None:
        notifications = select(recorder, start, limit, None, ())
        return notifications, notifications[-1].id if notifications else start
    head = recorder.max_notification_id() or 0
    if head <= start:
        return [], start
    stop = min(head, start + limit * SPAN)
    if not topics:  # the group reads no stored topic: only positions to move
        return [], stop
    notifications = select(recorder, start, limit, stop, topics)
    return notifications, notifications[-1].id if len(notifications) >= limit else stop


def select(recorder: ApplicationRecorder, start: int, limit: int, stop: int | None,
           topics: Sequence[str]) -> Sequence[Notification]:
    """The library's ``select_notifications`` after ``start`` — on PostgreSQL as tuples in
    binary (the library's dict rows and bytea in hex were a third of the read)."""
    if not isinstance(recorder, PostgresApplicationRecorder):
        return recorder.select_notifications(start=start, limit=limit, stop=stop,
                                             topics=list(topics), inclusive_of_start=False)
    statement, params = _statement(recorder, start, limit, stop, topics)
    with recorder.datastore.get_connection() as conn:
        return [_notification({"originator_id": o, "originator_version": v, "topic": t,
                               "state": s, "id": i})
                for i, o, v, t, s in fetch(conn, statement, params)]


#: The plan a page's read keeps to, whatever the table's statistics say: the log's index
#: in order, stopping at the page's ``limit``-th event. Positions grow as rows are
#: appended, so that scan reads the heap in its own order and never more rows than the
#: alternatives; but on a table never analyzed (just loaded, or restored: ``pg_restore``
#: does not analyze) the planner guessed a few hundred rows in the span and chose a
#: bitmap scan of the whole span (up to ``SPAN`` pages) and a sort of every event of the
#: group's topics in it — per page, work that grew with the log to be read (the engagement
#: group's server CPU per event 19 -> 34 us from a 15k to an 84k log, docs/benchmarks.md).
ORDERED_SCAN = ("SELECT set_config('enable_bitmapscan', 'off', true), "
                "set_config('enable_seqscan', 'off', true), set_config('enable_sort', 'off', true)")


def fetch(conn: Connection[Any], statement: Composed, params: list[Any]) -> list[tuple[Any, ...]]:
    """The rows of a page's read on ``conn`` (autocommit, as the pool's), planned as
    :data:`ORDERED_SCAN` says: the settings and the read sent together before one ``Sync``,
    so they share the implicit transaction a pipeline runs until its ``Sync`` and the
    settings end with it (no ``BEGIN`` and ``COMMIT`` of their own to wait for)."""
    with conn.pipeline() as pipeline, conn.cursor(row_factory=tuple_row) as curs:
        curs.execute(ORDERED_SCAN, prepare=True)
        curs.execute(statement, params, prepare=True, binary=True)
        pipeline.sync()
        return curs.fetchall()


def _notification(fields: dict[str, Any]) -> Notification:
    """``Notification(**fields)`` (its fields in their order), without the frozen dataclass's
    ``__init__`` — an ``object.__setattr__`` per field, a third of reading a page."""
    notification = _new(Notification)
    _assign(notification, "__dict__", fields)
    return notification


def _statement(recorder: PostgresApplicationRecorder, start: int, limit: int,
               stop: int | None, topics: Sequence[str]) -> tuple[Composed, list[Any]]:
    conditions = [SQL("notification_id > %s")]
    params: list[Any] = [start]
    if stop is not None:
        conditions.append(SQL("notification_id <= %s"))
        params.append(stop)
    if topics:
        conditions.append(SQL("topic = ANY(%s)"))
        params.append(list(topics))
    params.append(limit)
    return SQL("SELECT notification_id, originator_id, originator_version, topic, state "
               "FROM {}.{} WHERE {} ORDER BY notification_id LIMIT %s").format(
        Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name),
        SQL(" AND ").join(conditions)), params


class Dispatch:
    """Which of a group's views read a topic (the topics of each, None: every topic)."""

    def __init__(self, topics: Sequence[frozenset[str] | None]) -> None:
        self.topics = list(topics)
        self._readers: dict[str, tuple[int, ...]] = {}

    def readers(self, topic: str) -> tuple[int, ...]:
        found = self._readers.get(topic)
        if found is None:
            found = self._readers[topic] = tuple(
                i for i, t in enumerate(self.topics) if t is None or topic in t)
        return found

    def view_pages(self, notifications: Sequence[Notification], decoded: Sequence[Any],
                   after: Sequence[int], end: int) -> list[list[tuple[Notification, Any]] | None]:
        """Each view's page — its events after its position ``after``, between bound
        markers — or None when it has applied everything up to ``end`` already."""
        events: list[list[tuple[Notification, Any]]] = [[] for _ in self.topics]
        readers = self._readers
        for n, event in zip(notifications, decoded, strict=True):
            if event is None:  # no view reads it
                continue
            entry = (n, event)  # one entry, shared by the views that read it
            position = n.id
            found = readers.get(n.topic)
            for i in found if found is not None else self.readers(n.topic):
                if position > after[i]:
                    events[i].append(entry)
        pages: list[list[tuple[Notification, Any]] | None] = []
        for own, position in zip(events, after, strict=True):
            if position >= end:
                pages.append(None)
                continue
            if not own or own[0][0].id != position + 1:
                own.insert(0, (marker(position + 1), None))
            if own[-1][0].id != end:
                own.append((marker(end), None))
            pages.append(own)
        return pages
