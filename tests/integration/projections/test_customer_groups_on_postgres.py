"""The customer_group directory on PostgreSQL: groups from WeCom's group callbacks, members
counted from the raw events by independent code, rebuild == live."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from application.app import Siyu
from domain.customer import Customer
from domain.ingestion import EventItem
from projections.customer_groups.view import CustomerGroupView
from projections.runner import BatchRunner, Tracker

pytestmark = pytest.mark.integration

AT = datetime(2026, 12, 1, 4, tzinfo=UTC)


def snapshot(app: Siyu) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    with app.factory.datastore.transaction() as curs:  # type: ignore[attr-defined]
        curs.execute("SELECT * FROM customer_group ORDER BY chat_id")
        groups = [dict(r) for r in curs.fetchall()]
        curs.execute("SELECT * FROM customer_group_member ORDER BY chat_id, customer_id")
        return groups, [dict(r) for r in curs.fetchall()]


def member_item(n: int, kind: str, chat: str, customer: int) -> EventItem:
    return EventItem(f"grp-{n}", kind, ("wecom_external:ww1", f"wm{customer:04d}"),
                     AT + timedelta(minutes=n), channel="wecom_group", group_id=chat)


def test_the_directory_counts_the_customers_in_each_group_and_rebuilds_equal(
        pg_app: Siyu) -> None:
    runner = BatchRunner(pg_app, CustomerGroupView(),
                         Tracker(pg_app.factory.datastore),  # type: ignore[attr-defined]
                         page_size=4)
    # Given two groups created by WeCom (one later dismissed), one known only from a join,
    # and customers joining, leaving and re-joining
    customers = pg_app.customers
    customers.record_group_change("ww1", "wrg1", "create", "zhangsan", "k1", AT)
    customers.record_group_change("ww1", "wrg2", "create", "lisi", "k2", AT)
    kinds = ["GROUP_JOINED"] * 9 + ["GROUP_LEFT", "GROUP_LEFT", "GROUP_JOINED"]
    chats = ["wrg1", "wrg1", "wrg1", "wrg2", "wrg2", "wrg9", "wrg1", "wrg2", "wrg9",
             "wrg1", "wrg2", "wrg1"]
    who = [1, 2, 3, 1, 4, 5, 4, 2, 1, 2, 4, 2]
    pg_app.ingestion.record_batch([member_item(n, k, c, w) for n, (k, c, w)
                                   in enumerate(zip(kinds, chats, who, strict=True))],
                                  "service:wecom")
    customers.record_group_change("ww1", "wrg2", "dismiss", None, "k3", AT + timedelta(days=1))
    # When the view follows the log page by page, then is rebuilt
    runner.catch_up()
    live = snapshot(pg_app)
    runner.rebuild()
    # Then the rows are the same
    assert snapshot(pg_app) == live
    rows = {r["chat_id"]: r for r in live[0]}
    assert (rows["wrg1"]["owner_user_id"], rows["wrg2"]["owner_user_id"],
            rows["wrg9"]["owner_user_id"]) == ("zhangsan", "lisi", None)
    assert rows["wrg2"]["dismissed_at"] == AT + timedelta(days=1)
    assert rows["wrg1"]["dismissed_at"] is None and rows["wrg9"]["created_at"] is None
    # And each group's members are those an independent replay of the raw events gives
    raw: dict[str, set[Any]] = defaultdict(set)
    for notification in pg_app.recorder.select_notifications(0, 10_000):
        event = pg_app.mapper.to_domain_event(notification)
        if isinstance(event, Customer.GroupJoined):
            raw[event.group_id].add(event.originator_id)
        elif isinstance(event, Customer.GroupLeft):
            raw[event.group_id].discard(event.originator_id)
    members: dict[str, set[Any]] = defaultdict(set)
    for row in live[1]:
        members[row["chat_id"]].add(row["customer_id"])
    assert members == {c: s for c, s in raw.items() if s}
    assert {c: r["member_count"] for c, r in rows.items()} == {c: len(raw[c]) for c in rows}
    assert (rows["wrg1"]["member_count"], rows["wrg2"]["member_count"]) == (4, 2)


def test_a_group_s_last_change_is_the_latest_business_time_whatever_the_pages(
        pg_app: Siyu) -> None:
    # Given membership events whose business times run against their order in the log
    # (WeCom's callbacks arrive late and out of order)
    # (and customers leaving: some just after joining, so that a page's joins and leaves
    # cancel out)
    minutes = [0, 50, 10, 40, 20, 30, 5, 55, 35]
    kinds = ["GROUP_JOINED"] * 7 + ["GROUP_LEFT", "GROUP_LEFT"]
    who = [0, 1, 2, 3, 4, 5, 6, 1, 6]
    pg_app.ingestion.record_batch(
        [EventItem(f"late-{n}", kind, ("wecom_external:ww1", f"wm{w:04d}"),
                   AT + timedelta(minutes=m), channel="wecom_group", group_id="wrg7")
         for n, (m, kind, w) in enumerate(zip(minutes, kinds, who, strict=True))],
        "service:wecom")
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    # When the view follows the log one event a page, then is rebuilt in one page
    BatchRunner(pg_app, CustomerGroupView(), tracker, page_size=1).catch_up()
    live = snapshot(pg_app)
    BatchRunner(pg_app, CustomerGroupView(), tracker, page_size=1000).rebuild()
    # Then the rows are the same, and the group's last change is the latest of its events
    assert snapshot(pg_app) == live
    assert live[0][0]["updated_at"] == AT + timedelta(minutes=max(minutes))
    assert (live[0][0]["member_count"], len(live[1])) == (5, 5)
