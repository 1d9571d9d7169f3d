"""Reads of ``tag_group``."""

from __future__ import annotations

from uuid import UUID

from projections.reads import AsyncPool, Row, fetch_all, fetch_one


async def group(pool: AsyncPool, group_id: UUID) -> Row | None:
    return await fetch_one(pool, "SELECT * FROM tag_group WHERE group_id = %s", (group_id,))


async def groups(pool: AsyncPool, *, include_archived: bool) -> list[Row]:
    """Tag groups, oldest first."""
    return await fetch_all(pool, "SELECT * FROM tag_group WHERE %s OR archived_at IS NULL "
                                 "ORDER BY created_at, group_id", (include_archived,))
