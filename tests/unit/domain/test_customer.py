"""The Customer aggregate decides before it records; replays rebuild the same state."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.customer import Customer
from domain.errors import InvalidAmount, OrderAlreadyPaid, RefundExceedsPayment, UnknownOrder

AT = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


def new_customer() -> Customer:
    return Customer(first_channel="qr:store-01", by="service:test", occurred_at=AT)


def test_tagging_twice_records_one_event() -> None:
    # Given a customer
    customer = new_customer()
    # When the same tag is applied twice
    customer.tag("vip", "staff:s1", AT)
    customer.tag("vip", "staff:s1", AT)
    # Then only one Tagged event is pending
    events = customer.collect_events()
    assert [type(e) for e in events] == [Customer.Registered, Customer.Tagged]


def test_every_event_says_who_and_when() -> None:
    customer = new_customer()
    customer.add_friend("s1", "qr", "state-1", None, "service:wecom", AT)
    for event in customer.collect_events():
        assert event.by  # type: ignore[attr-defined]
        assert event.occurred_at == AT  # type: ignore[attr-defined]
        assert event.timestamp != event.occurred_at  # type: ignore[attr-defined]


def test_deleting_a_friend_removes_the_staff_member_from_current_friends() -> None:
    customer = new_customer()
    customer.add_friend("s1", "qr", None, None, "service:wecom", AT)
    customer.delete_friend("s1", "customer", "service:wecom", AT)
    assert customer.friends == {}


def test_a_refund_larger_than_the_payment_is_refused_and_records_nothing() -> None:
    customer = new_customer()
    customer.pay_order("o1", 10_000, [], "mini_program", "service:mall", AT)
    customer.collect_events()
    with pytest.raises(RefundExceedsPayment):
        customer.refund_order("o1", 10_001, "service:mall", AT)
    assert customer.collect_events() == []


def test_refunding_an_unknown_order_is_refused() -> None:
    with pytest.raises(UnknownOrder):
        new_customer().refund_order("nope", 100, "service:mall", AT)


def test_paying_the_same_order_twice_is_refused() -> None:
    customer = new_customer()
    customer.pay_order("o1", 100, [], "h5", "service:mall", AT)
    with pytest.raises(OrderAlreadyPaid):
        customer.pay_order("o1", 100, [], "h5", "service:mall", AT)


def test_a_negative_payment_is_refused() -> None:
    with pytest.raises(InvalidAmount):
        new_customer().pay_order("o1", -1, [], "h5", "service:mall", AT)


def test_replaying_the_events_rebuilds_the_same_state() -> None:
    # Given a customer with some history
    customer = new_customer()
    customer.tag("vip", "staff:s1", AT)
    customer.join_group("g1", "service:wecom", AT)
    customer.pay_order("o1", 500, [{"sku": "A", "quantity": 1, "price_fen": 500}], "h5",
                       "service:mall", AT)
    customer.refund_order("o1", 200, "service:mall", AT)
    events = customer.collect_events()
    # When the events are replayed
    replayed = None
    for event in events:
        replayed = event.mutate(replayed)
    # Then the state is the same
    assert replayed is not None
    assert replayed.tags == {"vip"}
    assert replayed.groups == {"g1"}
    assert replayed.orders == {"o1": [500, 200]}
