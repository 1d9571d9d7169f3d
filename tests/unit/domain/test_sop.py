"""The Sop aggregate and the pure rules of sequences: validation, schedule, triggers, stops."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from application.app import Siyu
from application.sops import StepOutcome
from domain.customer import Customer
from domain.errors import InvalidInput
from domain.sop import (
    FRIEND_ADDED,
    GROUP_JOINED,
    InvalidSop,
    Sop,
    SopStateError,
    Trigger,
    UnknownSop,
    check_trigger,
    enrolment_id,
    matches,
    schedule,
    sop_send_key,
    stop_reason,
)

NOW = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)


def step(hours: int, channel: str = "sms", text: str = "hi {member_level}") -> dict[str, Any]:
    return {"offset_hours": hours, "channel": channel,
            "variants": [{"variant_id": "a", "text": text, "template_id": "tpl-1"}]}


def define(**overrides: Any) -> Sop:
    args: dict[str, Any] = {"name": "welcome", "owner": "staff:m",
                            "trigger": {"kind": FRIEND_ADDED}, "steps": [step(0), step(72)],
                            "by": "staff:m", "occurred_at": NOW}
    args.update(overrides)
    return Sop.define(**args)


def test_a_sequence_is_defined_active_at_revision_1_with_numbered_steps() -> None:
    sop = define()
    assert (sop.state, sop.revision) == ("active", 1)
    [defined] = sop.collect_events()
    assert isinstance(defined, Sop.Defined)
    assert [s["step"] for s in defined.steps] == [0, 1]
    assert defined.trigger == {"kind": FRIEND_ADDED, "channels": [], "staff_ids": []}
    assert defined.stop_on_converted and defined.stop_on_opted_out


@pytest.mark.parametrize(("overrides", "field"), [
    ({"name": " "}, "name"),
    ({"trigger": {"kind": "birthday"}}, "trigger.kind"),
    ({"trigger": {"kind": FRIEND_ADDED, "group_ids": ["g1"]}}, "trigger.groupIds"),
    ({"trigger": {"kind": GROUP_JOINED, "staff_ids": ["s1"]}}, "trigger.kind"),
    ({"steps": []}, "steps"),
    ({"steps": [step(72), step(0)]}, "steps[1].offset"),
    ({"steps": [step(-1)]}, "steps[0].offset"),
    ({"steps": [step(0, channel="fax")]}, "steps[0].channel"),
    ({"steps": [step(0, text="hi {phone}")]}, "variants[0].text"),
])
def test_bad_definitions_are_refused_with_the_offending_field(overrides: dict[str, Any],
                                                              field: str) -> None:
    with pytest.raises(InvalidInput) as error:
        define(**overrides)
    assert error.value.field == field


def test_revisions_count_up_and_archived_sequences_refuse_changes() -> None:
    sop = define()
    sop.revise("welcome 2", {"kind": GROUP_JOINED, "group_ids": ["g1"]}, [step(0)], "staff:m",
               NOW, stop_on_converted=False)
    assert sop.revision == 2 and sop.name == "welcome 2"
    assert sop.pause("staff:m", NOW) and not sop.pause("staff:m", NOW)
    assert sop.state == "paused"
    assert sop.resume("staff:m", NOW) and sop.state == "active"
    assert sop.archive("staff:m", NOW) and not sop.archive("staff:m", NOW)
    for change in (lambda: sop.pause("staff:m", NOW), lambda: sop.resume("staff:m", NOW),
                   lambda: sop.revise("x", {"kind": FRIEND_ADDED}, [step(0)], "staff:m", NOW)):
        with pytest.raises(SopStateError):
            change()


def test_each_step_is_due_at_the_trigger_time_plus_its_offset() -> None:
    steps = define().collect_events()[0].steps  # type: ignore[attr-defined]
    assert schedule(NOW, steps) == [(0, NOW), (1, NOW + timedelta(days=3))]


def test_triggers_match_their_kind_and_their_filters() -> None:
    anyone = check_trigger({"kind": FRIEND_ADDED})
    qr = check_trigger({"kind": FRIEND_ADDED, "channels": ["qr"],
                        "staff_ids": ["wecom_user:li", "wecom_user:li"]})
    group = check_trigger({"kind": GROUP_JOINED, "group_ids": ["g1"]})
    added = Trigger(FRIEND_ADDED, channel="qr", staff_id="wecom_user:li")
    assert matches(anyone, added) and matches(qr, added)
    assert not matches(qr, Trigger(FRIEND_ADDED, channel="ad", staff_id="wecom_user:li"))
    assert not matches(qr, Trigger(FRIEND_ADDED, channel="qr", staff_id="wecom_user:wang"))
    assert not matches(anyone, Trigger(GROUP_JOINED, group_id="g1"))
    assert matches(group, Trigger(GROUP_JOINED, group_id="g1"))
    assert not matches(group, Trigger(GROUP_JOINED, group_id="g2"))


def _event(cls: type[Any], **fields: Any) -> Any:
    return cls(originator_id=uuid4(), originator_version=2, timestamp=NOW, by="customer",
               occurred_at=NOW, **fields)


def test_orders_convert_and_opt_outs_stop_unless_the_revision_turned_them_off() -> None:
    paid = _event(Customer.OrderPaid, order_id="o", amount_fen=1, items=[], channel="mall")
    dnd = _event(Customer.DoNotDisturbSet)
    withdrawn = _event(Customer.ConsentWithdrawn, purpose="marketing")
    other = _event(Customer.ConsentWithdrawn, purpose="analytics")
    deleted = _event(Customer.FriendDeleted, staff_id="wecom_user:li", deleted_by="customer")
    by_staff = _event(Customer.FriendDeleted, staff_id="wecom_user:li", deleted_by="staff")
    muted = _event(Customer.StaffMuted, staff_id="wecom_user:li")
    assert stop_reason(paid, True, True) == "converted"
    assert stop_reason(paid, False, True) is None
    assert [stop_reason(e, True, True) for e in (dnd, withdrawn, deleted, muted)] == [
        "opted_out"] * 4
    assert stop_reason(dnd, True, False) is None
    assert stop_reason(other, True, True) is None and stop_reason(by_staff, True, True) is None


def test_leaving_the_group_that_enrolled_a_customer_stops_whatever_the_stop_conditions(
        ) -> None:
    left = _event(Customer.GroupLeft, group_id="g1")
    assert stop_reason(left, False, False, "g1") == "left_group"
    assert stop_reason(left, True, True, "g2") is None  # another group's enrolment
    assert stop_reason(left, True, True) is None  # enrolled by a friend add


def test_enrolments_and_send_keys_are_deterministic_per_trigger_occurrence() -> None:
    sop_id, customer = uuid4(), uuid4()
    first = enrolment_id(sop_id, customer, 3)
    assert first == enrolment_id(sop_id, customer, 3) != enrolment_id(sop_id, customer, 9)
    assert sop_send_key(sop_id, customer, first, 1) == f"sop:{sop_id}:{customer}:{first}:1"


def test_step_outcomes_are_recorded_once_on_the_customer(memory_app: Siyu
                                                         ) -> None:
    # Given a customer and a sequence
    from domain.ingestion import EventItem

    result = memory_app.ingestion.record_batch([EventItem("e1", "FRIEND_ADDED", ("wecom_external:ww", "wm1"),
                                                NOW, channel="qr", staff_id="wecom_user:li")], "svc")
    customer = result.outcomes[0].customer_id
    assert customer is not None
    sop_id, _ = memory_app.sops.define("w", "staff:m", {"kind": FRIEND_ADDED}, [step(0)],
                                      "staff:m", NOW)
    outcome = StepOutcome(sop_id, customer, enrolment_id(sop_id, customer, 2), 0, "sms", "a",
                          "sent", "m1")
    # When the outcome is recorded twice
    assert memory_app.sops.record_step_outcomes([outcome], NOW) == 1
    assert memory_app.sops.record_step_outcomes([outcome], NOW) == 0
    # Then the customer has one SopStepSent
    events = list(memory_app.repository.event_store.get(customer))
    assert sum(isinstance(e, Customer.SopStepSent) for e in events) == 1
    assert memory_app.sops.get(sop_id).name == "w"
    with pytest.raises(UnknownSop):
        memory_app.sops.pause(customer, "staff:m", NOW)


def test_invalid_sop_errors_carry_a_stable_code() -> None:
    assert InvalidSop.code == "INVALID_SOP" and SopStateError.code == "SOP_STATE"
