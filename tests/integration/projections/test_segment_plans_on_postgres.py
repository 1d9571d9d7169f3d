"""A page's writes join their keys to the tables through the tables' indexes, never by
hashing or sorting a whole table, and leave the page's other statements planned as before."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.rows import dict_row

from projections.segments.plans import execute_by_index

pytestmark = pytest.mark.integration

#: The page's delete of memberships, as projections.segments.store writes it, explained.
DELETE = ("EXPLAIN DELETE FROM segment_membership m USING unnest(%s::uuid[], %s::uuid[]) "
          "AS g(s, c) WHERE m.segment_id = g.s AND m.customer_id = g.c")
KEYS = [[f"00000000-0000-0000-0000-{n:012d}" for n in range(500)]] * 2


def _plan(rows: list[dict[str, str]]) -> str:
    return "\n".join(r["QUERY PLAN"] for r in rows)


def test_a_pages_delete_of_memberships_goes_through_the_key_and_the_settings_come_back(
        pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn, conn.cursor(row_factory=dict_row) as curs:
        # Given a table of members the planner believes large (as a long log leaves it)
        curs.execute("INSERT INTO segment_membership SELECT gen_random_uuid(), "
                     "gen_random_uuid(), 1, now(), 1 FROM generate_series(1, 20000)")
        curs.execute("ANALYZE segment_membership")
        curs.execute(DELETE, KEYS)
        assert "Seq Scan on segment_membership" in _plan(curs.fetchall())  # by cost
        # When the page's statement is planned for its keys
        plan = _plan(execute_by_index(curs, DELETE, KEYS))
        # Then it looks each key up in an index, and the page's next statement is planned
        # with the server's settings again
        assert "Nested Loop" in plan and "Index Scan using segment_membership_" in plan
        assert "Seq Scan on segment_membership" not in plan
        curs.execute("SELECT current_setting('enable_hashjoin') AS h, "
                     "current_setting('enable_mergejoin') AS m")
        assert curs.fetchone() == {"h": "on", "m": "on"}
        conn.rollback()
