"""Reads of ``moment_task`` (API, worker), the members a task may name, and the daily limit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

from psycopg import Connection

from domain.moment_task import PER_CUSTOMER_DAY
from projections.reads import AsyncPool, Row, fetch_all, fetch_one


async def task(pool: AsyncPool, task_id: UUID) -> Row | None:
    return await fetch_one(pool, "SELECT * FROM moment_task WHERE task_id = %s", (task_id,))


async def tasks(pool: AsyncPool, *, day: date | None, status: str | None, limit: int
                ) -> list[Row]:
    """Tasks, newest first."""
    return await fetch_all(
        pool, "SELECT * FROM moment_task WHERE (%(day)s::date IS NULL OR day = %(day)s) "
        "AND (%(status)s::text IS NULL OR status = %(status)s) "
        "ORDER BY position DESC LIMIT %(limit)s", {"day": day, "status": status, "limit": limit})


async def members(pool: AsyncPool, staff_ids: Sequence[str], user_ids: Sequence[str],
                  departments: Sequence[str]) -> list[Row]:
    """Current members (not left) named by staff id, WeCom UserID or department, with their
    UserID (null: no WeCom account)."""
    return await fetch_all(
        pool, "SELECT staff_id::text AS staff_id, wecom_user_id, department FROM staff_directory "
        "WHERE left_at IS NULL AND (staff_id::text = ANY(%s) OR wecom_user_id = ANY(%s) "
        "OR department = ANY(%s)) ORDER BY staff_id",
        (list(staff_ids), list(user_ids), list(departments)))


_IN_RANGE = ("p.erased_at IS NULL AND p.current_staff_ids && {staff} "
             "AND (cardinality({tags}) = 0 OR p.tags && {tags})")


async def daily_limit(pool: AsyncPool, audience_staff: Sequence[str], tags: Sequence[str],
                      day: date) -> tuple[int, int]:
    """(customers in range of a task for these members and tags, how many of them are in
    :data:`PER_CUSTOMER_DAY` open or accepted tasks of ``day`` already)."""
    new = _IN_RANGE.format(staff="%(staff)s::text[]", tags="%(tags)s::text[]")
    other = _IN_RANGE.format(staff="t.audience_staff", tags="t.tags")
    row = await fetch_one(
        pool, f"SELECT count(*) AS audience, count(*) FILTER (WHERE (SELECT count(*) "
        f"FROM moment_task t WHERE t.day = %(day)s AND t.status NOT IN ('cancelled', "
        f"'refused') AND {other}) >= %(most)s) AS at_limit FROM customer_profile p "
        f"WHERE {new}",
        {"staff": list(audience_staff), "tags": list(tags), "day": day,
         "most": PER_CUSTOMER_DAY})
    if row is None:
        return 0, 0
    return int(row["audience"]), int(row["at_limit"])


POLL_DDL = """
CREATE TABLE IF NOT EXISTS moment_task_poll (
    task_id   uuid PRIMARY KEY,
    polled_at timestamptz NOT NULL   -- the worker's last get_moment_task of an accepted task
)"""


def open_tasks(conn: Connection[Any], today: date, since: datetime, poll_before: datetime,
               limit: int) -> list[dict[str, Any]]:
    """Tasks the worker has work on: planned for ``today`` or before, being created, cancelled
    but not yet stopped at WeCom or cancelled while WeCom created them (oldest first); then
    accepted tasks created since ``since`` (members may still post) and not polled since
    ``poll_before``, least recently polled first — so a month of accepted tasks never starves new ones."""
    conn.execute(POLL_DDL)
    cur = conn.execute(
        "(SELECT task_id, status FROM moment_task "
        " WHERE (status = 'planned' AND day <= %s) "
        " OR status IN ('submitting', 'submitted', 'unknown') "
        " OR (status = 'cancelled' AND NOT stopped_at_wecom "
        "     AND (moment_id IS NOT NULL OR cancelled_creating)) "
        " ORDER BY position LIMIT %s) "
        "UNION ALL (SELECT t.task_id, t.status FROM moment_task t "
        " LEFT JOIN moment_task_poll p USING (task_id) "
        " WHERE t.status = 'accepted' AND t.created_at >= %s "
        " AND (p.polled_at IS NULL OR p.polled_at < %s) "
        " ORDER BY p.polled_at NULLS FIRST, t.position LIMIT %s)",
        (today, limit, since, poll_before, limit))
    return [{"task_id": r[0], "status": r[1]} for r in cur.fetchall()]


def note_polled(conn: Connection[Any], task_id: UUID, at: datetime) -> None:
    conn.execute(POLL_DDL)
    conn.execute("INSERT INTO moment_task_poll VALUES (%s, %s) ON CONFLICT (task_id) "
                 "DO UPDATE SET polled_at = excluded.polled_at", (task_id, at))


def staff_by_user(conn: Connection[Any], user_ids: Sequence[str]) -> dict[str, str]:
    """Staff ids of WeCom UserIDs (members who left included: their posts stay theirs)."""
    rows = conn.execute("SELECT wecom_user_id, staff_id::text FROM staff_directory "
                        "WHERE wecom_user_id = ANY(%s)", (list(user_ids),)).fetchall()
    return {str(a): str(b) for a, b in rows}


def held_moment_ids(conn: Connection[Any]) -> set[str]:
    """Moment ids some task holds already (a reconciliation adopts none of them twice)."""
    return {r[0] for r in conn.execute(
        "SELECT moment_id FROM moment_task WHERE moment_id IS NOT NULL").fetchall()}
