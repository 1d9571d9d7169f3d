"""Row logic of the alert, daily-report and chat-script read models, without a database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

from application.app import Siyu
from domain.ingestion import EventItem
from projections.chat_scripts import script_row
from projections.daily_report import Counts, count, shanghai_day
from projections.staff_alerts import alert_row

AT = datetime(2026, 11, 30, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai


def fold(fn: Any, events: list[Any]) -> Any:
    row = None
    for n, event in enumerate(events, 1):
        row = fn(row, event, n)
    return row


def test_an_alert_row_follows_raise_delivery_acknowledge_and_resolve(
        memory_app: Siyu) -> None:
    alert, _ = memory_app.supervision.raise_alert("sensitive:c:3", "sensitive_word", "s1", str(uuid4()),
                                      ["m1", "m2"], {"hits": [{"category": "abuse",
                                                               "term_id": "t2", "term": "滚"}],
                                                     "message_ref": "message:3"}, AT)
    memory_app.supervision.record_alert_delivery(alert.id, "m1", "x", None, AT)
    memory_app.supervision.record_alert_delivery(alert.id, "m2", None, "errcode 81013", AT)
    memory_app.supervision.acknowledge_alert(alert.id, "staff:m1", AT)
    memory_app.supervision.resolve_alert(alert.id, "谈话", "staff:m1", AT)
    events = list(memory_app.repository.event_store.get(alert.id))
    row = fold(alert_row, events)
    assert (row["status"], row["categories"], row["term_ids"], row["message_ref"]) == (
        "resolved", ["abuse"], ["t2"], "message:3")
    assert (row["delivered_to"], row["failed_to"]) == (["m1"], ["m2"])
    assert (row["acknowledged_by"], row["resolved_by"], row["resolution_note"]) == (
        "staff:m1", "staff:m1", "谈话")
    assert fold(alert_row, events + events[1:]) == row  # a replayed event changes nothing


def test_activity_counts_by_shanghai_day_and_credits_orders_to_the_owner(
        memory_app: Siyu) -> None:
    assert shanghai_day(AT) == date(2026, 11, 30)
    assert shanghai_day(AT + timedelta(minutes=30)) == date(2026, 12, 1)
    items = [EventItem(event_id="a", type="FRIEND_ADDED", identity=("wx_unionid", "o1"),
                       occurred_at=AT, staff_id="wecom_user:s1"),
             EventItem(event_id="b", type="ORDER_PAID", identity=("wx_unionid", "o1"),
                       occurred_at=AT + timedelta(minutes=40), order_id="1", amount_fen=900),
             EventItem(event_id="c", type="FRIEND_DELETED", identity=("wx_unionid", "o1"),
                       occurred_at=AT, staff_id="wecom_user:s1", deleted_by="customer")]
    customer_id = memory_app.ingestion.record_batch(items, "service:t").outcomes[0].customer_id
    assert customer_id is not None
    counts: Counts = {}
    owners: dict[Any, str | None] = {}
    for event in memory_app.repository.event_store.get(customer_id):
        count(counts, owners, event)
    assert counts == {("wecom_user:s1", date(2026, 11, 30)): {"new_friends": 1, "deleted_by_customer": 1},
                      ("wecom_user:s1", date(2026, 12, 1)): {"orders": 1, "gmv_fen": 900}}


def test_a_script_row_keeps_the_current_version(
        memory_app: Siyu) -> None:
    script_id, _ = memory_app.chat_scripts.create("催付", "提醒", "v1", [], "script", "x", AT)
    memory_app.chat_scripts.revise(script_id, "催付", "提醒", "v2", ["k"], "y", AT)
    row = fold(script_row, list(memory_app.repository.event_store.get(script_id)))
    assert (row["version"], row["body"], row["keywords"], row["updated_by"]) == (
        2, "v2", ["k"], "y")
