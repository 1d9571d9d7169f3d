"""A flush deletes the memberships of the members who left that the table may hold: not
those of a customer loaded whole who entered and left since loading (no row to delete)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from projections.segments.engine import (
    ENTERED,
    EXITED,
    Cause,
    LedgerEntry,
    Memberships,
    key,
)
from projections.segments.store import _membership_writes


def test_a_member_who_came_and_left_since_loading_is_not_deleted() -> None:
    # Given a customer loaded whole, a member of one segment, and a customer not loaded
    segment, other, loaded, stranger = uuid4(), uuid4(), uuid4(), uuid4()
    state = Memberships()
    state.members[key(other, loaded)] = 1
    state.stored[loaded.int] = ({key(other, loaded): 1}, {})
    at, cause = datetime(2026, 12, 8, tzinfo=UTC), Cause("EVENT", 1, "E")
    # When the loaded one enters a segment and leaves it and the other, and so does the
    # stranger
    for customer in (loaded, stranger):
        state.record(LedgerEntry(segment, 1, customer, ENTERED, at, cause))
        state.record(LedgerEntry(segment, 1, customer, EXITED, at, cause))
    state.record(LedgerEntry(other, 1, loaded, EXITED, at, cause))
    parts, params = _membership_writes(state)
    # Then one delete goes: of the stored member, and of the stranger's (perhaps stored)
    deletes = [n for n, p in enumerate(parts) if p.startswith("DELETE FROM segment_membership")]
    assert len(deletes) == 1
    segments, customers = params[0], params[1]
    assert len(bytes(segments)) == len(bytes(customers)) == 20 + 2 * 20
    assert other.bytes in bytes(segments) and loaded.bytes in bytes(customers)
    assert stranger.bytes in bytes(customers)
