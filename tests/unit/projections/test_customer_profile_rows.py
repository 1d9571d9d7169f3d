"""The customer_profile row function, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.customer import Customer
from projections.customer_profile import apply

AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def fold(customer: Customer) -> dict[str, object] | None:
    row = None
    for position, event in enumerate(customer.collect_events(), start=1):
        row = apply(row, event, position)
    return row


def test_a_profile_counts_orders_gmv_and_refunds_in_fen() -> None:
    customer = Customer(first_channel="h5", by="system", occurred_at=AT)
    customer.pay_order("o1", 1_000, [], "h5", "service:mall", AT)
    customer.pay_order("o2", 2_500, [], "h5", "service:mall", AT)
    customer.refund_order("o2", 500, "service:mall", AT)
    row = fold(customer)
    assert row is not None
    assert (row["order_count"], row["gmv_fen"], row["refund_count"], row["refunded_fen"]) == (
        2, 3_500, 1, 500)


def test_deleting_a_friend_closes_the_relation_and_keeps_its_history() -> None:
    customer = Customer(first_channel="qr", by="system", occurred_at=AT)
    customer.add_friend("s1", "qr", "st", None, "service:wecom", AT)
    customer.delete_friend("s1", "customer", "service:wecom", AT + timedelta(days=3))
    row = fold(customer)
    assert row is not None
    assert row["current_staff_ids"] == []
    assert row["ever_friend"] is True
    relation = row["staff_relations"][0]  # type: ignore[index]
    assert relation["deleted_by"] == "customer"
    assert relation["until"] == (AT + timedelta(days=3)).isoformat()


def test_last_interaction_is_the_latest_business_time_even_out_of_order() -> None:
    customer = Customer(first_channel="h5", by="system", occurred_at=AT)
    customer.view_content("c1", "h5", "customer:x", AT + timedelta(days=5))
    customer.view_content("c2", "h5", "customer:x", AT + timedelta(days=2))  # arrives late
    row = fold(customer)
    assert row is not None
    assert row["last_interaction_at"] == AT + timedelta(days=5)


def test_applying_the_same_event_twice_changes_nothing() -> None:
    customer = Customer(first_channel="h5", by="system", occurred_at=AT)
    customer.pay_order("o1", 1_000, [], "h5", "service:mall", AT)
    events = customer.collect_events()
    row = None
    for event in events:
        row = apply(row, event, 1)
    again = apply(row, events[-1], 2)
    assert again == row


def test_a_deletion_that_arrives_before_its_add_still_ends_the_friendship() -> None:
    # Given the add happened at 10:00 and the deletion at 11:00, but the deletion arrives first
    customer = Customer(first_channel="qr", by="system", occurred_at=AT)
    customer.delete_friend("s1", "customer", "service:wecom", AT + timedelta(hours=2))
    customer.add_friend("s1", "qr", None, None, "service:wecom", AT + timedelta(hours=1))
    # When both are folded in arrival order
    row = fold(customer)
    # Then the friendship is over, with the right times
    assert row is not None
    assert row["current_staff_ids"] == []
    relation = row["staff_relations"][0]  # type: ignore[index]
    assert relation["since"] == (AT + timedelta(hours=1)).isoformat()
    assert relation["until"] == (AT + timedelta(hours=2)).isoformat()


def test_a_late_add_before_a_known_deletion_and_a_new_add_keeps_the_new_friendship() -> None:
    customer = Customer(first_channel="qr", by="system", occurred_at=AT)
    customer.add_friend("s1", "qr", None, None, "w", AT + timedelta(hours=5))  # re-added later
    customer.delete_friend("s1", "staff", "w", AT + timedelta(hours=2))
    customer.add_friend("s1", "qr", None, None, "w", AT + timedelta(hours=1))  # arrives last
    row = fold(customer)
    assert row is not None
    assert row["current_staff_ids"] == ["s1"]
    relations: list[dict[str, str | None]] = row["staff_relations"]  # type: ignore[assignment]
    spans = [(str(r["since"])[11:16], r["until"] and r["until"][11:16]) for r in relations]
    assert spans == [("10:00", "11:00"), ("14:00", None)]
