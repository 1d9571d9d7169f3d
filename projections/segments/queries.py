"""Queries over the segment read models (``segment``, ``segment_membership``,
``segment_ledger``): :class:`SegmentReads`, one async method per question the API answers,
and the auto-tagger's candidates."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from projections.customer_profile.queries import PROFILE_COLUMNS
from projections.reads import Row
from projections.segments.rule_sql import compile_rule

#: The ledger's clocks: business time of the cause, or evaluation (recording) time.
TIME_COLUMNS = ("occurred_at", "at")
#: Entries that make up the actual membership history: live changes, plus the history
#: computed when the segment was first defined (rule version 1).
ACTUAL = "(NOT backfilled OR rule_version = 1)"
EXPORT_COLUMNS = ("customer_id", "since", "rule_version", "first_channel", "lifecycle",
                  "order_count", "gmv_fen", "refunded_fen", "last_interaction_at",
                  "last_order_at", "tags", "current_staff_ids")


def encode_member_cursor(position: int, customer_id: UUID) -> str:
    return base64.urlsafe_b64encode(f"m:{position}:{customer_id}".encode()).decode()


def decode_member_cursor(cursor: str) -> tuple[int, UUID]:
    try:
        kind, position, customer = base64.urlsafe_b64decode(cursor.encode()).decode().split(":")
        if kind != "m":
            raise ValueError(kind)
        return int(position), UUID(customer)
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError("malformed cursor") from error


class SegmentReads:
    def __init__(self, pool: AsyncConnectionPool[AsyncConnection[DictRow]]) -> None:
        self.pool = pool

    async def _all(self, query: str, params: Any = None) -> list[Row]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(query, params)
            return await cur.fetchall()

    async def segments(self, include_archived: bool, include_built_in: bool) -> list[Row]:
        return await self._all(
            "SELECT * FROM segment WHERE (%s OR archived_at IS NULL) AND (%s OR NOT built_in) "
            "ORDER BY built_in DESC, defined_at, segment_id", (include_archived, include_built_in))

    async def segment(self, segment_id: UUID) -> Row | None:
        rows = await self._all("SELECT * FROM segment WHERE segment_id = %s", (segment_id,))
        return rows[0] if rows else None

    async def members(self, segment_id: UUID, first: int, after: tuple[int, UUID] | None,
                      staff_id: str | None) -> tuple[list[Row], bool]:
        """Members, latest entry first, with their profile rows (keyset pagination)."""
        where = ["m.segment_id = %s"]
        params: list[Any] = [segment_id]
        if after is not None:
            where.append("(m.entry_position, m.customer_id) < (%s, %s)")
            params.extend(after)
        if staff_id is not None:
            where.append("p.current_staff_ids @> ARRAY[%s::text]")
            params.append(staff_id)
        params.append(first + 1)
        rows = await self._all(
            f"SELECT m.since AS member_since, m.rule_version AS member_version, "
            f"m.entry_position, {', '.join('p.' + c.strip() for c in PROFILE_COLUMNS.split(','))} "
            "FROM segment_membership m JOIN customer_profile_view p USING (customer_id) "
            f"WHERE {' AND '.join(where)} ORDER BY m.entry_position DESC, m.customer_id DESC "
            "LIMIT %s", params)
        return rows[:first], len(rows) > first

    async def is_member(self, segment_id: UUID, customer_id: UUID) -> Row | None:
        rows = await self._all("SELECT * FROM segment_membership WHERE segment_id = %s "
                               "AND customer_id = %s", (segment_id, customer_id))
        return rows[0] if rows else None

    async def entries(self, segment_id: UUID | None, customer_id: UUID | None,
                      change: str | None, since: datetime | None, until: datetime | None,
                      first: int, before_id: int | None, time_column: str = "occurred_at"
                      ) -> tuple[list[Row], bool]:
        """Ledger entries, newest first; ``since``/``until`` by ``time_column``."""
        clock = _clock(time_column)
        where: list[str] = []
        params: list[Any] = []
        for column, value in (("segment_id", segment_id), ("customer_id", customer_id),
                              ("change", change)):
            if value is not None:
                where.append(f"{column} = %s")
                params.append(value)
        if since is not None:
            where.append(f"{clock} >= %s")
            params.append(since)
        if until is not None:
            where.append(f"{clock} < %s")
            params.append(until)
        if before_id is not None:
            where.append("entry_id < %s")
            params.append(before_id)
        params.append(first + 1)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = await self._all(f"SELECT * FROM segment_ledger {clause} "
                               "ORDER BY entry_id DESC LIMIT %s", params)
        return rows[:first], len(rows) > first

    async def size_series(self, segment_id: UUID, start: datetime, end: datetime,
                          step_hours: int, time_column: str = "occurred_at") -> list[Row]:
        """Members at each instant ``start, start + step, … <= end`` (actual history), by
        business time (``occurred_at``) or recording time (``at``)."""
        clock = _clock(time_column)
        return await self._all(
            "SELECT t.at, (SELECT coalesce(sum(CASE change WHEN 'ENTERED' THEN 1 ELSE -1 END), 0) "
            f"FROM segment_ledger l WHERE l.segment_id = %s AND {ACTUAL} AND l.{clock} <= t.at) "
            "AS size FROM generate_series(%s::timestamptz, %s::timestamptz, "
            "%s * interval '1 hour') AS t(at) ORDER BY t.at",
            (segment_id, start, end, step_hours))

    async def customer_segments(self, customer_id: UUID) -> list[Row]:
        return await self._all(
            "SELECT s.segment_id, s.name, s.built_in, m.since, m.rule_version "
            "FROM segment_membership m JOIN segment s USING (segment_id) "
            "WHERE m.customer_id = %s ORDER BY s.built_in DESC, s.name", (customer_id,))

    async def lifecycle_history(self, customer_id: UUID, stages: dict[UUID, str]) -> list[Row]:
        return await self._all(
            "SELECT segment_id, at, occurred_at, cause, cause_event FROM segment_ledger "
            "WHERE customer_id = %s AND segment_id = ANY(%s) AND change = 'ENTERED' "
            "AND NOT backfilled ORDER BY entry_id", (customer_id, sorted(stages)))

    async def preview(self, rule: dict[str, Any], at: datetime, sample: int) -> tuple[int, list[UUID]]:
        """How many customers match ``rule`` now (a dry run: nothing is recorded)."""
        condition, params = compile_rule(rule)
        params = {**params, "at": at, "sample": sample}
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT count(*) AS n FROM customer_profile p WHERE {condition}", params)
            found = await cur.fetchone()
            cur = await conn.execute(
                f"SELECT customer_id FROM customer_profile p WHERE {condition} "
                "ORDER BY position DESC LIMIT %(sample)s", params)
            ids = [r["customer_id"] for r in await cur.fetchall()]
        return (int(found["n"]) if found else 0), ids

    async def export(self, segment_id: UUID) -> AsyncIterator[Row]:
        """Every member with BI columns (no personal data), in customer id order."""
        columns = ", ".join("m." + c if c in ("since", "rule_version", "customer_id") else "p." + c
                            for c in EXPORT_COLUMNS)
        async with self.pool.connection() as conn, conn.transaction(), \
                conn.cursor(name="segment_export") as cur:
            await cur.execute(
                f"SELECT {columns} FROM segment_membership m JOIN customer_profile_view p "
                "USING (customer_id) WHERE m.segment_id = %s ORDER BY m.customer_id",
                (segment_id,))
            async for row in cur:
                yield row

    async def full_profile(self, customer_id: UUID) -> Row | None:
        """Every column of the customer's ``customer_profile`` row (what rules read)."""
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT * FROM customer_profile WHERE customer_id = %s",
                                     (customer_id,))
            row = await cur.fetchone()
        return None if row is None else dict(row)


def _clock(column: str) -> str:
    if column not in TIME_COLUMNS:
        raise ValueError(f"time column must be one of {TIME_COLUMNS}")
    return column


AUTO_TAG_CANDIDATES = """
SELECT s.segment_id, s.auto_tag, m.customer_id
FROM segment s
JOIN segment_membership m USING (segment_id)
JOIN customer_profile p USING (customer_id)
WHERE s.auto_tag IS NOT NULL AND s.archived_at IS NULL
  AND NOT p.tags @> ARRAY[s.auto_tag]
  AND NOT EXISTS (SELECT 1 FROM siyu_event_key k
                  WHERE k.event_key = 'autotag:' || s.segment_id || ':' || m.customer_id)
ORDER BY m.entry_position, m.customer_id
LIMIT %s
"""


def auto_tag_candidates(conn: psycopg.Connection[Any], limit: int) -> list[Row]:
    """Members of auto-tag segments without the tag, never tagged by that rule (its event
    key): ``segment_id``, ``auto_tag``, ``customer_id``; none before the read models exist.
    ``conn`` in autocommit (a missing table must not leave a failed transaction)."""
    with conn.cursor(row_factory=dict_row) as curs:
        try:
            return curs.execute(AUTO_TAG_CANDIDATES, (limit,)).fetchall()
        except psycopg.errors.UndefinedTable:
            return []  # read models not created yet
