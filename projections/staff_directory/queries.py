"""Reads of ``staff_directory``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from projections.reads import Pool


def employed_between(pool: Pool, start: datetime, end: datetime) -> list[tuple[Any, ...]]:
    """(staff id, role, WeCom UserID) of members hired before ``end`` who had not left by
    ``start``, by staff id."""
    with pool.connection() as conn:
        rows: list[tuple[Any, ...]] = conn.execute(
            "SELECT staff_id::text, role, wecom_user_id FROM staff_directory "
            "WHERE hired_at < %s AND (left_at IS NULL OR left_at >= %s) ORDER BY staff_id",
            (end, start)).fetchall()
    return rows
