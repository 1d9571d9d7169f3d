"""The main job (``siyu demo``: server + projections + worker) holds at most 25
PostgreSQL connections by default, from its start through ingestion by 8 clients
(``docs/operations.md``, *Connections*; the ``connections_main_job`` benchmark)."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from bench.main_job import Load, PeakConnections, main_job

pytestmark = pytest.mark.integration

BOUND = 25


@pytest.fixture
def own_database(pg_url: str) -> str:
    """A database of the test's own: pg_stat_activity counts by database."""
    name = "siyu_conn_bound"
    admin = make_conninfo(pg_url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return pg_url.rsplit("/", 1)[0] + "/" + name  # a URL: the broker parses it as one


@pytest.mark.timeout(600)  # a demo start on a loaded 2-core machine
def test_the_main_job_holds_at_most_25_connections_under_load(
        own_database: str, tmp_path: Path) -> None:
    # Given the main job started on a fresh database, its connections sampled throughout
    with PeakConnections(own_database) as peak, \
            main_job(own_database, tmp_path / "data", "demo", "--customers", "50") as job:
        job.wait_ready(300)
        # When 8 clients ingest through its API for a while
        with Load(job.api, job.tokens()["service"], "bound", clients=8) as load:
            time.sleep(8)
    # Then writes went through, and the job never held more than 25 connections
    assert load.statuses.get("ok", 0) > 0, load.statuses
    assert peak.samples > 50
    assert 0 < peak.peak <= BOUND, peak.at_peak
