"""A page loads its customers' stored memberships and checks as the engine keys them: the
segment id's 128 bits then the customer id's (``engine.key``), whatever the ids' high bits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from projections.segments.engine import CUSTOMER_BITS, Memberships, key
from projections.segments.store import load_state

pytestmark = pytest.mark.integration

# Ids whose first and last bytes are set: a key built in the wrong byte order differs.
SEGMENTS = (UUID("f1000000-0000-4000-8000-0000000000a1"), UUID(int=7))
LOADED = (UUID("ff000000-0000-4000-8000-0000000000ff"), UUID(int=1))
OTHER = UUID(int=2)
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def test_a_page_loads_its_customers_members_and_checks_keyed_by_segment_and_customer(
        pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn, conn.cursor() as curs, \
            conn.cursor(row_factory=dict_row) as page:
        # Given two segments, two customers with memberships and checks, and another
        # customer's membership and check
        for n, segment in enumerate(SEGMENTS):
            curs.execute("INSERT INTO segment (segment_id, name, rule, rule_version, "
                         "time_dependent, defined_by, defined_at, position) "
                         "VALUES (%s, %s, %s, %s, true, 'test', %s, %s)",
                         (segment, f"s{n}", Jsonb({"isFriend": True}), n + 2, T0, n + 1))
        for n, customer in enumerate((*LOADED, OTHER)):
            curs.execute("INSERT INTO segment_membership VALUES (%s, %s, %s, %s, %s)",
                         (SEGMENTS[0], customer, 2, T0, n))
            curs.execute("INSERT INTO segment_check VALUES (%s, %s, %s)",
                         (SEGMENTS[1], customer, T0 + timedelta(days=n)))
        # When a page loads the first two customers
        state = Memberships()
        load_state(page, state, [*LOADED, LOADED[0]])
        # Then it holds their members and checks by the engine's keys, as stored
        assert state.members == {key(SEGMENTS[0], c): 2 for c in LOADED}
        assert state.checks == {key(SEGMENTS[1], c): T0 + timedelta(days=n)
                                for n, c in enumerate(LOADED)}
        # and, per loaded customer, what is stored of theirs
        assert state.stored == {c.int: ({k: v for k, v in state.members.items()
                                         if k & CUSTOMER_BITS == c.int},
                                        {k: v for k, v in state.checks.items()
                                         if k & CUSTOMER_BITS == c.int}) for c in LOADED}
