"""``content``, ``content_cadence``, ``content_engagement`` and ``content_conversion``: a
rebuild equals the live model whatever the page size."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from application.app import Siyu
from domain.content import ContentSpec
from projections.content import ContentView
from projections.runner import BatchRunner, Tracker
from tests.integration.api.test_content_http import AUTHOR, engagement
from tests.integration.projections.test_activities_on_postgres import item
from tests.support.directory import hire_as
from tests.support.read_models import replay_after_losing_half

pytestmark = pytest.mark.integration
TABLES = ("content", "content_cadence", "content_engagement", "content_conversion")


def tables(url: str) -> dict[str, list[dict[str, Any]]]:
    with psycopg.connect(url, row_factory=psycopg.rows.dict_row) as conn:
        return {t: list(conn.execute(f"SELECT * FROM {t} ORDER BY 1")) for t in TABLES}


def test_rebuild_equals_live_across_page_sizes(pg_app: Siyu, pg_url: str) -> None:
    hire_as(pg_app, AUTHOR, "copywriter", "middle_office", wait=False)
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    live = BatchRunner(pg_app, ContentView(), tracker, page_size=7)
    now = datetime.now(UTC)
    start = now - timedelta(days=20)
    events = [item(e) for e in engagement(8, start)]
    for i in range(0, len(events), 30):
        pg_app.ingestion.record_batch(events[i:i + 30], "service:test")
        if i == 30:
            pg_app.contents.publish("art-1", "article", ContentSpec("一", AUTHOR), start,
                                    "staff:m", now)
            pg_app.contents.set_cadence("article", None, 3, "staff:m", now)
        live.catch_up()
    pg_app.contents.publish("art-1", "article", ContentSpec("二", AUTHOR, topics=("茶",)),
                            start, "staff:m", now)
    pg_app.contents.withdraw("art-1", "下架", "staff:m", now)
    pg_app.contents.set_cadence("article", None, 5, "staff:m", now)
    live.catch_up()
    before = tables(pg_url)
    assert len(before["content_engagement"]) > 30 and before["content_conversion"]
    assert before["content"][0]["title"] == "二" and before["content"][0]["withdrawn_at"]
    assert before["content_cadence"][0]["per_week"] == 5
    rebuilt = BatchRunner(pg_app, ContentView(), tracker, page_size=1000)
    rebuilt.rebuild()
    assert tables(pg_url) == before
    # A page applied again adds nothing (its rows are not COPYed over the stored ones),
    # and one partly stored adds only the rows missing
    replay_after_losing_half(pg_app, rebuilt, pg_url, "content_engagement",
                             lambda: tables(pg_url) == before)
