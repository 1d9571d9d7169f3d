"""Reads of ``chat_script``, ``chat_script_version`` and ``chat_script_usage``."""

from __future__ import annotations

from uuid import UUID

from projections.reads import AsyncPool, Row, fetch_all, fetch_one

#: Scripts with ``uses``: their total uses by every staff member.
_SELECT = ("SELECT s.*, coalesce((SELECT sum(u.uses) FROM chat_script_usage u "
           "WHERE u.script_id = s.script_id::text), 0) AS uses FROM chat_script s ")


async def script(pool: AsyncPool, script_id: UUID) -> Row | None:
    return await fetch_one(pool, _SELECT + "WHERE s.script_id = %s", (script_id,))


async def scripts(pool: AsyncPool, *, scenario: str | None, like: str | None,
                  include_archived: bool, before: int | None, limit: int) -> list[Row]:
    """Scripts newest first, keyset-paginated on ``position``; ``like`` (an ILIKE pattern)
    matches the title, the body or a keyword."""
    return await fetch_all(
        pool, _SELECT + "WHERE (%s::text IS NULL OR s.scenario = %s) "
        "AND (%s::text IS NULL OR s.title ILIKE %s OR s.body ILIKE %s "
        "OR EXISTS (SELECT 1 FROM unnest(s.keywords) k WHERE k ILIKE %s)) "
        "AND (%s OR s.archived_at IS NULL) AND (%s::bigint IS NULL OR s.position < %s) "
        "ORDER BY s.position DESC LIMIT %s",
        (scenario, scenario, like, like, like, like, include_archived, before, before, limit))


async def versions(pool: AsyncPool, script_id: UUID) -> list[Row]:
    """Every version of a script, oldest first."""
    return await fetch_all(pool, "SELECT * FROM chat_script_version WHERE script_id = %s "
                                 "ORDER BY version", (script_id,))


async def usage(pool: AsyncPool, script_id: str, staff_id: str | None) -> list[Row]:
    """Uses per staff member (one, or all), most first."""
    return await fetch_all(pool, "SELECT * FROM chat_script_usage WHERE script_id = %s "
                                 "AND (%s::text IS NULL OR staff_id = %s) "
                                 "ORDER BY uses DESC, staff_id", (script_id, staff_id, staff_id))


async def scenarios(pool: AsyncPool) -> list[str]:
    """Scenarios with a live script, in order."""
    rows = await fetch_all(pool, "SELECT DISTINCT scenario FROM chat_script "
                                 "WHERE archived_at IS NULL ORDER BY scenario")
    return [r["scenario"] for r in rows]
