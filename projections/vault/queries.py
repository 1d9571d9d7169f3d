"""Sealed values of the personal-data vault, per subject."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from projections.reads import AsyncPool, fetch_one


async def sealed(pool: AsyncPool, subject_id: UUID, field: str) -> tuple[bytes, bytes] | None:
    """The subject's wrapped key and the field's ciphertext, or ``None``."""
    row = await fetch_one(
        pool, "SELECT k.wrapped, v.ciphertext FROM siyu_vault_key k JOIN siyu_vault_value v "
              "USING (subject_id) WHERE k.subject_id = %s AND v.field = %s", (subject_id, field))
    return None if row is None else (bytes(row["wrapped"]), bytes(row["ciphertext"]))


async def sealed_subjects(pool: AsyncPool, subject_ids: Sequence[UUID]
                          ) -> dict[UUID, tuple[bytes, dict[str, bytes]]]:
    """Wrapped key and sealed fields per subject (absent: erased or none); sealed messages
    (sensitive-word reviews) are opened by :func:`sealed` alone."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT k.subject_id, k.wrapped, v.field, v.ciphertext "
            "FROM siyu_vault_key k JOIN siyu_vault_value v USING (subject_id) "
            "WHERE k.subject_id = ANY(%s) AND v.field NOT LIKE 'message:%%'",
            (list(subject_ids),), prepare=True)
        out: dict[UUID, tuple[bytes, dict[str, bytes]]] = {}
        for row in await cur.fetchall():
            entry = out.setdefault(row["subject_id"], (bytes(row["wrapped"]), {}))
            entry[1][row["field"]] = bytes(row["ciphertext"])
        return out
