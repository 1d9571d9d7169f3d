"""Stored events are never rewritten: older versions are upcast when read."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from eventsourcing.persistence import StoredEvent

from application.app import Siyu
from domain.customer import Customer
from domain.ingestion import EventItem

AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def test_a_content_view_stored_as_v1_is_read_as_the_current_version(
        memory_app: Siyu) -> None:
    # Given a v1 ContentViewed as it was stored before `seconds` existed
    customer = Customer(first_channel="h5", by="system", occurred_at=AT)
    customer.view_content("article-1", "h5", "customer:x", AT, seconds=30)
    event = customer.collect_events()[-1]
    stored = memory_app.mapper.to_stored_event(event)
    state = json.loads(stored.state)
    assert state.pop("class_version") == 3
    del state["seconds"]
    del state["topic"]
    v1 = StoredEvent(stored.originator_id, stored.originator_version, stored.topic,
                     json.dumps(state).encode())
    # When it is read
    read = memory_app.mapper.to_domain_event(v1)
    # Then it is a current event whose later fields are unknown
    assert isinstance(read, Customer.ContentViewed)
    assert read.seconds is None and read.topic is None and read.content_id == "article-1"


def test_a_content_view_stored_as_v2_gains_an_unknown_topic(
        memory_app: Siyu) -> None:
    customer = Customer(first_channel="h5", by="system", occurred_at=AT)
    customer.view_content("article-1", "h5", "customer:x", AT, seconds=30, topic="育儿")
    stored = memory_app.mapper.to_stored_event(customer.collect_events()[-1])
    state = json.loads(stored.state)
    state["class_version"] = 2
    del state["topic"]
    v2 = StoredEvent(stored.originator_id, stored.originator_version, stored.topic,
                     json.dumps(state).encode())
    read = memory_app.mapper.to_domain_event(v2)
    assert isinstance(read, Customer.ContentViewed)
    assert (read.seconds, read.topic) == (30, None)


def test_a_customer_snapshot_from_v1_gains_the_v2_state(memory_app: Siyu) -> None:
    # Given a customer snapshot taken before v2 added points, coupons and consents
    result = memory_app.ingestion.record_batch(
        [EventItem("e1", "TAGGED", ("wx_unionid", "o1"), AT, tag="vip")], "service:test")
    customer_id = result.outcomes[0].customer_id
    assert customer_id is not None
    customer: Customer = memory_app.repository.get(customer_id)
    snapshot = Customer.Snapshot.take(customer)
    stored = memory_app.mapper.to_stored_event(snapshot)
    state = json.loads(stored.state)
    inner = state["state"]
    for key in ("placed", "coupons", "points", "dnd", "consents", "accounts", "member_level",
                "referred_by"):
        inner.pop(key)
    inner.pop("class_version", None)
    v1 = StoredEvent(stored.originator_id, stored.originator_version, stored.topic,
                     json.dumps(state).encode())
    # When the aggregate is rebuilt from it
    restored = memory_app.mapper.to_domain_event(v1).mutate(None)  # type: ignore[attr-defined]
    # Then the new state has its defaults and the old state is intact
    assert restored.points == 0 and restored.coupons == {} and restored.dnd is False
    assert restored.tags == {"vip"}
    restored.earn_points(10, "test", "system", AT)
    assert restored.points == 10


def test_a_tag_stored_as_v1_reads_as_a_manual_tag(memory_app: Siyu) -> None:
    customer = Customer(first_channel="h5", by="system", occurred_at=AT)
    customer.tag("vip", "staff:s1", AT, reason="rule:r1")
    stored = memory_app.mapper.to_stored_event(customer.collect_events()[-1])
    state = json.loads(stored.state)
    assert state.pop("class_version") == 2 and state.pop("reason") == "rule:r1"
    v1 = StoredEvent(stored.originator_id, stored.originator_version, stored.topic,
                     json.dumps(state).encode())
    read = memory_app.mapper.to_domain_event(v1)
    assert isinstance(read, Customer.Tagged) and read.reason == "manual"


def test_a_customer_snapshot_from_v4_gains_no_referral_campaign(
        memory_app: Siyu) -> None:
    # Given a v4 snapshot (before v5 kept the referral's campaign and time)
    result = memory_app.ingestion.record_batch(
        [EventItem("e1", "TAGGED", ("wx_unionid", "o4"), AT, tag="vip")], "service:test")
    customer_id = result.outcomes[0].customer_id
    assert customer_id is not None
    snapshot = Customer.Snapshot.take(memory_app.repository.get(customer_id))
    stored = memory_app.mapper.to_stored_event(snapshot)
    state = json.loads(stored.state)
    for key in ("referred_in", "referred_at"):
        state["state"].pop(key)
    state["state"]["class_version"] = 4
    v4 = StoredEvent(stored.originator_id, stored.originator_version, stored.topic,
                     json.dumps(state).encode())
    # When it is read, the referral fields are there, empty
    restored = memory_app.mapper.to_domain_event(v4).mutate(None)  # type: ignore[attr-defined]
    assert restored.referred_in is None and restored.referred_at is None
    assert restored.tags == {"vip"}
