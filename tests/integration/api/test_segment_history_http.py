"""Segment sizes and lifecycle histories by business time: a month of history imported today
shows its real curve (recomputed here from the raw event log), by recording time a step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from application.app import Siyu
from domain.customer import Customer
from tests.integration.api.conftest import Api
from tests.integration.api.test_graphql_http import event, record
from tests.integration.api.test_segments_http import define

pytestmark = pytest.mark.integration

SERIES = """query($id: ID!, $from: DateTime!, $to: DateTime!) { segment(id: $id) {
  business: sizeSeries(from: $from, to: $to, everyHours: 24) { at size }
  recorded: sizeSeries(from: $from, to: $to, everyHours: 24, basis: RECORDED) { at size }
  entries(since: $from, until: $to, first: 200) { edges { node { customerId occurredAt } } } } }"""
HISTORY = """query($id: ID!) { customer(id: $id) { lifecycleHistory { stage at occurredAt } } }"""


def first_orders(app: Siyu) -> dict[UUID, datetime]:
    """Each customer's first paid order by business time, from the stored events alone."""
    found: dict[UUID, datetime] = {}
    start = 1
    while page := app.recorder.select_notifications(start, 1000):
        for stored in page:
            e: Any = app.mapper.to_domain_event(stored)
            if isinstance(e, Customer.OrderPaid):
                found[e.originator_id] = min(found.get(e.originator_id, e.occurred_at),
                                             e.occurred_at)
        start = page[-1].id + 1
    return found


def test_a_month_imported_today_shows_its_curve_by_business_time(api: Api, pg_app: Siyu) -> None:
    # Given a segment of buyers, then a month of orders imported today: one new buyer a day
    now = datetime.now(UTC).replace(microsecond=0)
    month_ago = now - timedelta(days=30)
    segment_id = define(api, "buyers", {"ordered": {"atLeast": 1}})
    record(api, [event(f"o{n}", "ORDER_PAID", month_ago + timedelta(days=n, hours=1),
                       {"namespace": "wecom_external:ww-corp", "value": f"wmHist{n:03d}"},
                       orderId=f"h{n}", amountFen=100) for n in range(30)],
           waitForProjection=True)
    # When its size is read day by day over that month, by business and by recorded time
    body = api.gql(SERIES, {"id": segment_id, "from": month_ago.isoformat(),
                            "to": (now - timedelta(hours=1)).isoformat()}, as_="manager")
    assert "errors" not in body, body
    segment = body["data"]["segment"]
    # Then by business time it grows as the raw events say, one buyer a day
    firsts = first_orders(pg_app)
    for point in segment["business"]:
        instant = datetime.fromisoformat(point["at"])
        assert point["size"] == sum(1 for t in firsts.values() if t <= instant), instant
    assert [p["size"] for p in segment["business"]] == list(range(30))
    # while by recorded time the whole month arrived today
    assert {p["size"] for p in segment["recorded"]} == {0}
    # and each entry is dated by its cause's business time
    entries = {UUID(e["node"]["customerId"]): datetime.fromisoformat(e["node"]["occurredAt"])
               for e in segment["entries"]["edges"]}
    assert entries == {c: t for c, t in firsts.items() if t < now - timedelta(hours=1)}
    # And a customer's lifecycle history is dated by business time too
    customer = next(iter(entries))
    history = api.gql(HISTORY, {"id": str(customer)}, as_="manager")["data"]["customer"]
    first = history["lifecycleHistory"][0]
    assert datetime.fromisoformat(first["occurredAt"]) == firsts[customer]
    assert datetime.fromisoformat(first["at"]) > now - timedelta(minutes=5)
