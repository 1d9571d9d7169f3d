"""The BI role reads the documented read models and nothing else, across rebuilds."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from application.app import Siyu
from projections.bi_access import BI_RELATIONS, FUNCTION_INTERNALS
from projections.runner import BatchRunner
from projections.staff_performance import StaffPerformanceView
from siyu.bi_role import grant_bi_role
from siyu.processes import prepare_read_models

# A database with no schema: what a BI role is granted depends on what exists when.
pytestmark = [pytest.mark.integration, pytest.mark.fresh_database]

DOCS = Path(__file__).parents[3] / "docs" / "bi.md"
ROLE = "siyu_test_bi"
#: Relations docs/bi.md names as internal (beside siyu_*): never granted.
INTERNAL = {"segment_check", "segment_product", "staff_kpi_thread", "staff_kpi_task",
            "staff_kpi_campaign_recipient", "staff_kpi_campaign_task", "daily_report_owner",
            "staff_alert_outbox", "unanswered_message"}
KPI_CALLS = (
    "SELECT * FROM staff_kpi_rollup(NULL, 'front_office', '2026-11-01', '2026-11-30')",
    "SELECT * FROM staff_kpi_rollup(ARRAY['s1'], NULL, '2026-11-01', '2026-11-30')",
    "SELECT * FROM staff_performance_by_period('month', '2026-11-01', '2026-11-30')",
    "SELECT * FROM department_performance_by_period('week', '2026-11-01', '2026-11-30')",
    "SELECT * FROM friend_retention_by_channel('2026-11-01', '2026-11-30')",
    "SELECT staff_kpi_working_seconds(now() - interval '1 day', now())",
    "SELECT customer_owner_at(gen_random_uuid(), now())",
)


def relations(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace "
            "AND relkind IN ('r', 'v', 'm', 'p')")}


def test_what_is_granted_is_what_docs_bi_md_documents(pg_app: Siyu,
                                                      pg_url: str) -> None:
    prepare_read_models(pg_app)
    present = relations(pg_url)
    text = DOCS.read_text()
    named = set(re.findall(r"`([a-z_][a-z0-9_]*)`", text)) & present
    internal_paragraphs = " ".join(p for p in text.split("\n\n") if "nternal" in p)
    for name in INTERNAL | set(FUNCTION_INTERNALS):
        assert f"`{name}`" in internal_paragraphs, f"{name} is not documented as internal"
    assert present - named - {n for n in present if n.startswith("siyu_")} == set(), \
        "every read-model relation is documented in docs/bi.md"
    documented = {n for n in named if not n.startswith("siyu_")} - INTERNAL \
        - set(FUNCTION_INTERNALS)
    assert documented == set(BI_RELATIONS)


def test_the_bi_role_reads_read_models_but_not_the_event_store_or_the_vault(
    pg_app: Siyu, pg_url: str
) -> None:
    prepare_read_models(pg_app)
    granted = grant_bi_role(pg_url, ROLE)
    assert set(granted) == set(BI_RELATIONS) | set(FUNCTION_INTERNALS)
    as_bi = make_conninfo(pg_url, user=ROLE)
    with psycopg.connect(as_bi) as conn:
        for relation in BI_RELATIONS:
            conn.execute(f"SELECT count(*) FROM {relation}").fetchone()
        for call in KPI_CALLS:
            conn.execute(call).fetchall()
    for internal in ("siyu_events", "siyu_vault_value", "siyu_identity", "siyu_bi_role",
                     "staff_kpi_thread", "segment_check"):
        with psycopg.connect(as_bi) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"SELECT count(*) FROM {internal}")


def test_a_read_model_rebuilt_at_a_new_version_keeps_the_bi_grants(
    pg_app: Siyu, pg_url: str
) -> None:
    tracker = prepare_read_models(pg_app)
    grant_bi_role(pg_url, ROLE)
    with psycopg.connect(pg_url) as conn:
        before = conn.execute("SELECT 'staff_daily_performance'::regclass::oid").fetchone()
        conn.execute("UPDATE siyu_read_model_version SET version = version - 1 "
                     "WHERE name = %s", (StaffPerformanceView.name,))
    BatchRunner(pg_app, StaffPerformanceView(), tracker)  # drops and creates the tables
    with psycopg.connect(pg_url) as conn:
        after = conn.execute("SELECT 'staff_daily_performance'::regclass::oid").fetchone()
    assert before != after  # the table really was created again
    with psycopg.connect(make_conninfo(pg_url, user=ROLE)) as conn:
        conn.execute("SELECT count(*) FROM staff_daily_performance").fetchone()
        conn.execute("SELECT count(*) FROM staff_daily_channel").fetchone()
        for call in KPI_CALLS:
            conn.execute(call).fetchall()
