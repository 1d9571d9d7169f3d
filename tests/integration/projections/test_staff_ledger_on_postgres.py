"""``staff_kpi_ledger`` on PostgreSQL: a page's rows are COPYed in, and a page applied again
(a replay) counts nothing twice."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from application.app import Siyu
from bench import workload
from projections.runner import BatchRunner, Tracker
from projections.staff_performance import StaffPerformanceView
from tests.support.read_models import replay_whole_log

pytestmark = pytest.mark.integration
TABLES = ("staff_kpi_ledger", "staff_daily_performance", "staff_daily_channel")


def tables(url: str) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(url) as conn:
        return {t: list(conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2")) for t in TABLES}


def test_a_page_applied_again_credits_nothing_twice(pg_app: Siyu, pg_url: str) -> None:
    # Given friend adds and orders credited page by page
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    view = StaffPerformanceView()
    runner = BatchRunner(pg_app, view, tracker, page_size=40)
    pg_app.ingestion.record_batch(workload.items(200, customers=20, seed=4), "service:test")
    runner.catch_up()
    before = tables(pg_url)
    assert len(before["staff_kpi_ledger"]) > 20 and before["staff_daily_performance"]
    # When the whole log is applied to the view again, tracking aside (a replay)
    replay_whole_log(pg_app, runner)
    # Then the ledger and every counter are as before
    assert tables(pg_url) == before
