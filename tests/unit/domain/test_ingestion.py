"""Batch ingestion on in-memory persistence: per-item outcomes, duplicates, no partial writes."""

from __future__ import annotations

from datetime import datetime, timedelta

from adapters.memory_recorder import SiyuMemoryRecorder
from application.app import Siyu
from domain.customer import Customer
from domain.ingestion import EventItem, OrderItem
from tests.conftest import count_stored_events_read

WECOM = ("wecom_external:ww1", "wmCustomer1")


def stored_count(app: Siyu) -> int:
    return len(app.recorder.select_notifications(start=1, limit=10_000))


def test_a_batch_records_every_valid_item_on_the_customer_found_by_identity(
    memory_app: Siyu, now: datetime
) -> None:
    # Given two actions by the same customer, addressed by the same identity
    items = [
        EventItem("e1", "FRIEND_ADDED", WECOM, now, channel="qr", staff_id="wecom_user:s1"),
        EventItem("e2", "ORDER_PAID", WECOM, now, order_id="o1", amount_fen=990,
                  items=[OrderItem("sku-1", 1, 990)]),
    ]
    # When they are recorded
    result = memory_app.ingestion.record_batch(items, "service:test")
    # Then both are accepted on one new customer
    assert [o.status for o in result.outcomes] == ["accepted", "accepted"]
    customer_id = result.outcomes[0].customer_id
    assert customer_id is not None and result.outcomes[1].customer_id == customer_id
    customer: object = memory_app.repository.get(customer_id)
    assert isinstance(customer, Customer)
    assert customer.friends.keys() == {"wecom_user:s1"} and customer.orders == {"o1": [990, 0]}


def test_resending_an_event_id_stores_nothing_new_and_reports_a_duplicate(
    memory_app: Siyu, now: datetime
) -> None:
    items = [EventItem("e1", "TAGGED", WECOM, now, tag="vip")]
    first = memory_app.ingestion.record_batch(items, "service:test")
    before = stored_count(memory_app)
    again = memory_app.ingestion.record_batch(items, "service:test")
    assert again.outcomes[0].status == "duplicate"
    assert again.outcomes[0].customer_id == first.outcomes[0].customer_id
    assert stored_count(memory_app) == before


def test_a_rejected_item_stores_nothing_not_even_a_new_customer(
    memory_app: Siyu, now: datetime
) -> None:
    # Given a refund for an order the (new) customer never paid
    items = [EventItem("r1", "ORDER_REFUNDED", ("phone", "13800138000"), now, order_id="x",
                       amount_fen=5)]
    # When it is recorded
    result = memory_app.ingestion.record_batch(items, "service:test")
    # Then it is rejected, naming the field, and nothing is stored
    outcome = result.outcomes[0]
    assert outcome.status == "rejected"
    assert outcome.error is not None and outcome.error.code == "UNKNOWN_ORDER"
    assert outcome.error.field == "orderId"
    assert stored_count(memory_app) == 0
    assert isinstance(memory_app.recorder, SiyuMemoryRecorder)
    assert memory_app.recorder.identities == {}


def test_bad_items_get_typed_errors_naming_the_field(
    memory_app: Siyu, now: datetime
) -> None:
    items = [
        EventItem("a", "TELEPORTED", WECOM, now),
        EventItem("b", "ORDER_PAID", WECOM, now, order_id="o", amount_fen=-5),
        EventItem("c", "TAGGED", ("wecom_external", "x"), now, tag="t"),
        EventItem("d", "TAGGED", WECOM, now + timedelta(days=2), tag="t"),
        EventItem("e", "FRIEND_ADDED", WECOM, now),
    ]
    result = memory_app.ingestion.record_batch(items, "service:test")
    errors = [(o.error.code, o.error.field) for o in result.outcomes if o.error]
    assert errors == [
        ("UNKNOWN_EVENT_TYPE", "type"),
        ("INVALID_AMOUNT", "amountFen"),
        ("INVALID_IDENTITY", "customer.namespace"),
        ("INVALID_TIME", "occurredAt"),
        ("MISSING_FIELD", "staffId"),
    ]
    assert stored_count(memory_app) == 0


def test_an_atomic_batch_with_one_bad_item_stores_nothing(
    memory_app: Siyu, now: datetime
) -> None:
    items = [
        EventItem("ok", "TAGGED", WECOM, now, tag="vip"),
        EventItem("bad", "ORDER_REFUNDED", WECOM, now, order_id="none", amount_fen=1),
    ]
    result = memory_app.ingestion.record_batch(items, "service:test", atomic=True)
    assert [o.status for o in result.outcomes] == ["aborted", "rejected"]
    assert stored_count(memory_app) == 0
    # and the same items, minus the bad one, can be recorded afterwards
    later = memory_app.ingestion.record_batch(items[:1], "service:test", atomic=True)
    assert later.outcomes[0].status == "accepted"


def test_linking_an_identity_lets_either_identity_find_the_customer(
    memory_app: Siyu, now: datetime
) -> None:
    phone = ("phone", "138 0013 8000")
    first = memory_app.ingestion.record_batch(
        [EventItem("l1", "IDENTITY_LINKED", WECOM, now, link=phone)], "service:test")
    by_phone = memory_app.ingestion.record_batch(
        [EventItem("t1", "TAGGED", ("phone", "+8613800138000"), now, tag="vip")], "service:test")
    assert by_phone.outcomes[0].customer_id == first.outcomes[0].customer_id


def test_personal_data_is_kept_out_of_events_and_readable_from_the_vault(
    memory_app: Siyu, now: datetime
) -> None:
    result = memory_app.ingestion.record_batch(
        [EventItem("p1", "PROFILE_UPDATED", ("phone", "13800138000"), now, nickname="王小明")],
        "service:test")
    customer_id = result.outcomes[0].customer_id
    assert customer_id is not None
    payloads = b"".join(n.state for n in memory_app.recorder.select_notifications(1, 100))
    assert b"13800138000" not in payloads
    assert "王小明".encode() not in payloads
    personal = memory_app.customers.personal_data(customer_id)
    assert personal["nickname"] == "王小明"
    assert "+8613800138000" in personal.values()


def test_appending_to_a_long_history_reads_none_of_it(
    memory_app: Siyu, now: datetime
) -> None:
    # Given a customer with 1,500 events
    for n in range(3):
        memory_app.ingestion.record_batch(
            [EventItem(f"v{n}-{i}", "CONTENT_VIEWED", WECOM, now, content_id="c")
             for i in range(500)], "service:test")
    # When one more event is appended, counting the stored events read back
    read = count_stored_events_read(memory_app)
    result = memory_app.ingestion.record_batch([EventItem("last", "TAGGED", WECOM, now, tag="x")],
                                     "service:test")
    # Then it is stored without replaying the history
    assert result.outcomes[0].status == "accepted"
    assert sum(read) == 0


def test_control_characters_and_lone_surrogates_are_refused_per_item(
    memory_app: Siyu, now: datetime
) -> None:
    # JSON can carry them; the events table and the read models cannot.
    items = [EventItem("n1", "TAGGED", WECOM, now, tag="x\x00y"),
             EventItem("n2", "TAGGED", WECOM, now, tag="x\ud800"),
             EventItem("n\x003", "TAGGED", WECOM, now, tag="ok")]
    result = memory_app.ingestion.record_batch(items, "service:test")
    assert [(o.status, o.error and o.error.field) for o in result.outcomes] == [
        ("rejected", "tag"), ("rejected", "tag"), ("rejected", "eventId")]
    assert stored_count(memory_app) == 0
