"""Reads of ``wecom_tag_map``."""

from __future__ import annotations

from collections.abc import Sequence

from projections.reads import AsyncPool, fetch_all


async def wecom_tag_ids(pool: AsyncPool, tags: Sequence[str]) -> dict[str, str]:
    """The WeCom tag id of each of ``tags`` the synced library matches (others absent)."""
    if not tags:
        return {}
    rows = await fetch_all(pool, "SELECT tag, wecom_tag_id FROM wecom_tag_map "
                                 "WHERE tag = ANY(%s) ORDER BY tag, wecom_tag_id", (list(tags),))
    return {r["tag"]: r["wecom_tag_id"] for r in rows}
