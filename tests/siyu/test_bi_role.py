"""The BI role reads the documented read models and nothing else."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from domain.application import CustomerOperations
from siyu.bi_role import grant_bi_role
from siyu.processes import prepare_read_models

pytestmark = pytest.mark.integration


def test_the_bi_role_reads_read_models_but_not_the_event_store_or_the_vault(
    pg_app: CustomerOperations, pg_url: str
) -> None:
    prepare_read_models(pg_app)
    granted = grant_bi_role(pg_url, "siyu_test_bi")
    assert "customer_profile_view" in granted and "staff_directory" in granted
    as_bi = make_conninfo(pg_url, user="siyu_test_bi")
    with psycopg.connect(as_bi) as conn:
        conn.execute("SELECT count(*) FROM customer_profile_view").fetchone()
    for internal in ("siyu_events", "siyu_vault_value", "siyu_identity"):
        with psycopg.connect(as_bi) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"SELECT count(*) FROM {internal}")
