"""Reads of ``channel_code`` / ``channel_code_friend`` (API, worker), and the worker's own
bookkeeping of WeCom calls (``channel_code_wecom_attempt``, internal, never rebuilt)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import Connection

from projections.reads import AsyncPool, Row, fetch_all, fetch_one

_ROW = ("SELECT c.*, coalesce(f.friends_added, 0) AS friends_added, f.last_added_at "
        "FROM channel_code c LEFT JOIN (SELECT code_id, count(*) AS friends_added, "
        "max(added_at) AS last_added_at FROM channel_code_friend GROUP BY code_id) f "
        "USING (code_id) ")


async def code(pool: AsyncPool, code_id: UUID) -> Row | None:
    return await fetch_one(pool, _ROW + "WHERE c.code_id = %s", (code_id,))


async def codes(pool: AsyncPool, *, channel: str | None, include_deleted: bool) -> list[Row]:
    """Codes, oldest first; ``channel``: that channel and those under it."""
    return await fetch_all(
        pool, _ROW + "WHERE (%(deleted)s OR c.deleted_at IS NULL) AND (%(channel)s::text IS NULL "
        "OR c.channel = %(channel)s OR starts_with(c.channel, %(channel)s || ':')) "
        "ORDER BY c.created_at, c.code_id", {"deleted": include_deleted, "channel": channel})


ATTEMPTS_DDL = """
CREATE TABLE IF NOT EXISTS channel_code_wecom_attempt (
    code_id    uuid PRIMARY KEY,
    attempts   integer     NOT NULL,   -- WeCom calls made for the code's pending work
    last_at    timestamptz NOT NULL,
    last_reason text
)"""


def wecom_work(conn: Connection[Any], limit: int) -> list[dict[str, Any]]:
    """Codes WeCom must still be told about (add, update, delete), with calls made so far."""
    conn.execute(ATTEMPTS_DDL)
    cur = conn.execute(
        "SELECT c.code_id, c.created_at, c.revision, c.synced_revision, c.config_id, "
        "c.wecom_status, c.deleted_at, coalesce(a.attempts, 0) AS attempts "
        "FROM channel_code c LEFT JOIN channel_code_wecom_attempt a USING (code_id) "
        "WHERE (c.deleted_at IS NULL AND c.wecom_status = 'pending') "
        "   OR (c.deleted_at IS NULL AND c.wecom_status = 'registered' "
        "       AND c.synced_revision < c.revision) "
        "   OR (c.deleted_at IS NOT NULL AND c.wecom_status = 'registered') "
        "ORDER BY c.position LIMIT %s", (limit,))
    names = [d.name for d in cur.description or ()]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def note_attempt(conn: Connection[Any], code_id: UUID, reason: str | None) -> None:
    conn.execute(ATTEMPTS_DDL)
    conn.execute(
        "INSERT INTO channel_code_wecom_attempt VALUES (%s, 1, now(), %s) "
        "ON CONFLICT (code_id) DO UPDATE SET attempts = channel_code_wecom_attempt.attempts + 1, "
        "last_at = now(), last_reason = excluded.last_reason", (code_id, reason))


TAGGED_DDL = """
CREATE TABLE IF NOT EXISTS channel_code_tagged (
    code_id     uuid NOT NULL,
    customer_id uuid NOT NULL,
    outcome     text NOT NULL,   -- tagged | refused:<code>
    PRIMARY KEY (code_id, customer_id)
)"""


def tag_work(conn: Connection[Any], limit: int) -> list[dict[str, Any]]:
    """Adds through codes that give tags, not handled yet: (code, customer, tags, added_at)."""
    conn.execute(TAGGED_DDL)
    cur = conn.execute(
        "SELECT f.code_id, f.customer_id, c.tags, f.added_at FROM channel_code_friend f "
        "JOIN channel_code c USING (code_id) LEFT JOIN channel_code_tagged t "
        "ON t.code_id = f.code_id AND t.customer_id = f.customer_id "
        "WHERE cardinality(c.tags) > 0 AND t.code_id IS NULL "
        "ORDER BY f.added_at LIMIT %s", (limit,))
    names = [d.name for d in cur.description or ()]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def note_tagged(conn: Connection[Any], code_id: UUID, customer_id: UUID, outcome: str) -> None:
    conn.execute(TAGGED_DDL)
    conn.execute("INSERT INTO channel_code_tagged VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                 (code_id, customer_id, outcome))
