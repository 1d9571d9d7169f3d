"""``siyu_customer_as_of`` on PostgreSQL: each page's index rows are COPYed in (packed as
psycopg's dumpers would write them), and a page applied again (a replay) adds nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest

from application.app import Siyu
from bench import workload
from projections.customer_as_of import CustomerAsOfView
from projections.customer_as_of.view import index_rows
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


def test_packed_index_rows_store_what_psycopg_s_dumpers_store(pg_url: str) -> None:
    # Given events at times in several zones, before 2000 too, and one with a naive time
    zones = [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-3, minutes=-30))]
    mine = [(10_000_000_000 + i, SimpleNamespace(
        originator_id=uuid4() if i % 2 else str(uuid4()), originator_version=i * 7,
        occurred_at=datetime(1990 + 9 * i, 1 + i, 2, 3, 4, 5, 123456 * i % 1_000_000,
                             tzinfo=zones[i % 3]))) for i in range(4)]
    with psycopg.connect(pg_url) as conn:
        conn.execute("CREATE TEMP TABLE packed (LIKE siyu_customer_as_of)")
        conn.execute("CREATE TEMP TABLE dumped (LIKE siyu_customer_as_of)")
        # When they are COPYed packed, and COPYed through psycopg's write_row
        with conn.cursor().copy("COPY packed FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(index_rows(mine))
        with conn.cursor().copy("COPY dumped FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["uuid", "int8", "timestamptz", "int8"])
            for position, e in mine:
                copy.write_row((UUID(str(e.originator_id)), e.originator_version,
                                e.occurred_at, position))
        # Then both tables hold the same rows
        packed = list(conn.execute("SELECT * FROM packed ORDER BY version"))
        assert packed == list(conn.execute("SELECT * FROM dumped ORDER BY version"))
        assert len(packed) == 4
    # And a naive time is not packed (the view lets psycopg's dumpers decide)
    naive = SimpleNamespace(originator_id=uuid4(), originator_version=1,
                            occurred_at=datetime(2026, 1, 1))
    with pytest.raises(TypeError):
        index_rows([(1, naive)])
