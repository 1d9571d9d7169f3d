"""Async queries over the customer profile (and the event log, identities and vault behind
it): :class:`ReadModels`, the object the API reads customers through, one method per
question."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from projections.reads import AsyncPool, Row
from projections.staff_directory import queries as staff_directory_queries
from projections.vault import queries as vault_queries

PROFILE_COLUMNS = (
    "customer_id, position, first_channel, first_seen_at, identities, staff_relations, "
    "current_staff_ids, muted_staff_ids, tags, tag_details, groups, official_accounts, "
    "member_level, "
    "referred_by, order_count, gmv_fen, refund_count, refunded_fen, orders_placed, "
    "orders_cancelled, points_balance, coupons_issued, coupons_redeemed, dnd, consents, "
    "referrals_brought, content_views, content_forwards, messages_received, messages_sent, "
    "activities_joined, last_interaction_at, first_order_at, last_order_at, last_message_at, "
    "last_activity_at, sku_quantities, category_orders, topic_views, event_count, updated_at, "
    "lifecycle, average_order_fen, "
    "recency_score, frequency_score, monetary_score, positioning, erased_at"
)

#: A stored event's business time, read from its stored state (JSON, as the transcoder
#: writes a datetime): exact for events not projected yet, and for every stream.
OCCURRED_AT = ("(convert_from(state, 'UTF8')::jsonb #>> '{occurred_at,_data_}')"
               "::timestamptz")


@dataclass(frozen=True, slots=True)
class CustomerFilterValues:
    tags: tuple[str, ...] = ()
    lifecycle: str | None = None
    staff_id: str | None = None
    first_channel: str | None = None
    #: A friend of any of these staff members (a principal's scope); None: no such limit.
    staff_ids: tuple[str, ...] | None = None


class ReadModels:
    """The API's reads of customers (profiles, merges, history, identities, sealed
    personal data) and of the staff directory, through its connection pool."""

    def __init__(self, pool: AsyncPool) -> None:
        self.pool = pool

    async def profile(self, customer_id: UUID) -> Row | None:
        """The customer's profile; a merged-away customer's id leads to its survivor's."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT {PROFILE_COLUMNS} FROM customer_profile_view "
                "WHERE customer_id = %s", (customer_id,), prepare=True)
            row = await cur.fetchone()
            if row is not None:
                return row
            cur = await conn.execute(
                "WITH RECURSIVE up(id, depth) AS (SELECT %s::uuid, 0 UNION ALL "
                "SELECT m.parent_id, up.depth + 1 FROM customer_profile_member m "
                "JOIN up ON m.stream_id = up.id WHERE up.depth < 64) "
                f"SELECT {PROFILE_COLUMNS} FROM customer_profile_view p JOIN up "
                "ON p.customer_id = up.id ORDER BY up.depth DESC LIMIT 1", (customer_id,))
            return await cur.fetchone()

    async def group(self, root: UUID) -> list[UUID]:
        """The root and every customer merged into it (directly or not)."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "WITH RECURSIVE g(id) AS (SELECT %s::uuid UNION SELECT m.stream_id "
                "FROM customer_profile_member m JOIN g ON m.parent_id = g.id) SELECT id FROM g",
                (root,))
            return [r["id"] for r in await cur.fetchall()]

    async def history(self, streams: Sequence[UUID], *, newest_first: bool,
                      before: int | None, after: int | None, limit: int,
                      topics: Sequence[str] | None = None,
                      occurred_from: datetime | None = None,
                      occurred_to: datetime | None = None) -> list[Row]:
        """Stored events of the given streams, in log order, keyset-paginated by position;
        only those stored under ``topics`` if given, and whose business time
        (``occurred_at``) is in [``occurred_from``, ``occurred_to``) if given."""
        where: list[str] = ["originator_id = ANY(%s)"]
        params: list[Any] = [list(streams)]
        if before is not None:
            where.append("notification_id < %s")
            params.append(before)
        if after is not None:
            where.append("notification_id > %s")
            params.append(after)
        if topics is not None:
            where.append("topic = ANY(%s)")
            params.append(list(topics))
        for bound, operator in ((occurred_from, ">="), (occurred_to, "<")):
            if bound is not None:
                where.append(f"{OCCURRED_AT} {operator} %s")
                params.append(bound)
        params.append(limit)
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT notification_id, originator_id, originator_version, topic, state "
                f"FROM siyu_events WHERE {' AND '.join(where)} "
                f"ORDER BY notification_id {'DESC' if newest_first else 'ASC'} LIMIT %s", params)
            return await cur.fetchall()

    async def profiles(self, customer_ids: Sequence[UUID]) -> dict[UUID, Row]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT {PROFILE_COLUMNS} FROM customer_profile_view "
                "WHERE customer_id = ANY(%s)", (list(customer_ids),), prepare=True)
            return {row["customer_id"]: row for row in await cur.fetchall()}

    async def customer_for_blind_index(self, blind: str) -> UUID | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT customer_id FROM siyu_identity WHERE blind_index = %s", (blind,))
            row = await cur.fetchone()
            return None if row is None else row["customer_id"]

    async def list_profiles(
        self, filters: CustomerFilterValues, first: int, after: int | None
    ) -> tuple[list[Row], bool]:
        """Newest customers first, keyset-paginated on ``position``."""
        where: list[str] = []
        params: list[Any] = []
        if filters.tags:
            where.append("tags @> %s")
            params.append(list(filters.tags))
        if filters.staff_id is not None:
            where.append("current_staff_ids @> %s")
            params.append([filters.staff_id])
        if filters.staff_ids is not None:
            where.append("current_staff_ids && %s")
            params.append(list(filters.staff_ids))
        if filters.first_channel is not None:
            where.append("first_channel = %s")
            params.append(filters.first_channel)
        if filters.lifecycle is not None:
            where.append("lifecycle = %s")
            params.append(filters.lifecycle)
        if after is not None:
            where.append("position < %s")
            params.append(after)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        params.append(first + 1)
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT {PROFILE_COLUMNS} FROM customer_profile_view {clause} "
                "ORDER BY position DESC LIMIT %s", params)
            rows = await cur.fetchall()
        return rows[:first], len(rows) > first

    async def vault(self, subject_ids: Sequence[UUID]) -> dict[UUID, tuple[bytes, dict[str, bytes]]]:
        """Wrapped key and sealed fields per subject (absent: erased or none)."""
        return await vault_queries.sealed_subjects(self.pool, subject_ids)

    async def staff(self, staff_id: UUID) -> Row | None:
        return await staff_directory_queries.member(self.pool, staff_id)

    async def staff_for_wecom_user(self, user_id: str) -> UUID | None:
        """The current staff member with this WeCom UserID (the latest hired, if several)."""
        return await staff_directory_queries.for_wecom_user(self.pool, user_id)

    async def staff_list(self, include_left: bool) -> list[Row]:
        return await staff_directory_queries.members(self.pool, include_left=include_left)
