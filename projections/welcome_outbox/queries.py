"""Statements on ``welcome_outbox``: the view's inserts, the store's short transactions (never
open while the gateway is called) and the dispatcher's claims."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from psycopg import Cursor

from projections.schema_lock import serialise_ddl

Row = dict[str, Any]

#: The columns a row is read with (``workers.outbox.OutboxRow``).
COLUMNS = ("outbox_key", "customer_id", "staff_id", "channel", "welcome_code", "status",
           "attempts", "template_id", "outcome", "answered_at", "gateway_message_id", "failure",
           "state", "occurred_at")
_COLUMNS = ", ".join(COLUMNS)


def create_table(curs: Cursor[Any]) -> None:
    serialise_ddl(curs)
    curs.execute((Path(__file__).parent / "welcome_outbox.sql").read_text())


def insert_rows(curs: Cursor[Any], rows: Sequence[Row]) -> None:
    """New rows (keys seen before are left as they are), with the columns of the first."""
    columns = list(rows[0])
    curs.execute(
        "INSERT INTO welcome_outbox (outbox_key, customer_id, staff_id, channel, "
        "welcome_code, status, recorded_at, completed_at, failure, state, occurred_at) "
        "SELECT * FROM unnest(%s::text[], %s::uuid[], %s::text[], %s::text[], %s::text[], "
        "%s::text[], %s::timestamptz[], %s::timestamptz[], %s::text[], %s::text[], "
        "%s::timestamptz[]) "
        "ON CONFLICT (outbox_key) DO NOTHING",
        [[r[c] for r in rows] for c in columns],
    )


def get(curs: Cursor[Any], key: str) -> Row | None:
    curs.execute(f"SELECT {_COLUMNS} FROM welcome_outbox WHERE outbox_key = %s", (key,))
    row: Row | None = curs.fetchone()
    return row


def begin_attempt(curs: Cursor[Any], key: str, template_id: str) -> Row | None:
    """Count one gateway call; None if the row is no longer waiting for an answer."""
    curs.execute(
        "UPDATE welcome_outbox SET attempts = attempts + 1, template_id = %s "
        "WHERE outbox_key = %s AND status = 'pending' AND outcome IS NULL "
        f"RETURNING {_COLUMNS}", (template_id, key))
    row: Row | None = curs.fetchone()
    return row


def record_answer(curs: Cursor[Any], key: str, outcome: str, answered_at: datetime,
                  gateway_message_id: str | None, failure: str | None) -> Row | None:
    """Store the gateway's answer (first answer wins)."""
    curs.execute(
        "UPDATE welcome_outbox SET outcome = %s, answered_at = %s, "
        "gateway_message_id = %s, failure = %s "
        "WHERE outbox_key = %s AND status = 'pending' AND outcome IS NULL "
        f"RETURNING {_COLUMNS}", (outcome, answered_at, gateway_message_id, failure, key))
    row: Row | None = curs.fetchone()
    return row


def complete(curs: Cursor[Any], key: str) -> Row | None:
    """The outcome event is recorded: the row takes the answer as its status."""
    curs.execute(
        "UPDATE welcome_outbox SET status = outcome, completed_at = now() "
        "WHERE outbox_key = %s AND status = 'pending' AND outcome IS NOT NULL "
        f"RETURNING {_COLUMNS}", (key,))
    row: Row | None = curs.fetchone()
    return row


def claim_due(curs: Cursor[Any], stale_after: timedelta, limit: int) -> list[str]:
    """Lock (``SKIP LOCKED``) pending rows never enqueued, or enqueued longer than
    ``stale_after`` ago, oldest first: their keys."""
    curs.execute(
        "SELECT outbox_key FROM welcome_outbox WHERE status = 'pending' "
        "AND (enqueued_at IS NULL OR enqueued_at < now() - %s) "
        "ORDER BY recorded_at LIMIT %s FOR UPDATE SKIP LOCKED", (stale_after, limit))
    return [str(r[0]) for r in curs.fetchall()]


def note_enqueued(curs: Cursor[Any], keys: Sequence[str]) -> None:
    curs.execute("UPDATE welcome_outbox SET enqueued_at = now() "
                 "WHERE outbox_key = ANY(%s)", (list(keys),))


def counts(curs: Cursor[Any]) -> dict[str, int]:
    """Rows per status."""
    curs.execute("SELECT status, count(*) FROM welcome_outbox GROUP BY status")
    return {str(status): int(n) for status, n in curs.fetchall()}
