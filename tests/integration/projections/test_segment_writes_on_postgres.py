"""A page writes the members and checks it knows to be stored as updates, those it knows
to be absent as inserts, and those of customers it did not load as upserts: each lands as
the one upsert did (a key written the wrong way fails: a duplicate, or nothing updated)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from projections.segments.engine import ENTERED, EXITED, Cause, LedgerEntry, Memberships, key
from projections.segments.store import flush, load_state

pytestmark = pytest.mark.integration

SEGMENT = UUID(int=7)
STORED, NEW, STRANGER = UUID(int=1), UUID(int=2), UUID(int=3)
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def test_stored_keys_are_updated_new_ones_inserted_and_those_of_customers_not_loaded_upserted(
        pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn, conn.cursor() as curs, \
            conn.cursor(row_factory=dict_row) as page:
        # Given a member with a due check, and a customer with a due check the page will
        # not load
        curs.execute("INSERT INTO segment (segment_id, name, rule, rule_version, "
                     "time_dependent, defined_by, defined_at, position, member_count) "
                     "VALUES (%s, 's', %s, 2, true, 'test', %s, 1, 1)",
                     (SEGMENT, Jsonb({"isFriend": True}), T0))
        curs.execute("INSERT INTO segment_membership VALUES (%s, %s, 1, %s, 1)",
                     (SEGMENT, STORED, T0))
        for customer in (STORED, STRANGER):
            curs.execute("INSERT INTO segment_check VALUES (%s, %s, %s)",
                         (SEGMENT, customer, T0 + timedelta(days=30)))
        # When a page loads the first and a new customer: the member leaves and enters
        # again, its check moves earlier; the new customer enters with a check; and the
        # customer not loaded enters, its check moved earlier
        state = Memberships()
        load_state(page, state, [STORED, NEW])
        cause = Cause("EVENT", 9, "Customer.Tagged")
        later = T0 + timedelta(days=1)
        for customer, change in ((STORED, EXITED), (STORED, ENTERED), (NEW, ENTERED),
                                 (STRANGER, ENTERED)):
            state.record(LedgerEntry(SEGMENT, 2, customer, change, later, cause))
        state.set_check(key(SEGMENT, STORED), T0 + timedelta(days=7))
        state.set_check(key(SEGMENT, NEW), T0 + timedelta(days=8))
        state.set_check(key(SEGMENT, STRANGER), T0 + timedelta(days=9))
        flush(page, state)
        # Then every row is the one an upsert of each would have left
        curs.execute("SELECT customer_id, rule_version, since, entry_position "
                     "FROM segment_membership ORDER BY customer_id")
        assert curs.fetchall() == [(c, 2, later, 9) for c in (STORED, NEW, STRANGER)]
        curs.execute("SELECT customer_id, check_at FROM segment_check ORDER BY customer_id")
        assert curs.fetchall() == [(STORED, T0 + timedelta(days=7)),
                                   (NEW, T0 + timedelta(days=8)),
                                   (STRANGER, T0 + timedelta(days=9))]
        curs.execute("SELECT member_count FROM segment WHERE segment_id = %s", (SEGMENT,))
        assert curs.fetchall() == [(3,)]
