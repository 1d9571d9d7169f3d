"""The alert worker's statements: its outbox (``staff_alert_outbox``, a ledger of work) and
``unanswered_message`` (both created by ``outbox.sql``), as its view folds them, as the
chat-timeout check writes them, and as the delivery claims and completes them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg.types.json import Jsonb

from projections.schema_lock import serialise_ddl

Row = dict[str, Any]

CANDIDATES_SQL = """
SELECT customer_id, staff_id, since FROM unanswered_message u
WHERE since <= %(due)s AND since > %(oldest)s
  AND NOT EXISTS (SELECT 1 FROM staff_alert_outbox o WHERE o.alert_key = %(prefix)s
                  || u.customer_id || ':' || u.staff_id || ':'
                  || (extract(epoch FROM u.since) * 1000)::bigint || ':2')
"""

TIMEOUTS_SQL = """
INSERT INTO staff_alert_outbox (alert_key, kind, staff_id, customer_id, context, occurred_at)
SELECT %(prefix)s || c || ':' || s || ':' || (extract(epoch FROM t) * 1000)::bigint || ':'
       || %(level)s, %(kind)s, s, c,
       jsonb_build_object('since', t, 'limit_minutes', %(minutes)s), t
FROM unnest(%(customers)s::uuid[], %(staff)s::text[], %(since)s::timestamptz[]) AS u(c, s, t)
ON CONFLICT (alert_key) DO NOTHING
"""


def create_tables(curs: Cursor[Any]) -> None:
    serialise_ddl(curs)
    curs.execute((Path(__file__).parent / "outbox.sql").read_text())


def drop_unanswered(curs: Cursor[Any]) -> None:
    curs.execute("DROP TABLE IF EXISTS unanswered_message")


def clear_unanswered(curs: Cursor[Any]) -> None:
    curs.execute("TRUNCATE unanswered_message")


def message_received(curs: Cursor[Any], customer_id: UUID, staff_id: str, at: datetime,
                     position: int) -> None:
    """The customer waits for the staff member since ``at`` (or earlier)."""
    curs.execute(
        "INSERT INTO unanswered_message VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (customer_id, staff_id) DO UPDATE SET "
        "since = least(unanswered_message.since, excluded.since)",
        (customer_id, staff_id, at, position))


def message_sent(curs: Cursor[Any], customer_id: UUID, staff_id: str, at: datetime) -> None:
    """The staff member answered what the customer sent until ``at``."""
    curs.execute("DELETE FROM unanswered_message WHERE customer_id = %s "
                 "AND staff_id = %s AND since <= %s", (customer_id, staff_id, at))


def friend_deleted(curs: Cursor[Any], customer_id: UUID, staff_id: str) -> None:
    curs.execute("DELETE FROM unanswered_message WHERE customer_id = %s "
                 "AND staff_id = %s", (customer_id, staff_id))


def add_alerts(curs: Cursor[Any], rows: Sequence[Row]) -> None:
    """Outbox rows, each once per ``alert_key``."""
    curs.executemany(
        "INSERT INTO staff_alert_outbox (alert_key, kind, staff_id, customer_id, "
        "context, occurred_at, status) VALUES (%s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (alert_key) DO NOTHING",
        [(r["alert_key"], r["kind"], r["staff_id"], r["customer_id"],
          Jsonb(r["context"]), r["occurred_at"], r["status"]) for r in rows])


def timeout_candidates(curs: Cursor[Any], prefix: str, due: datetime, oldest: datetime
                       ) -> list[tuple[Any, ...]]:
    """(customer, staff, since) of messages waiting since between ``oldest`` and ``due``
    not escalated yet."""
    curs.execute(CANDIDATES_SQL, {"prefix": prefix, "due": due, "oldest": oldest})
    return [tuple(r.values()) if isinstance(r, dict) else tuple(r) for r in curs.fetchall()]


def add_timeouts(curs: Cursor[Any], prefix: str, level: int, kind: str, limit: timedelta,
                 due: Sequence[tuple[Any, ...]]) -> int:
    """Timeout rows of ``level`` for (customer, staff, since, …) ``due``; how many were new."""
    curs.execute(TIMEOUTS_SQL, {"prefix": prefix, "level": str(level), "kind": kind,
                                "minutes": int(limit.total_seconds() // 60),
                                "customers": [w[0] for w in due],
                                "staff": [w[1] for w in due],
                                "since": [w[2] for w in due]})
    return curs.rowcount


def get(curs: Cursor[Any], key: str) -> Row | None:
    curs.execute("SELECT alert_key, kind, staff_id, customer_id, context, occurred_at, "
                 "status FROM staff_alert_outbox WHERE alert_key = %s", (key,))
    row: Row | None = curs.fetchone()
    return row


def complete(curs: Cursor[Any], key: str) -> None:
    curs.execute("UPDATE staff_alert_outbox SET status = 'done', completed_at = now() "
                 "WHERE alert_key = %s AND status = 'pending'", (key,))


def claim_pending(curs: Cursor[Any], stale_after: timedelta, limit: int) -> list[str]:
    """Lock (``SKIP LOCKED``) pending alerts not enqueued since ``stale_after``, oldest
    first: their keys."""
    curs.execute("SELECT alert_key FROM staff_alert_outbox WHERE status = 'pending' "
                 "AND (enqueued_at IS NULL OR enqueued_at < now() - %s) "
                 "ORDER BY occurred_at LIMIT %s FOR UPDATE SKIP LOCKED",
                 (stale_after, limit))
    return [str(key) for (key,) in curs.fetchall()]


def note_enqueued(curs: Cursor[Any], keys: Sequence[str]) -> None:
    curs.execute("UPDATE staff_alert_outbox SET enqueued_at = now() "
                 "WHERE alert_key = ANY(%s)", (list(keys),))
