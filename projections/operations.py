"""Operational figures read from the database: how far each read model has got, what it
set aside, what waits in the broker's queues and how sends turned out.

Not a read model: the queries an operator's dashboard (``/metrics``, ``/readyz``) runs at
scrape time, each cheap (an index or a small table) except :func:`send_outcomes`, which
counts the outboxes (run by the worker's scrape only). Tables a process has not created
yet count as empty.
"""

from __future__ import annotations

from typing import Any

from psycopg import Connection, sql
from psycopg.rows import tuple_row

from projections.quarantine import TABLE as QUARANTINE_TABLE
from projections.runner import TRACKING_TABLE

EVENTS_TABLE = "siyu_events"
#: A row the library keeps in the tracking table to mark its own migration: not a read model.
LIBRARY_MARKER = "__migration__"

_SENDS = {
    "welcome_outbox": "SELECT 'welcome' AS kind, channel, status, count(*) AS n "
                      "FROM welcome_outbox GROUP BY channel, status",
    "campaign_send": "SELECT 'campaign' AS kind, c.channel, s.status, count(*) AS n "
                     "FROM campaign_send s JOIN campaign c USING (campaign_id) "
                     "GROUP BY c.channel, s.status",
    "sop_send": "SELECT 'sop' AS kind, channel, status, count(*) AS n "
                "FROM sop_send GROUP BY channel, status",
}


def _rows(conn: Connection[Any], statement: Any, params: Any = None) -> list[tuple[Any, ...]]:
    with conn.cursor(row_factory=tuple_row) as curs:
        curs.execute(statement, params)
        return curs.fetchall()


def _exists(conn: Connection[Any], table: str) -> bool:
    return bool(_rows(conn, "SELECT to_regclass(%s) IS NOT NULL", (table,))[0][0])


def _counts(conn: Connection[Any], statement: Any) -> dict[str, int]:
    return {str(key): int(n) for key, n in _rows(conn, statement)}


def log_head(conn: Connection[Any]) -> int:
    """The position of the last event recorded (0: none yet)."""
    if not _exists(conn, EVENTS_TABLE):
        return 0
    return int(_rows(conn, f"SELECT coalesce(max(notification_id), 0) FROM {EVENTS_TABLE}")[0][0])


def projection_positions(conn: Connection[Any]) -> dict[str, int]:
    """Per read model (and worker view), the position of the last event it applied."""
    if not _exists(conn, TRACKING_TABLE):
        return {}
    return _counts(conn, f"SELECT application_name, max(notification_id) FROM {TRACKING_TABLE} "
                         f"WHERE application_name <> '{LIBRARY_MARKER}' GROUP BY application_name")


def open_quarantine(conn: Connection[Any]) -> dict[str, int]:
    """Per read model, the events set aside and not resolved."""
    if not _exists(conn, QUARANTINE_TABLE):
        return {}
    return _counts(conn, f"SELECT projection, count(*) FROM {QUARANTINE_TABLE} "
                         "WHERE resolved_at IS NULL GROUP BY projection")


def postgres_queue_depths(conn: Connection[Any], schema: str) -> dict[str, int]:
    """dramatiq-postgres: messages waiting per queue (queued, not yet consumed)."""
    if not _exists(conn, f"{schema}.queue"):
        return {}
    return _counts(conn, sql.SQL("SELECT queue_name, count(*) FROM {}.queue "
                                 "WHERE state = 'queued' GROUP BY queue_name"
                                 ).format(sql.Identifier(schema)))


def send_outcomes(conn: Connection[Any]) -> list[tuple[str, str, str, int]]:
    """(kind, channel, status, count) of every welcome message, campaign and SOP send."""
    return [(str(kind), str(channel), str(status), int(n))
            for table, statement in _SENDS.items() if _exists(conn, table)
            for kind, channel, status, n in _rows(conn, statement)]
