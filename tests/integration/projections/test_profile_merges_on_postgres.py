"""customer_profile follows merges and un-merges, and a rebuild equals the live model."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest

from application.app import Siyu
from domain.ingestion import EventItem
from projections.postgres_views import CustomerProfileView
from projections.runner import BatchRunner, Tracker
from tests.integration.projections.test_profile_on_postgres import snapshot

pytestmark = pytest.mark.integration

ALICE = ("wx_unionid", "oAlice")
PHONE = ("phone", "13800138000")
MALL = ("mall_member", "m-7")


def rows(url: str) -> dict[UUID, dict[str, Any]]:
    with psycopg.connect(url, row_factory=psycopg.rows.dict_row) as conn:
        return {r["customer_id"]: r for r in conn.execute(
            "SELECT customer_id, tags, order_count, gmv_fen, event_count, first_channel, "
            "identities FROM customer_profile")}


def test_merge_more_events_unmerge_and_rebuild_agree(
    pg_app: Siyu, pg_url: str, now: datetime
) -> None:
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    live = BatchRunner(pg_app, CustomerProfileView(), tracker, page_size=3)
    t = now - timedelta(hours=1)
    # Given three customers met on different channels
    ids = [o.customer_id for o in pg_app.ingestion.record_batch([
        EventItem("a1", "TAGGED", ALICE, t, channel="mini_program", tag="mp"),
        EventItem("b1", "ORDER_PAID", PHONE, t - timedelta(days=3), channel="mall",
                  order_id="o1", amount_fen=5000),
        EventItem("c1", "TAGGED", MALL, t, channel="store", tag="store"),
    ], "s:t").outcomes]
    a, b, c = ids
    assert a and b and c
    live.catch_up()
    # When the phone is linked to Alice (absorbing b), then c is merged explicitly
    pg_app.ingestion.record_batch([EventItem("l1", "IDENTITY_LINKED", ALICE, t, link=PHONE)], "s:t")
    pg_app.identity.merge(a, c, "staff:m", t)
    live.catch_up()
    merged = rows(pg_url)
    # Then one row holds all three histories
    assert set(merged) == {a}
    assert merged[a]["tags"] == ["mp", "store"] and merged[a]["gmv_fen"] == 5000
    assert merged[a]["first_channel"] == "mall"  # b was seen first
    before = snapshot(pg_url)
    live.rebuild()
    assert snapshot(pg_url) == before
    # When more events arrive, some through the absorbed identities
    pg_app.ingestion.record_batch([
        EventItem("b2", "ORDER_PAID", PHONE, t, order_id="o2", amount_fen=700),
        EventItem("a2", "TAGGED", ALICE, t, tag="vip"),
    ], "s:t")
    live.catch_up()
    assert rows(pg_url)[a]["gmv_fen"] == 5700
    # and the merge of b is undone
    pg_app.identity.unmerge(b, "staff:m", t)
    live.catch_up()
    split = rows(pg_url)
    # Then b is back with its own history; what was recorded on a meanwhile stays with a
    assert set(split) == {a, b}
    assert split[b]["gmv_fen"] == 5000 and split[b]["tags"] == []
    assert split[a]["gmv_fen"] == 700 and split[a]["tags"] == ["mp", "store", "vip"]
    assert {i["namespace"] for i in split[b]["identities"]} == {"phone"}
    # and a rebuild from the log equals the live projection
    before = snapshot(pg_url)
    live.rebuild()
    assert snapshot(pg_url) == before
    # and new events through the phone go to b again
    pg_app.ingestion.record_batch([EventItem("b3", "TAGGED", PHONE, t, tag="back")], "s:t")
    live.catch_up()
    assert rows(pg_url)[b]["tags"] == ["back"]
