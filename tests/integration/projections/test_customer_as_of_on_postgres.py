"""``siyu_customer_as_of`` on PostgreSQL: each page's index rows are COPYed in, and a page
applied again (a replay) adds nothing."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from application.app import Siyu
from bench import workload
from projections.customer_as_of import CustomerAsOfView
from projections.runner import BatchRunner, Tracker
from tests.support.read_models import replay_whole_log

pytestmark = pytest.mark.integration


def rows(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return list(conn.execute("SELECT * FROM siyu_customer_as_of ORDER BY 1, 2"))


def test_a_page_applied_again_indexes_each_event_once(pg_app: Siyu, pg_url: str) -> None:
    # Given a log of customer events indexed page by page
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    view = CustomerAsOfView()
    runner = BatchRunner(pg_app, view, tracker, page_size=50)
    pg_app.ingestion.record_batch(workload.items(120, customers=15, seed=3), "service:test")
    runner.catch_up()
    before = rows(pg_url)
    assert len(before) > 120
    # When the whole log is applied to the view again, tracking aside (a replay)
    replay_whole_log(pg_app, runner)
    # Then every event is indexed once, as before
    assert rows(pg_url) == before
