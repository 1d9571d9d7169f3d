"""``activity`` and ``customer_journey``: a rebuild equals the live model, whatever the page
size, and a poisoned fact cannot stop it (a malformed campaign id is no campaign)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from application.app import Siyu
from domain.activity import ActivityPlan
from domain.items import EventItem, OrderItem
from projections.activities import ActivityView
from projections.runner import BatchRunner, Tracker
from tests.integration.api.test_activities_http import journeys
from tests.support.read_models import replay_whole_log

pytestmark = pytest.mark.integration


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def item(event: dict[str, Any]) -> EventItem:
    """A GraphQL ``CustomerEventInput`` of the HTTP test as the application's item."""
    fields = {snake(k): v for k, v in event.items()
              if k not in ("eventId", "type", "customer", "occurredAt")}
    if "items" in fields:
        fields["items"] = [OrderItem(i["sku"], i["quantity"], i["priceFen"])
                           for i in fields["items"]]
    who = event["customer"]
    return EventItem(event["eventId"], event["type"], (who["namespace"], who["value"]),
                     datetime.fromisoformat(event["occurredAt"]), **fields)


def tables(url: str) -> dict[str, list[dict[str, Any]]]:
    with psycopg.connect(url, row_factory=psycopg.rows.dict_row) as conn:
        return {t: list(conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2"))
                for t in ("activity", "customer_journey", "siyu_activity_fact")}


def test_rebuild_equals_live_across_page_sizes_and_revisions(pg_app: Siyu, pg_url: str
                                                             ) -> None:
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    live = BatchRunner(pg_app, ActivityView(), tracker, page_size=7)
    start = (datetime.now(UTC) - timedelta(days=20)).replace(microsecond=0)
    plan = ActivityPlan("直播", "live_stream", start, start + timedelta(days=10),
                        channels=("qr",), target_gmv_fen=1_000_000)
    activity_id, _ = pg_app.activities.plan(plan, "staff:m", start)
    campaign = "0a6f0000-0000-4000-8000-0000000000c1"
    events = [item(e) for e in journeys(str(activity_id), campaign, start, seed=3)]
    for i in range(0, len(events), 50):
        pg_app.ingestion.record_batch(events[i:i + 50], "service:test")
        live.catch_up()
    pg_app.activities.revise(activity_id, ActivityPlan(
        "直播 2", "live_stream", start, start + timedelta(days=12), channels=("h5",),
        target_gmv_fen=2_000_000), "staff:m", start)
    pg_app.activities.cancel(activity_id, "停办", "staff:m", start)
    live.catch_up()
    before = tables(pg_url)
    assert len(before["customer_journey"]) > 100 and before["siyu_activity_fact"]
    assert before["activity"][0]["name"] == "直播 2"
    assert before["activity"][0]["cancel_reason"] == "停办"
    BatchRunner(pg_app, ActivityView(), tracker, page_size=1000).rebuild()
    assert tables(pg_url) == before


def test_a_page_applied_again_adds_no_journey_fact(pg_app: Siyu, pg_url: str) -> None:
    # Given journeys projected (each page's facts COPYed in)
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    runner = BatchRunner(pg_app, ActivityView(), tracker)
    start = (datetime.now(UTC) - timedelta(days=5)).replace(microsecond=0)
    campaign = "0a6f0000-0000-4000-8000-0000000000c2"
    events = [item(e) for e in journeys("a-1", campaign, start, seed=5)]
    pg_app.ingestion.record_batch(events, "service:test")
    runner.catch_up()
    before = tables(pg_url)
    assert len(before["customer_journey"]) > 10
    # When the whole log is applied to the view again, tracking aside (a replay)
    replay_whole_log(pg_app, runner)
    # Then every fact is stored once, as before
    assert tables(pg_url) == before

