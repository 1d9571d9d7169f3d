"""An existing deployment upgrades: the KPI functions of the older read-model version (other
result columns) are replaced when the view is created again."""

from __future__ import annotations

from datetime import date

import psycopg
import pytest

from application.app import Siyu
from projections.runner import BatchRunner, Tracker
from projections.staff_performance import StaffPerformanceView

# A database with no schema: the previous version's functions are defined first.
pytestmark = [pytest.mark.integration, pytest.mark.fresh_database]


def test_kpi_functions_of_the_previous_version_are_replaced(
        pg_app: Siyu, pg_url: str) -> None:
    # Given the v1 functions' shape (fewer result columns) already defined
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION staff_kpi_rollup(p_staff text[], p_department text, p_from date, "
            "p_to date, p_timeout_seconds integer DEFAULT 1800, p_as_of timestamptz "
            "DEFAULT now()) RETURNS TABLE (staff_count bigint, follow_ups bigint) "
            "LANGUAGE sql AS $$ SELECT 0::bigint, 0::bigint $$")
        conn.execute(
            "CREATE FUNCTION staff_performance_by_period(p_kind text, p_from date, p_to date) "
            "RETURNS TABLE (staff_id text, follow_ups bigint) LANGUAGE sql "
            "AS $$ SELECT ''::text, 0::bigint $$")
    # When the view is created (as on start after the version bump)
    runner = BatchRunner(pg_app, StaffPerformanceView(),
                         Tracker(pg_app.factory.datastore))  # type: ignore[attr-defined]
    runner.catch_up()
    # Then the functions give the new columns
    with psycopg.connect(pg_url) as conn:
        cur = conn.execute("SELECT * FROM staff_kpi_rollup(ARRAY['s'], NULL, %s, %s)",
                           (date(2026, 11, 1), date(2026, 11, 30)))
        names = [c.name for c in cur.description or ()]
        assert {"marketing_tasks_assigned", "campaign_execution_rate", "roi",
                "sensitive_word_hits"} <= set(names)
        cur = conn.execute("SELECT * FROM staff_performance_by_period('month', %s, %s)",
                           (date(2026, 11, 1), date(2026, 11, 30)))
        assert "campaign_sends_confirmed" in [c.name for c in cur.description or ()]
