"""The channel_code read model on PostgreSQL: every event of a code, adds through codes
counted from the raw events by independent code, rebuild == live."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from application.app import Siyu
from domain.customer import Customer
from domain.ingestion import EventItem
from projections.channel_codes.view import ChannelCodeView
from projections.runner import BatchRunner, Tracker

pytestmark = pytest.mark.integration

AT = datetime(2026, 12, 1, 4, tzinfo=UTC)


def snapshot(app: Siyu) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    with app.factory.datastore.transaction() as curs:  # type: ignore[attr-defined]
        curs.execute("SELECT * FROM channel_code ORDER BY code_id")
        codes = [dict(r) for r in curs.fetchall()]
        curs.execute("SELECT * FROM channel_code_friend ORDER BY customer_id, version")
        return codes, [dict(r) for r in curs.fetchall()]


def test_rebuilding_gives_the_rows_of_the_live_projection(pg_app: Siyu) -> None:
    runner = BatchRunner(pg_app, ChannelCodeView(),
                         Tracker(pg_app.factory.datastore),  # type: ignore[attr-defined]
                         page_size=3)
    # Given two codes through their whole life, and adds through them and through none
    staff = str(pg_app.staff.hire("sales", "front_office", "张三", "system", AT,
                                  wecom_user_id="zhangsan"))
    codes = pg_app.channel_codes
    a, _ = codes.create("一店", "qr:store-1", {"zhangsan": staff}, "欢迎", ["门店"], True,
                        "staff:m", AT)
    b, _ = codes.create("直播", "live", {"zhangsan": staff}, None, [], False, "staff:m", AT)
    codes.record_registered(a, "cfg-a", "https://qr/a", 0, AT)
    codes.change(a, "一店新", None, None, ["门店", "新客"], None, "staff:m", AT)
    codes.record_updated(a, 1, AT)
    codes.record_refused(b, "errcode 40003", AT)
    codes.delete(b, "staff:m", AT)
    states = {a: codes.get(a).state, b: codes.get(b).state}
    items = [EventItem(f"add-{n}", "FRIEND_ADDED", ("wecom_external:ww1", f"wm{n:04d}"),
                       AT + timedelta(minutes=n), channel="wecom", staff_id=staff,
                       state=[states[a], states[b], "unrelated", None][n % 4])
             for n in range(10)]
    pg_app.ingestion.record_batch(items, "service:wecom")
    # When the view follows the log page by page, then is rebuilt
    runner.catch_up()
    live = snapshot(pg_app)
    runner.rebuild()
    # Then the rows are the same
    assert snapshot(pg_app) == live
    rows = {r["code_id"]: r for r in live[0]}
    assert (rows[a]["name"], rows[a]["tags"], rows[a]["wecom_status"], rows[a]["revision"],
            rows[a]["synced_revision"]) == ("一店新", ["门店", "新客"], "registered", 1, 1)
    assert (rows[b]["wecom_status"], rows[b]["deleted_at"] is not None) == ("refused", True)
    # And the adds per code are those an independent count of the raw events gives
    raw: Counter[str] = Counter()
    for notification in pg_app.recorder.select_notifications(0, 10_000):
        event = pg_app.mapper.to_domain_event(notification)
        if isinstance(event, Customer.FriendAdded) and event.state in states.values():
            raw[event.state or ""] += 1
    counted = Counter(states[r["code_id"]] for r in live[1])
    assert counted == raw and sum(raw.values()) == 6
    # And the adds through a code are on its channel
    assert {r["code_id"] for r in live[1]} == {a, b}
