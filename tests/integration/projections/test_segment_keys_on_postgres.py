"""What the membership engine keeps under its int keys is written to the rows of the right
segment and customer: members, due checks, counts and the ledger (binary COPY and arrays),
with ids chosen so that a segment's and a customer's bits swapped or shifted would collide."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import cast
from uuid import UUID

import psycopg
import pytest
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from projections.segments.engine import ENTERED, EXITED, Cause, LedgerEntry, Memberships, key
from projections.segments.store import flush

pytestmark = pytest.mark.integration

SEGMENTS = [UUID(int=1), UUID(int=2), UUID(int=(1 << 128) - 1)]
CUSTOMERS = [UUID(int=2), UUID(int=1), UUID(int=0), UUID(int=1 << 127)]
AT = datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)
SHANGHAI = timezone(timedelta(hours=8))


def test_members_checks_counts_and_ledger_go_to_their_own_segment_and_customer(
        pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn, conn.cursor() as curs:
        for n, segment in enumerate(SEGMENTS):
            curs.execute("INSERT INTO segment (segment_id, name, rule, rule_version, "
                         "time_dependent, defined_by, defined_at, position, member_count) "
                         "VALUES (%s, %s, %s, 1, false, 'test', %s, %s, 5)",
                         (segment, f"s{n}", Jsonb({"isFriend": True}), AT, n))
        state = Memberships()
        expected_members: dict[tuple[UUID, UUID], tuple[int, datetime, int]] = {}
        expected_checks: dict[tuple[UUID, UUID], datetime] = {}
        expected_ledger: list[tuple[object, ...]] = []
        # Given every segment and customer entered, then some left and some got a due check
        for s, segment in enumerate(SEGMENTS):
            for c, customer in enumerate(CUSTOMERS):
                position = 10 * s + c
                occurred = None if c % 2 else AT.astimezone(SHANGHAI) - timedelta(days=c)
                cause = Cause("EVENT", position, f"Customer.E{s}{c}", backfilled=c == 3,
                              occurred_at=occurred)
                when = AT + timedelta(seconds=position)
                entry = LedgerEntry(segment, s + 1, customer, ENTERED, when, cause)
                state.record(entry)
                expected_ledger.append((segment, s + 1, customer, ENTERED, when,
                                        occurred or when, "EVENT", position,
                                        f"Customer.E{s}{c}", c == 3))
                if (s + c) % 3 == 0:
                    gone = LedgerEntry(segment, s + 1, customer, EXITED, when, cause)
                    state.record(gone)
                    expected_ledger.append((segment, s + 1, customer, EXITED, when,
                                            occurred or when, "EVENT", position,
                                            f"Customer.E{s}{c}", c == 3))
                else:
                    expected_members[(segment, customer)] = (s + 1, when, position)
                if c != s:
                    check = AT + timedelta(days=s, hours=c)
                    state.set_check(key(segment, customer), check)
                    expected_checks[(segment, customer)] = check
        # When they are written
        flush(cast("Cursor[DictRow]", curs), state)  # it reads no rows back
        # Then each row is that of its own pair
        curs.execute("SELECT segment_id, customer_id, rule_version, since, entry_position "
                     "FROM segment_membership")
        assert {(r[0], r[1]): r[2:] for r in curs.fetchall()} == expected_members
        curs.execute("SELECT segment_id, customer_id, check_at FROM segment_check")
        assert {(r[0], r[1]): r[2] for r in curs.fetchall()} == expected_checks
        curs.execute("SELECT segment_id, member_count FROM segment WHERE segment_id = ANY(%s)",
                     (SEGMENTS,))
        assert dict(curs.fetchall()) == {
            segment: 5 + sum(1 for s, _ in expected_members if s == segment)
            for segment in SEGMENTS}
        curs.execute("SELECT segment_id, rule_version, customer_id, change, at, occurred_at, "
                     "cause, cause_position, cause_event, backfilled "
                     "FROM segment_ledger ORDER BY entry_id")
        assert curs.fetchall() == expected_ledger
        conn.rollback()
