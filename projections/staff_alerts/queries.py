"""Reads of ``staff_alert``, ``sensitive_category`` and ``sensitive_term`` for the API."""

from __future__ import annotations

from uuid import UUID

from projections.reads import AsyncPool, Row, fetch_all, fetch_one


async def categories(pool: AsyncPool) -> list[Row]:
    """Sensitive-word categories, built-in ones first."""
    return await fetch_all(pool, "SELECT * FROM sensitive_category ORDER BY NOT built_in, "
                                 "category")


async def terms(pool: AsyncPool, *, include_removed: bool) -> list[Row]:
    """Sensitive terms by category and term number."""
    return await fetch_all(pool, "SELECT * FROM sensitive_term WHERE %s OR removed_at IS NULL "
                                 "ORDER BY category, (substr(term_id, 2))::int",
                           (include_removed,))


async def alert(pool: AsyncPool, alert_id: UUID) -> Row | None:
    return await fetch_one(pool, "SELECT * FROM staff_alert WHERE alert_id = %s", (alert_id,))


async def alerts(pool: AsyncPool, *, status: str | None, kind: str | None,
                 staff_id: str | None, recipient: str | None, before: int | None,
                 limit: int) -> list[Row]:
    """Alerts newest first, keyset-paginated on ``position``; every filter left ``None`` is
    not applied (``recipient``: alerts sent to that staff member)."""
    return await fetch_all(
        pool, "SELECT * FROM staff_alert WHERE (%s::text IS NULL OR status = %s) "
              "AND (%s::text IS NULL OR kind = %s) AND (%s::text IS NULL OR staff_id = %s) "
              "AND (%s::text IS NULL OR recipients @> ARRAY[%s::text]) "
              "AND (%s::bigint IS NULL OR position < %s) ORDER BY position DESC LIMIT %s",
        (status, status, kind, kind, staff_id, staff_id, recipient, recipient, before, before,
         limit))
