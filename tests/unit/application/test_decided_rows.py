"""Items the customer decides on (tags, friends, groups, orders, points…) written as rows
store the log their event objects stored: same events, ids, order, bytes and positions,
with rejections, duplicates and a conflict between two processes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

import application.unit_of_work as unit_of_work
from adapters.memory_recorder import SiyuMemoryRecorder
from adapters.vault import AesGcmVault
from application.app import Siyu
from application.unit_of_work import EventStore, UnitOfWork
from domain.customer import Customer
from domain.ingestion import EventItem, OrderItem
from domain.recording import RECORDER
from tests.support.determinism import fixed_clock_and_ids

AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
STAFF = "wecom_user:staff-1"


def _one_customer(n: int) -> Iterator[EventItem]:
    """What customer ``n`` does: every decided type, refusals among them."""
    who = ("phone", f"1390000{n:04d}")
    at = AT - timedelta(hours=n)

    def item(suffix: str, kind: str, **fields: Any) -> EventItem:
        return EventItem(f"c{n}-{suffix}", kind, who, at, **fields)

    yield item("tag", "TAGGED", tag="VIP")
    yield item("tag-again", "TAGGED", tag="VIP")  # decided: nothing to record
    yield item("tag2", "TAGGED", tag="宝妈", reason="wecom")
    yield item("untag", "UNTAGGED", tag="VIP")
    yield item("untag-unknown", "UNTAGGED", tag="never")
    yield item("friend", "FRIEND_ADDED", staff_id=STAFF, channel="qr:store-01", state="st")
    yield item("friend2", "FRIEND_ADDED", staff_id="wecom_user:staff-2")  # owner stays
    yield item("unfriend", "FRIEND_DELETED", staff_id=STAFF, deleted_by="CUSTOMER")
    yield item("join", "GROUP_JOINED", group_id="grp-1")
    yield item("join-again", "GROUP_JOINED", group_id="grp-1")
    yield item("leave", "GROUP_LEFT", group_id="grp-1")
    yield item("place", "ORDER_PLACED", order_id=f"o{n}", amount_fen=990,
               items=[OrderItem("sku-1", 1, 990)])
    yield item("place-again", "ORDER_PLACED", order_id=f"o{n}", amount_fen=990)  # refused
    yield item("pay", "ORDER_PAID", order_id=f"o{n}", amount_fen=990, channel="mini_program",
               items=[OrderItem("sku-1", 1, 990)])
    yield item("pay-again", "ORDER_PAID", order_id=f"o{n}", amount_fen=990)  # refused
    yield item("refund", "ORDER_REFUNDED", order_id=f"o{n}", amount_fen=500)
    yield item("refund-over", "ORDER_REFUNDED", order_id=f"o{n}", amount_fen=500)  # refused
    yield item("place2", "ORDER_PLACED", order_id=f"p{n}", amount_fen=100)
    yield item("cancel", "ORDER_CANCELLED", order_id=f"p{n}")
    yield item("earn", "POINTS_EARNED", points=30, reason="sign-in")
    yield item("spend-over", "POINTS_SPENT", points=31)  # refused
    yield item("spend", "POINTS_SPENT", points=20)
    yield item("coupon", "COUPON_ISSUED", coupon_code=f"k{n}", amount_fen=500)
    yield item("redeem", "COUPON_REDEEMED", coupon_code=f"k{n}")
    yield item("redeem-again", "COUPON_REDEEMED", coupon_code=f"k{n}")  # refused
    yield item("dnd", "DND_SET")
    yield item("dnd-clear", "DND_CLEARED")
    yield item("consent", "CONSENT_GIVEN", purpose="marketing", wording_version="v1")
    yield item("withdraw", "CONSENT_WITHDRAWN", purpose="marketing")
    yield item("follow", "OFFICIAL_ACCOUNT_FOLLOWED", account_id="gh_1")
    yield item("unfollow", "OFFICIAL_ACCOUNT_UNFOLLOWED", account_id="gh_1")
    yield item("member", "MEMBER_REGISTERED", member_level="gold")
    yield item("profile", "PROFILE_UPDATED", nickname="小王")
    yield item("message", "MESSAGE_SENT", staff_id=STAFF, message_kind="text", text_length=5)
    yield item("survey", "SURVEY_ANSWERED", survey_kind="NPS", score=9, staff_id=STAFF)
    yield item("view", "CONTENT_VIEWED", content_id="article-1", channel="h5")


def _workload(customers: int) -> list[EventItem]:
    """Every customer's items interleaved, ids sent twice in a batch and across batches,
    a customer linking another's identity (a OneID merge), a referral and a message."""
    streams = [list(_one_customer(n)) for n in range(customers)]
    items = [i for row in zip(*streams, strict=True) for i in row]
    items[40:40] = items[3:6]  # resent in the same batch
    items.extend(items[100:110])  # resent in a later batch
    items.append(EventItem("merge-1", "IDENTITY_LINKED", ("phone", "13900000000"), AT,
                           link=("phone", "13900000001")))
    items.append(EventItem("after-merge", "TAGGED", ("phone", "13900000000"), AT, tag="merged"))
    items.append(EventItem("referred", "REFERRED", ("phone", "13900000003"), AT,
                           inviter=("phone", "13900000004"), campaign_id="spring"))
    items.append(EventItem("said", "MESSAGE_RECEIVED", ("phone", "13900000005"), AT,
                           staff_id=STAFF, message_kind="text", text="在吗"))
    return items


def _ingest(monkeypatch: pytest.MonkeyPatch, items: list[EventItem], *, rows: bool
            ) -> tuple[list[tuple[Any, ...]], list[tuple[str, str, UUID | None]], list[Any]]:
    """The stored log, the outcomes and every customer as each process caches it, after two
    processes ingest ``items`` in alternate batches, the second writing to the same
    customers between the first's look-up and its commit once (a storage conflict)."""
    with monkeypatch.context() as patch:
        fixed_clock_and_ids(patch, AT)
        pauses: list[float] = []
        patch.setattr(unit_of_work, "sleep", pauses.append)
        if not rows:
            def as_event(store: EventStore, unit: UnitOfWork[Any], aggregate: Any, kind: Any,
                         **fields: Any) -> None:
                aggregate.trigger_event(kind, **fields)

            patch.setattr(EventStore, "append_fact", as_event)
            patch.setattr(EventStore, "row_recorder", lambda store, unit: None)
        shared = SiyuMemoryRecorder()
        first, second = (Siyu(vault=AesGcmVault(b"s" * 32), blind_key=b"k" * 32,
                              recorder=shared) for _ in range(2))
        interloper = [EventItem("between", "TAGGED", ("phone", "13900000002"), AT, tag="x")]
        looked_up = first.ingestion.referrals.prefetch_inviters

        def then_the_other_writes(*args: Any) -> None:  # after the first's look-up
            looked_up(*args)
            if interloper:
                second.ingestion.record_batch([interloper.pop()], "service:other")

        patch.setattr(first.ingestion.referrals, "prefetch_inviters", then_the_other_writes)
        outcomes: list[tuple[str, str, UUID | None]] = []
        for n, start in enumerate(range(0, len(items), 50)):
            app = (first, second)[n % 2]
            result = app.ingestion.record_batch(items[start:start + 50], "service:tests")
            outcomes.extend((o.event_id, o.status, o.customer_id) for o in result.outcomes)
        assert not interloper and len(pauses) == 1  # the conflict happened, and was retried
        log = [(n.id, n.originator_id, n.originator_version, n.topic, n.state)
               for n in shared.select_notifications(start=1, limit=10**6)]
        streams = sorted({UUID(str(n[1])) for n in log})
        cached = [vars(a) if (a := app.find(i, Customer)) else None
                  for app in (first, second) for i in streams]
    return log, outcomes, cached


def test_decided_items_store_the_log_their_event_objects_stored(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Given every decided item type on eight customers, with refusals, resent ids and a merge
    items = _workload(8)
    # When two processes ingest them with events as objects, then again as rows
    objects, objects_outcomes, objects_cached = _ingest(monkeypatch, items, rows=False)
    rows, rows_outcomes, rows_cached = _ingest(monkeypatch, items, rows=True)
    # Then the same items were accepted, refused and found duplicate, for the same customers
    statuses = {status for _, status, _ in rows_outcomes}
    assert statuses == {"accepted", "rejected", "duplicate"}
    assert rows_outcomes == objects_outcomes
    # ... the log is the same, event for event: ids, positions, versions, topics and bytes
    assert len(rows) > len(items) // 2
    assert rows == objects
    # ... and both processes hold every customer as the event objects left it
    assert rows_cached == objects_cached


def test_the_state_a_row_gives_a_customer_is_the_state_its_replay_gives(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the decided workload ingested as rows by one process
    items = _workload(3)
    app = Siyu(vault=AesGcmVault(b"s" * 32), blind_key=b"k" * 32,
               recorder=SiyuMemoryRecorder())
    for start in range(0, len(items), 40):
        app.ingestion.record_batch(items[start:start + 40], "service:tests")
    # Then each cached customer equals the customer replayed from the stored events
    streams = {UUID(str(n.originator_id))
               for n in app.recorder.select_notifications(start=1, limit=10**6)}
    for stream_id in streams:
        cached = app.find(stream_id, Customer)
        fresh = app.find(stream_id, Customer, fresh=True)
        assert cached is not None and fresh is not None
        assert vars(cached) == vars(fresh)


def test_a_customer_another_unit_holds_keeps_its_event_objects() -> None:
    # Given a batch's recorder, and a customer its unit does not hold (a nested command's)
    app = Siyu(vault=AesGcmVault(b"s" * 32), blind_key=b"k" * 32,
               recorder=SiyuMemoryRecorder())
    outer: UnitOfWork[Customer] = UnitOfWork(Customer)
    held = outer.add(Customer(first_channel="h5", by="system", occurred_at=AT))
    other = Customer(first_channel="h5", by="system", occurred_at=AT)
    held.collect_events()
    token = RECORDER.set(app.row_recorder(outer))
    try:
        # When both are tagged
        held.tag("VIP", "system", AT)
        other.tag("VIP", "system", AT)
    finally:
        RECORDER.reset(token)
    # Then the held one's event is a row of the unit, the other's a pending event object
    assert [r.originator_version for r in outer.rows[held.id]] == [2]
    assert other.id not in outer.rows
    assert [type(e) for e in other.collect_events()] == [Customer.Registered, Customer.Tagged]
    assert held.tags == other.tags == {"VIP"}
