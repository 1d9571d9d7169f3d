"""Customers' owners and handovers (离职继承 / 在职继承) on in-memory persistence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from application.app import Siyu
from domain.customer import Customer
from domain.errors import InvalidInput, StaffAlreadyLeft, UnknownStaff
from domain.ingestion import EventItem

AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
BY = "staff:manager"


def hire(app: Siyu, role: str = "sales") -> UUID:
    return app.staff.hire(role, "front_office", "员工", BY, AT)


def befriend(app: Siyu, who: str, staff_id: UUID, at: datetime = AT,
             event_id: str | None = None) -> UUID:
    item = EventItem(event_id or f"fa-{who}-{staff_id}", "FRIEND_ADDED", ("wx_unionid", who), at,
                     staff_id=str(staff_id), channel="qr:store-1")
    outcome = app.ingestion.record_batch([item], "service:wecom").outcomes[0]
    assert outcome.status == "accepted" and outcome.customer_id is not None
    return outcome.customer_id


def owner_events(app: Siyu, customer_id: UUID) -> list[Customer.OwnerChanged]:
    events = app.repository.event_store.get(customer_id)
    return [e for e in events if isinstance(e, Customer.OwnerChanged)]


def test_the_first_staff_member_to_add_a_customer_becomes_its_owner(
        memory_app: Siyu) -> None:
    # Given two sales staff
    a, b = hire(memory_app), hire(memory_app)
    # When the customer adds A, then B
    customer_id = befriend(memory_app, "o1", a)
    befriend(memory_app, "o1", b, AT + timedelta(hours=1))
    # Then A owns the customer, recorded once, with who and when of the friend add
    changes = owner_events(memory_app, customer_id)
    assert [(c.previous_staff_id, c.staff_id, c.reason) for c in changes] == [
        (None, str(a), "first_friend")]
    assert (changes[0].by, changes[0].occurred_at) == ("service:wecom", AT)


def test_a_handover_transfers_the_givers_customers_and_refuses_the_others(
        memory_app: Siyu) -> None:
    # Given A owns two customers and B owns one
    a, b, c = hire(memory_app), hire(memory_app), hire(memory_app)
    mine = [befriend(memory_app, "o1", a), befriend(memory_app, "o2", a)]
    theirs = befriend(memory_app, "o3", b)
    # When A's customers and B's are handed from A to C
    result = memory_app.staff.hand_over(a, c, [*mine, theirs, uuid4()], "reassignment", BY,
                                            AT + timedelta(days=1), handover_id="h-1")
    # Then A's two move to C and the others are refused, each with a code
    assert (result.requested, result.transferred, result.already) == (4, 2, 0)
    assert sorted(r.error.code for r in result.refused) == ["NOT_OWNED_BY_GIVER",
                                                           "UNKNOWN_CUSTOMER"]
    moved: Customer = memory_app.repository.get(mine[0])
    last = owner_events(memory_app, mine[0])[-1]
    assert moved.owner == str(c)
    assert (last.previous_staff_id, last.reason, last.handover_id, last.by) == (
        str(a), "reassignment", "h-1", BY)


def test_retrying_a_handover_records_nothing_twice(memory_app: Siyu) -> None:
    # Given a handover of A's customer to B that already ran
    a, b = hire(memory_app), hire(memory_app)
    customer_id = befriend(memory_app, "o1", a)
    memory_app.staff.hand_over(a, b, [customer_id], "reassignment", BY, AT, handover_id="h")
    # When it is retried with the same id
    again = memory_app.staff.hand_over(a, b, [customer_id], "reassignment", BY, AT,
                                           handover_id="h")
    # Then it reports the customer as already done and stores no second event
    assert (again.transferred, again.already, again.refused) == (0, 1, [])
    assert len(owner_events(memory_app, customer_id)) == 2


def test_a_leaving_staff_members_customers_go_to_a_colleague_in_one_command(
        memory_app: Siyu) -> None:
    # Given A owns 7 customers and leaves
    a, b = hire(memory_app), hire(memory_app)
    customers = [befriend(memory_app, f"o{n}", a) for n in range(7)]
    memory_app.staff.leave(a, BY, AT + timedelta(days=3))
    # When A's customers are handed over for resignation, 3 per transaction
    result = memory_app.staff.hand_over(a, b, customers, "resignation", BY,
                                            AT + timedelta(days=3), chunk=3)
    # Then all seven belong to B
    assert result.transferred == 7 and result.last_position is not None
    assert {memory_app.repository.get(c).owner for c in customers} == {str(b)}


def test_a_handover_to_a_staff_member_who_left_or_is_unknown_is_refused(
        memory_app: Siyu) -> None:
    a, b = hire(memory_app), hire(memory_app)
    customer_id = befriend(memory_app, "o1", a)
    memory_app.staff.leave(b, BY, AT)
    with pytest.raises(StaffAlreadyLeft) as left:
        memory_app.staff.hand_over(a, b, [customer_id], "resignation", BY, AT)
    with pytest.raises(UnknownStaff) as unknown:
        memory_app.staff.hand_over(uuid4(), a, [customer_id], "resignation", BY, AT)
    with pytest.raises(InvalidInput) as reason:
        memory_app.staff.hand_over(a, a, [customer_id], "promotion", BY, AT)
    with pytest.raises(InvalidInput) as same:
        memory_app.staff.hand_over(a, a, [customer_id], "resignation", BY, AT)
    assert (left.value.field, unknown.value.field) == ("toStaffId", "fromStaffId")
    assert (reason.value.field, same.value.field) == ("reason", "toStaffId")


def test_a_customer_the_receiver_owns_already_is_unchanged(
        memory_app: Siyu) -> None:
    a, b = hire(memory_app), hire(memory_app)
    customer_id = befriend(memory_app, "o1", b)
    result = memory_app.staff.hand_over(a, b, [customer_id], "reassignment", BY, AT)
    assert (result.unchanged, result.transferred, result.refused) == (1, 0, [])


def test_a_late_friend_add_after_a_handover_does_not_change_the_owner(
        memory_app: Siyu) -> None:
    # Given A's customer was handed to B
    a, b, d = hire(memory_app), hire(memory_app), hire(memory_app)
    customer_id = befriend(memory_app, "o1", a, AT + timedelta(days=1))
    memory_app.staff.hand_over(a, b, [customer_id], "reassignment", BY,
                                   AT + timedelta(days=2))
    # When a friend add with D, which happened before everything, arrives late
    befriend(memory_app, "o1", d, AT)
    # Then B still owns the customer
    assert memory_app.repository.get(customer_id).owner == str(b)


def test_a_merge_ends_the_absorbed_period_and_gives_an_ownerless_survivor_its_owner(
        memory_app: Siyu) -> None:
    # Given A owns the absorbed customer and the survivor has no owner
    a = hire(memory_app)
    absorbed = befriend(memory_app, "o1", a)
    survivor = memory_app.ingestion.record_batch(
        [EventItem("t", "TAGGED", ("phone", "13800138000"), AT, tag="mall")],
        "s:t").outcomes[0].customer_id
    assert survivor is not None
    # When they are merged
    memory_app.identity.merge(survivor, absorbed, BY, AT + timedelta(days=1))
    # Then the absorbed customer has no owner and the survivor inherits A
    assert memory_app.repository.get(absorbed).owner is None
    assert memory_app.repository.get(survivor).owner == str(a)
    assert [e.reason for e in owner_events(memory_app, absorbed)] == ["first_friend", "merged"]
    # When the merge is undone, Then the absorbed customer's owner returns; the survivor keeps A
    memory_app.identity.unmerge(absorbed, BY, AT + timedelta(days=2))
    assert memory_app.repository.get(absorbed).owner == str(a)
    assert memory_app.repository.get(survivor).owner == str(a)


def test_a_handover_naming_a_merged_away_id_moves_its_survivor(
        memory_app: Siyu) -> None:
    a, b = hire(memory_app), hire(memory_app)
    survivor = befriend(memory_app, "o1", a)
    absorbed = befriend(memory_app, "o2", b)
    memory_app.identity.merge(survivor, absorbed, BY, AT)
    result = memory_app.staff.hand_over(a, b, [absorbed], "reassignment", BY, AT)
    assert result.transferred == 1 and memory_app.repository.get(survivor).owner == str(b)


def test_a_customer_snapshot_from_v3_gains_no_owner(memory_app: Siyu) -> None:
    # Given a v3 snapshot, taken before customers had owners
    customer_id = memory_app.ingestion.record_batch(
        [EventItem("e1", "TAGGED", ("wx_unionid", "o1"), AT, tag="vip")],
        "s:t").outcomes[0].customer_id
    assert customer_id is not None
    snapshot = Customer.Snapshot.take(memory_app.repository.get(customer_id))
    state = dict(snapshot.state)
    state.pop("owner")
    state.pop("owner_before_merge")
    state["class_version"] = 3
    old = Customer.Snapshot(originator_id=snapshot.originator_id,
                            originator_version=snapshot.originator_version,
                            timestamp=snapshot.timestamp, topic=snapshot.topic, state=state)
    # When it is read, Then the customer has no owner yet
    customer = old.mutate(None)
    assert isinstance(customer, Customer) and customer.owner is None
