"""The staff-performance row logic, without a database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from projections.staff_performance import business_day, counter_deltas, friend_at
from projections.staff_performance.chats import Message, chat_waits, continue_chat

AT = datetime(2026, 11, 2, 15, 30, tzinfo=UTC)
S = timedelta(seconds=1)


def test_a_business_day_is_the_shanghai_date() -> None:
    assert business_day(AT) == date(2026, 11, 2)
    assert business_day(AT + 9 * timedelta(hours=1)) == date(2026, 11, 3)  # 00:30 in Shanghai


def test_the_first_customer_message_opens_a_wait_and_the_next_reply_answers_it() -> None:
    # Given two customer messages, a reply, a second reply, then an unanswered message
    messages = [Message(AT, 1, True), Message(AT + 10 * S, 2, True),
                Message(AT + 70 * S, 3, False), Message(AT + 80 * S, 4, False),
                Message(AT + 90 * S, 5, True)]
    state, waits = chat_waits(messages)
    # Then one answered wait of 70 s (from the first message) and one open wait
    assert [(w.opened_position, w.response_seconds([])) for w in waits] == [(1, 70), (5, None)]
    assert (state.open_position, state.last_position) == (5, 5)


def test_continuing_a_chat_equals_deriving_it_whole() -> None:
    messages = [Message(AT + n * S, n, n % 3 != 0) for n in range(1, 20)]
    state, _ = continue_chat(None, messages[:7])
    later, tail = continue_chat(state, messages[7:])
    whole, waits = chat_waits(messages)
    assert later == whole
    assert {w for w in tail} <= set(waits)


def test_a_friend_is_retained_when_the_last_change_by_the_horizon_is_an_add() -> None:
    changes = [(AT, 1, True), (AT + 2 * S, 2, False), (AT + 5 * S, 3, True)]
    assert friend_at(changes, AT + S)
    assert not friend_at(changes, AT + 3 * S)
    assert friend_at(changes, AT + 9 * S)
    assert not friend_at(changes, AT - S)


def test_a_customers_hit_counts_once_in_the_total_and_once_per_category_it_hit() -> None:
    # Given a customer's message hitting abuse, private orders and two brand categories
    entry = {"kind": "customer_sensitive_word_hit",
             "categories": ["abuse", "competitor", "private_order", "rude"]}
    # Then it is one hit of the total, one of each built-in category and one of the custom ones
    assert counter_deltas(entry) == {
        "customer_sensitive_word_hits": 1, "customer_abuse_hits": 1,
        "customer_private_order_hits": 1, "customer_custom_category_hits": 1}
    # And a member's own hit counts only as theirs
    assert counter_deltas({"kind": "sensitive_word_hit", "categories": ["abuse"]}) == {
        "sensitive_word_hits": 1}


def test_orders_and_refunds_add_counts_and_fen() -> None:
    assert counter_deltas({"kind": "order_paid", "amount_fen": 990}) == {
        "orders_paid": 1, "gmv_fen": 990}
    assert counter_deltas({"kind": "friend_deleted_by_staff"}) == {"friends_deleted_by_staff": 1}
