"""Reads of ``staff_directory``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Connection

from projections.reads import AsyncPool, Pool, Row, fetch_all


def employed_between(pool: Pool, start: datetime, end: datetime) -> list[tuple[Any, ...]]:
    """(staff id, role, WeCom UserID) of members hired before ``end`` who had not left by
    ``start``, by staff id."""
    with pool.connection() as conn:
        rows: list[tuple[Any, ...]] = conn.execute(
            "SELECT staff_id::text, role, wecom_user_id FROM staff_directory "
            "WHERE hired_at < %s AND (left_at IS NULL OR left_at >= %s) ORDER BY staff_id",
            (end, start)).fetchall()
    return rows


async def headcounts(pool: AsyncPool) -> dict[str, int]:
    """Staff employed now, per department."""
    rows = await fetch_all(pool, "SELECT department, count(*) AS n FROM staff_directory "
                                 "WHERE left_at IS NULL GROUP BY department")
    return {r["department"]: r["n"] for r in rows}


async def of_department(pool: AsyncPool, department: str, *, include_left: bool) -> list[Row]:
    """Members of a department, by hire date."""
    return await fetch_all(pool, "SELECT * FROM staff_directory WHERE department = %s "
                                 "AND (%s OR left_at IS NULL) ORDER BY hired_at, staff_id",
                           (department, include_left))


def standing(conn: Connection[tuple[Any, ...]], staff_id: str
             ) -> tuple[str, str, frozenset[str]] | None:
    """(role, department, the department's current members) of a current member; None for
    one unknown to the directory or who left."""
    row = conn.execute(
        "SELECT s.role, s.department, ARRAY(SELECT d.staff_id::text FROM staff_directory d "
        "WHERE d.department = s.department AND d.left_at IS NULL) "
        "FROM staff_directory s WHERE s.staff_id::text = %s AND s.left_at IS NULL",
        (staff_id,)).fetchone()
    return None if row is None else (str(row[0]), str(row[1]), frozenset(row[2]))


def managers(pool: Pool, staff_id: str, roles: Sequence[str]) -> list[tuple[Any, ...]]:
    """(staff id, same department as ``staff_id``) of current members holding ``roles``."""
    with pool.connection() as conn:
        rows: list[tuple[Any, ...]] = conn.execute(
            "SELECT m.staff_id::text, m.department = s.department AS same "
            "FROM staff_directory m LEFT JOIN staff_directory s "
            "ON s.staff_id::text = %s WHERE m.role = ANY(%s) AND m.left_at IS NULL",
            (staff_id, list(roles))).fetchall()
    return rows


def wecom_users(pool: Pool, staff_ids: Sequence[str]) -> dict[str, str]:
    """WeCom UserIDs of the staff members who have one."""
    with pool.connection() as conn:
        rows = conn.execute("SELECT staff_id::text, wecom_user_id FROM staff_directory "
                            "WHERE staff_id::text = ANY(%s) AND wecom_user_id IS NOT NULL",
                            (list(staff_ids),)).fetchall()
    return {str(a): str(b) for a, b in rows}


async def member(pool: AsyncPool, staff_id: UUID) -> Row | None:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT * FROM staff_directory WHERE staff_id = %s",
                                 (staff_id,))
        return await cur.fetchone()


async def for_wecom_user(pool: AsyncPool, user_id: str) -> UUID | None:
    """The current staff member with this WeCom UserID (the latest hired, if several)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT staff_id FROM staff_directory WHERE wecom_user_id = %s "
            "AND left_at IS NULL ORDER BY hired_at DESC LIMIT 1", (user_id,))
        row = await cur.fetchone()
        if row is None:
            return None
        staff_id: UUID = row["staff_id"]
        return staff_id


async def members(pool: AsyncPool, *, include_left: bool) -> list[Row]:
    """Members (employed now, or ever), by hire date."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT * FROM staff_directory WHERE %s OR left_at IS NULL ORDER BY hired_at",
            (include_left,))
        return await cur.fetchall()


async def wecom_user_ids(pool: AsyncPool, staff_ids: Sequence[str]) -> dict[str, str]:
    """WeCom UserIDs of the staff members (ids as text) who have one."""
    rows = await fetch_all(pool, "SELECT staff_id::text AS staff_id, wecom_user_id "
                                 "FROM staff_directory WHERE staff_id::text = ANY(%s) "
                                 "AND wecom_user_id IS NOT NULL", (list(staff_ids),))
    return {r["staff_id"]: r["wecom_user_id"] for r in rows}
