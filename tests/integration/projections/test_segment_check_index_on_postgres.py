"""A page of the profile loads its customers' segment checks through an index: a scan of
the whole table per page made rebuilds grow with the square of the log."""

from __future__ import annotations

import psycopg
import pytest

from application.app import Siyu
from projections.postgres_views import CustomerProfileView
from projections.runner import BatchRunner, Tracker

pytestmark = pytest.mark.integration


def test_the_checks_of_a_page_s_customers_are_found_by_customer_through_an_index(
        pg_app: Siyu, pg_url: str) -> None:
    # Given the profile's tables
    BatchRunner(pg_app, CustomerProfileView(), Tracker(pg_app.factory.datastore))  # type: ignore[attr-defined]
    # When the checks of some customers are looked up as a page does (store.load_state)
    with psycopg.connect(pg_url) as conn:
        conn.execute("SET enable_seqscan = off")
        plan = "\n".join(r[0] for r in conn.execute(
            "EXPLAIN SELECT segment_id, customer_id, check_at FROM segment_check "
            "WHERE customer_id = ANY(%s::uuid[])", (["00000000-0000-0000-0000-000000000001"],)))
    # Then an index on the customer finds them
    assert "segment_check_customer_idx" in plan
