"""The SOP read model on PostgreSQL: a page's stop events touch only the customers a
sequence runs for, and give the rows one event per page gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from application.app import Siyu
from domain.ingestion import EventItem
from projections.runner import BatchRunner, Tracker
from projections.sops.view import SopView

pytestmark = pytest.mark.integration
T0 = datetime(2026, 3, 2, 4, tzinfo=UTC)
STEPS = [{"offset_hours": h, "channel": "wecom_mass",
          "variants": [{"variant_id": f"d{h}", "text": "hello"}]} for h in (0, 72)]
TABLES = ("sop_enrolment", "sop_send")


def _rows(url: str) -> dict[str, list[dict[str, Any]]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in TABLES}


def test_stops_in_the_page_that_enrols_end_only_running_enrolments(pg_app: Siyu,
                                                                     pg_url: str) -> None:
    # Given a sequence for new friends and a group sequence, defined before anyone comes
    pg_app.sops.define("welcome", "staff:m", {"kind": "friend_added"}, STEPS, "staff:m",
                       T0 - timedelta(days=1))
    pg_app.sops.define("group", "staff:m", {"kind": "group_joined", "group_ids": ["g1"]},
                       STEPS, "staff:m", T0 - timedelta(days=1))
    # and customers who pay before any trigger, then are enrolled, then stop in all ways
    def who(n: int) -> tuple[str, str]:
        return ("wecom_external:ww1", f"wm{n}")
    def at(minutes: int) -> datetime:
        return T0 + timedelta(minutes=minutes)
    items = [
        EventItem("p0", "ORDER_PAID", who(0), at(0), order_id="o0", amount_fen=100),
        EventItem("a0", "FRIEND_ADDED", who(0), at(1), channel="qr", staff_id="wecom_user:s"),
        EventItem("a1", "FRIEND_ADDED", who(1), at(2), channel="qr", staff_id="wecom_user:s"),
        EventItem("j1", "GROUP_JOINED", who(1), at(3), group_id="g1"),
        EventItem("a2", "FRIEND_ADDED", who(2), at(4), channel="qr", staff_id="wecom_user:s"),
        EventItem("l1", "GROUP_LEFT", who(1), at(5), group_id="g1"),
        EventItem("p1", "ORDER_PAID", who(2), at(6), order_id="o2", amount_fen=100),
        EventItem("d0", "FRIEND_DELETED", who(0), at(7), staff_id="wecom_user:s",
                  deleted_by="customer"),
        EventItem("l9", "GROUP_LEFT", who(3), at(8), group_id="g1"),
        EventItem("a3", "FRIEND_ADDED", who(3), at(9), channel="qr", staff_id="wecom_user:s"),
    ]
    pg_app.ingestion.record_batch(items, "service:test")
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    # When the read model folds the whole log in one page
    BatchRunner(pg_app, SopView(), tracker, page_size=1000).catch_up()
    whole = _rows(pg_url)
    # Then each stop ended what ran when it happened, and nothing else
    states = {(r["customer_id"], r["sop_id"]): (r["state"], r["stop_reason"])
              for r in whole["sop_enrolment"]}
    assert sorted(v for v in states.values()) == [
        ("active", None), ("active", None), ("stopped", "converted"),
        ("stopped", "left_group"), ("stopped", "opted_out")]
    # And one event per page gives the same rows
    BatchRunner(pg_app, SopView(), tracker, page_size=1).rebuild()
    assert _rows(pg_url) == whole
