"""RFM scores and positioning in customer_profile_view follow their documented bins."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg
import pytest

from application.app import Siyu
from domain.ingestion import EventItem, OrderItem
from projections.postgres_views import CustomerProfileView
from projections.runner import BatchRunner, Tracker

pytestmark = pytest.mark.integration


def orders(who: str, amounts: list[int], last_days_ago: int, now: datetime) -> list[EventItem]:
    return [EventItem(f"{who}-{n}", "ORDER_PAID", ("mall_member", who),
                      now - timedelta(days=last_days_ago + n), order_id=f"{who}-o{n}",
                      amount_fen=amount, items=[OrderItem(f"sku-{n % 2}", 1, amount)])
            for n, amount in enumerate(amounts)]


@pytest.mark.parametrize(("amounts", "days", "expected"), [
    ([], 0, (0, 0, 0, None)),
    ([25_000], 3, (5, 1, 2, "SERVICE_HUB")),
    ([5_000, 5_000], 20, (4, 2, 2, "MERCHANT_ALLIANCE_HUB")),
    ([3_000] * 4, 60, (3, 3, 2, "INFORMATION_HUB")),
    ([30_000] * 6, 100, (2, 4, 4, "TRANSACTION_HUB")),
    ([60_000] * 10, 200, (1, 5, 5, "TRANSACTION_HUB")),
])
def test_scores_and_positioning_follow_the_bins(
    pg_app: Siyu, pg_url: str, now: datetime,
    amounts: list[int], days: int, expected: tuple[int, int, int, str | None]
) -> None:
    items = orders("c", amounts, days, now) or [
        EventItem("c-r", "REGISTERED", ("mall_member", "c"), now)]
    pg_app.ingestion.record_batch(items, "service:test")
    BatchRunner(pg_app, CustomerProfileView(), Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
                ).catch_up()
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT recency_score, frequency_score, monetary_score, positioning, "
                           "average_order_fen, sku_quantities FROM customer_profile_view"
                           ).fetchone()
    assert row is not None
    assert row[:4] == expected
    if amounts:
        assert row[4] == sum(amounts) // len(amounts)
        assert sum(row[5].values()) == len(amounts)
