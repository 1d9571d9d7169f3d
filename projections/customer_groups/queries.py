"""Reads of ``customer_group`` / ``customer_group_member``: the directory the API lists, and
the selections a group campaign is drafted from (:mod:`application.campaign_groups`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.rows import tuple_row

from projections.reads import AsyncPool, Row, fetch_all

#: Groups a campaign can go into: WeCom's creation recorded (so the owner is known), not
#: dismissed.
_SENDABLE = "g.owner_user_id IS NOT NULL AND g.dismissed_at IS NULL"


async def groups(pool: AsyncPool, *, owner: str | None, include_dismissed: bool,
                 after: str | None, limit: int) -> list[Row]:
    """Groups by chat id after ``after``; ``owner``: only that UserID's."""
    return await fetch_all(
        pool, "SELECT * FROM customer_group g WHERE (%(owner)s::text IS NULL "
        "OR g.owner_user_id = %(owner)s) AND (%(dismissed)s OR g.dismissed_at IS NULL) "
        "AND (%(after)s::text IS NULL OR g.chat_id > %(after)s) ORDER BY g.chat_id "
        "LIMIT %(limit)s",
        {"owner": owner, "dismissed": include_dismissed, "after": after, "limit": limit})


async def members(pool: AsyncPool, chat_ids: Sequence[str], limit: int) -> dict[str, list[UUID]]:
    """The customers known in each group (oldest join first, at most ``limit`` per group)."""
    rows = await fetch_all(
        pool, "SELECT chat_id, customer_id FROM (SELECT chat_id, customer_id, row_number() "
        "OVER (PARTITION BY chat_id ORDER BY joined_at, customer_id) AS n "
        "FROM customer_group_member WHERE chat_id = ANY(%s)) m WHERE n <= %s "
        "ORDER BY chat_id, n", (list(chat_ids), limit))
    out: dict[str, list[UUID]] = {c: [] for c in chat_ids}
    for row in rows:
        out[row["chat_id"]].append(row["customer_id"])
    return out


def _pairs(conn: Connection[Any], sql: str, params: Any) -> list[tuple[str, str]]:
    return [(r["chat_id"], r["owner_user_id"]) for r in conn.execute(sql, params).fetchall()]


def by_ids(conn: Connection[Any], chat_ids: Sequence[str]) -> dict[str, Row]:
    """The directory's rows of these chat ids (missing: not in the directory)."""
    return {r["chat_id"]: dict(r) for r in conn.execute(
        "SELECT * FROM customer_group WHERE chat_id = ANY(%s)", (list(chat_ids),)).fetchall()}


def by_owners(conn: Connection[Any], owners: Sequence[str]) -> list[tuple[str, str]]:
    """(chat id, owner) of the sendable groups these UserIDs own."""
    return _pairs(conn, f"SELECT chat_id, owner_user_id FROM customer_group g WHERE {_SENDABLE} "
                  "AND g.owner_user_id = ANY(%s) ORDER BY chat_id", (list(owners),))


def holding_segment(conn: Connection[Any], segment_id: UUID) -> list[tuple[str, str]]:
    """(chat id, owner) of the sendable groups with at least one of the segment's members."""
    return _pairs(conn, f"SELECT chat_id, owner_user_id FROM customer_group g WHERE {_SENDABLE} "
                  "AND EXISTS (SELECT 1 FROM customer_group_member m JOIN segment_membership s "
                  "ON s.customer_id = m.customer_id AND s.segment_id = %s "
                  "WHERE m.chat_id = g.chat_id) ORDER BY chat_id", (segment_id,))


def _tuples(conn: Connection[Any], table: str, sql: str) -> list[tuple[Any, ...]]:
    """``sql``'s rows as tuples; none while ``table`` does not exist yet."""
    with conn.cursor(row_factory=tuple_row) as curs:
        found = curs.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
        return curs.execute(sql).fetchall() if found and found[0] else []


def live_groups(conn: Connection[Any]) -> dict[str, str | None]:
    """The directory's groups not dismissed: chat id → owner (None: not known yet). What
    the group sync (:mod:`workers.group_sync`) asks WeCom about besides what it lists."""
    return {r[0]: r[1] for r in _tuples(conn, "customer_group", "SELECT chat_id, "
                                        "owner_user_id FROM customer_group "
                                        "WHERE dismissed_at IS NULL")}


def known_owners(conn: Connection[Any]) -> set[str]:
    """The UserIDs the platform knows: the staff directory's and the directory's owners
    (the owner filter of a group list too large to ask for unfiltered)."""
    owners = {o for o in live_groups(conn).values() if o}
    return owners | {r[0] for r in _tuples(conn, "staff_directory", "SELECT wecom_user_id "
                                           "FROM staff_directory "
                                           "WHERE wecom_user_id IS NOT NULL")}
