"""OneID on in-memory persistence: linking a taken alias merges; a merge can be undone."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import pytest

from application.app import Siyu
from domain.customer import Customer
from domain.errors import CannotMerge, NotMerged
from domain.ingestion import EventItem

ALICE = ("wx_unionid", "oAlice")
PHONE = ("phone", "13800138000")


def two_customers(app: Siyu, now: datetime) -> tuple[UUID, UUID]:
    result = app.ingestion.record_batch([EventItem("a", "TAGGED", ALICE, now, tag="mp"),
                               EventItem("b", "TAGGED", PHONE, now, tag="mall")], "s:t")
    a, b = (o.customer_id for o in result.outcomes)
    assert a is not None and b is not None and a != b
    return a, b


def owner_of(app: Siyu, identity: tuple[str, str], now: datetime, n: str) -> UUID:
    outcome = app.ingestion.record_batch([EventItem(n, "CONTENT_VIEWED", identity, now, content_id="c")],
                               "s:t").outcomes[0]
    assert outcome.customer_id is not None
    return outcome.customer_id


def test_linking_an_alias_of_another_customer_merges_them(
    memory_app: Siyu, now: datetime
) -> None:
    # Given a mini-program customer and a mall customer known by phone
    a, b = two_customers(memory_app, now)
    # When the mini-program customer links that phone
    outcome = memory_app.ingestion.record_batch(
        [EventItem("l", "IDENTITY_LINKED", ALICE, now, link=PHONE)], "s:t").outcomes[0]
    # Then the mall customer is absorbed: both record the merge, the phone leads to Alice
    assert outcome.status == "accepted"
    survivor: Customer = memory_app.repository.get(a)
    absorbed: Customer = memory_app.repository.get(b)
    assert str(b) in survivor.absorbed and absorbed.merged_into == str(a)
    assert owner_of(memory_app, PHONE, now, "v1") == a


def test_an_unmerge_gives_the_absorbed_customer_its_identities_back(
    memory_app: Siyu, now: datetime
) -> None:
    a, b = two_customers(memory_app, now)
    memory_app.identity.merge(a, b, "staff:m", now)
    assert owner_of(memory_app, PHONE, now, "v1") == a
    memory_app.identity.unmerge(b, "staff:m", now)
    assert owner_of(memory_app, PHONE, now, "v2") == b
    assert owner_of(memory_app, ALICE, now, "v3") == a
    restored: Customer = memory_app.repository.get(b)
    assert restored.merged_into is None


def test_merges_that_make_no_sense_are_refused(memory_app: Siyu,
                                               now: datetime) -> None:
    a, b = two_customers(memory_app, now)
    with pytest.raises(CannotMerge):
        memory_app.identity.merge(a, a, "staff:m", now)
    memory_app.identity.merge(a, b, "staff:m", now)
    with pytest.raises(CannotMerge):
        memory_app.identity.merge(b, a, "staff:m", now)
    with pytest.raises(NotMerged):
        memory_app.identity.unmerge(a, "staff:m", now)


def test_merges_chain_and_unmerge_one_level(memory_app: Siyu,
                                            now: datetime) -> None:
    a, b = two_customers(memory_app, now)
    c = owner_of(memory_app, ("mall_member", "m-9"), now, "c")
    memory_app.identity.merge(b, c, "staff:m", now)  # b absorbs c
    memory_app.identity.merge(a, b, "staff:m", now)  # a absorbs b (and so c)
    assert owner_of(memory_app, ("mall_member", "m-9"), now, "v1") == a
    memory_app.identity.unmerge(b, "staff:m", now)  # b (with c) is its own again
    assert owner_of(memory_app, ("mall_member", "m-9"), now, "v2") == b
    assert owner_of(memory_app, PHONE, now, "v3") == b


def test_a_merged_customer_can_refund_an_order_the_absorbed_one_paid(
    memory_app: Siyu, now: datetime
) -> None:
    # Given the mall customer paid an order, then was merged into the mini-program customer
    a, b = two_customers(memory_app, now)
    memory_app.ingestion.record_batch([EventItem("o", "ORDER_PAID", PHONE, now, order_id="o1",
                                       amount_fen=900)], "s:t")
    memory_app.identity.merge(a, b, "staff:m", now)
    # When the refund arrives (through the phone, now Alice's)
    refund = memory_app.ingestion.record_batch([EventItem("r", "ORDER_REFUNDED", PHONE, now,
                                                order_id="o1", amount_fen=900)], "s:t")
    # Then it is accepted on the survivor
    assert refund.outcomes[0].status == "accepted"
    assert refund.outcomes[0].customer_id == a
    # and after an un-merge the survivor no longer decides on b's orders
    memory_app.identity.unmerge(b, "staff:m", now)
    survivor: Customer = memory_app.repository.get(a)
    assert "o1" not in survivor.orders
