"""Reads of the SOP read models for the API: sequences with their progress, a customer's
enrolments with their steps."""

from __future__ import annotations

from uuid import UUID

from projections.reads import AsyncPool, Row

#: Columns of ``sop_progress`` read with each sequence.
PROGRESS = ("enrolled", "active", "completed", "stopped", "stopped_converted",
            "stopped_opted_out", "stopped_archived", "stopped_left_group")


async def sops(pool: AsyncPool, *, state: str | None = None, sop_id: UUID | None = None
               ) -> tuple[list[Row], list[Row]]:
    """Sequences (in ``state``, or the one ``sop_id``, or all) with their :data:`PROGRESS`,
    newest first; and their ``sop_step_progress`` rows by sequence, revision and step."""
    where: str
    args: tuple[object, ...]
    if sop_id is not None:
        where, args = "s.sop_id = %s", (sop_id,)
    else:
        where, args = "%s::text IS NULL OR s.state = %s", (state, state)
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT s.*, " + ", ".join(f"p.{c}" for c in PROGRESS) + " FROM sop s "
            f"JOIN sop_progress p USING (sop_id) WHERE {where} ORDER BY s.defined_at DESC", args)
        rows = await cur.fetchall()
        cur = await conn.execute("SELECT * FROM sop_step_progress WHERE sop_id = ANY(%s) "
                                 "ORDER BY sop_id, revision, step",
                                 ([r["sop_id"] for r in rows],))
        steps = await cur.fetchall()
    return list(rows), list(steps)


async def enrolments(pool: AsyncPool, customer_id: UUID) -> tuple[list[Row], list[Row]]:
    """A customer's enrolments (with the sequence's ``name``), newest first; and their
    ``sop_send`` rows by enrolment and step."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT e.*, s.name FROM sop_enrolment e JOIN sop s USING (sop_id) "
            "WHERE e.customer_id = %s ORDER BY e.triggered_at DESC, e.enrolment_id",
            (customer_id,))
        rows = await cur.fetchall()
        cur = await conn.execute("SELECT * FROM sop_send WHERE customer_id = %s "
                                 "ORDER BY enrolment_id, step", (customer_id,))
        sends = await cur.fetchall()
    return list(rows), list(sends)


async def current_members(pool: AsyncPool, user_ids: list[str]) -> set[str]:
    """Those of ``user_ids`` that are the WeCom UserID of a current staff member
    (``staff_directory``): who may send a group step."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT wecom_user_id FROM staff_directory WHERE wecom_user_id = ANY(%s) "
            "AND left_at IS NULL", (user_ids,))
        return {r["wecom_user_id"] for r in await cur.fetchall()}
