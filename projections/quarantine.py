"""Events a read model could not apply, set aside so that it goes on with the rest.

A projection must never die on one event: if it did, every restart and every
rebuild would hit the same event again, and one bad event (a fold's bug, text
the table cannot hold, a class that no longer decodes) would stop that read
model for good. So a failing page is split until the failing event is alone; that
event is recorded here with its position and error, the tracking position moves
past it **in the same transaction**, operators are alerted (an ERROR log line
naming the read model and the position: never the event's data), and the runner
goes on. A rebuild meets the event again and skips it the same way.

``siyu projections --retry-quarantined`` rebuilds each read model that has
quarantined events, after a fix: events that now apply are marked resolved;
those that still fail stay here. Rebuilding (rather than applying the event
late, out of order) keeps "rebuild equals live" true for order-sensitive folds.

Table ``siyu_projection_quarantine`` (internal, not for BI): one row per
(read model, notification id), with the stored topic, the error's class and
message, when it was quarantined, and when it was resolved (null while open).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from eventsourcing.persistence import Notification
from psycopg import Cursor
from psycopg.rows import DictRow

from domain.staff_alert import PROJECTION_QUARANTINED, SYSTEM
from projections.reads import AsyncPool, Row, fetch_all
from projections.staff_alerts import outbox

log = logging.getLogger(__name__)

TABLE = "siyu_projection_quarantine"
MAX_ERROR = 2000


@dataclass(frozen=True, slots=True)
class Quarantined:
    projection: str
    notification_id: int
    originator_id: UUID
    originator_version: int
    topic: str
    error_class: str
    error: str
    quarantined_at: datetime
    resolved_at: datetime | None


def create(curs: Cursor[DictRow]) -> None:
    curs.execute(f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        projection text NOT NULL,
        notification_id bigint NOT NULL,
        originator_id uuid NOT NULL,
        originator_version integer NOT NULL,
        topic text NOT NULL,
        error_class text NOT NULL,
        error text NOT NULL,
        quarantined_at timestamptz NOT NULL DEFAULT now(),
        resolved_at timestamptz,
        PRIMARY KEY (projection, notification_id))""")


def record(curs: Cursor[DictRow], projection: str, notification: Notification,
           error: BaseException) -> None:
    """Set ``notification`` aside for ``projection`` (again, if a rebuild met it)."""
    text = str(error).replace("\x00", "\\x00")[:MAX_ERROR]
    message = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates too
    curs.execute(
        f"INSERT INTO {TABLE} (projection, notification_id, originator_id, originator_version,"
        " topic, error_class, error) VALUES (%s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (projection, notification_id) DO UPDATE SET"
        " error_class = excluded.error_class, error = excluded.error,"
        " quarantined_at = now(), resolved_at = NULL",
        (projection, notification.id, notification.originator_id,
         notification.originator_version, notification.topic,
         type(error).__name__, message))
    _alert_managers(curs, projection, notification.id, type(error).__name__)
    # The alert: no message text (it may quote the event's data), only where and what kind.
    log.error("read model %s quarantined the event at position %d (%s): it goes on without "
              "it; fix, then run `siyu projections --retry-quarantined`", projection,
              notification.id, type(error).__name__)


def _alert_managers(curs: Cursor[DictRow], projection: str, position: int,
                    error_class: str) -> None:
    """One staff alert to the managers per (read model, position), in the same
    transaction as the quarantine row: the alert outbox's key makes it once, restarts and
    rebuilds that meet the event again included (the worker delivers it,
    workers/alerts.py). Skipped where the outbox is not there (a shadow schema)."""
    curs.execute("SELECT to_regclass('staff_alert_outbox') IS NOT NULL AS here")
    found = curs.fetchone()
    if not found or not found["here"]:
        return
    outbox.add_alerts(curs, [{
        "alert_key": f"quarantine:{projection}:{position}", "kind": PROJECTION_QUARANTINED,
        "staff_id": SYSTEM, "customer_id": None, "status": "pending",
        "context": {"projection": projection, "position": position, "error_class": error_class},
        "occurred_at": datetime.now(UTC)}])


#: Open entries of one read model (or all: NULL), in log order.
OPEN = (f"SELECT * FROM {TABLE} WHERE resolved_at IS NULL AND "
        "(%s::text IS NULL OR projection = %s) ORDER BY projection, notification_id")


async def open_rows(pool: AsyncPool, projection: str | None = None) -> list[Row]:
    """Open entries, for the API (operators ask which events their read models skipped)."""
    return await fetch_all(pool, OPEN, (projection, projection))


def open_entries(curs: Cursor[DictRow], projection: str | None = None) -> list[Quarantined]:
    curs.execute(OPEN, (projection, projection))
    return [Quarantined(**row) for row in curs.fetchall()]


def clock(curs: Cursor[DictRow]) -> datetime:
    """The database's clock: taken before a rebuild, entries older than it that the
    rebuild did not meet again are resolved."""
    curs.execute("SELECT clock_timestamp() AS now")
    row = curs.fetchone()
    assert row is not None
    started: datetime = row["now"]
    return started


def resolve_unmet(curs: Cursor[DictRow], projection: str, since: datetime) -> int:
    """After a rebuild: entries the rebuild did not quarantine again now apply."""
    curs.execute(f"UPDATE {TABLE} SET resolved_at = now() WHERE projection = %s "
                 "AND resolved_at IS NULL AND quarantined_at < %s", (projection, since))
    return curs.rowcount
