"""The ``Sop`` aggregate: an automated sequence of messages after a trigger (SOP).

A sequence has a **trigger** (``friend_added``, optionally only for some channels or staff
members; ``group_joined``, optionally only for some groups), ordered **steps** (an offset
in hours from the trigger, a channel, content variants with the campaigns' safe
variables, a message class — ``marketing`` by default, or ``service`` with a reason, see
:mod:`domain.message_class`) and **stop conditions** (the customer converted — paid an order — or opted
out — do-not-disturb, marketing consent withdrawn, deleted or muted the staff member —
after the trigger; both on by default). An enrolment triggered by joining a group also
stops when the customer leaves that group (``left_group``), whatever the stop conditions:
its messages are about a group they are no longer in.

States: active ⇄ paused, then archived (final). Each definition is a **revision**
(1, 2, …). An enrolment keeps the revision it was enrolled under to its end: a revision
applies to new enrolments only. Pausing stops new enrolments and sends (due steps wait;
steps more than :data:`MAX_LATE` late are skipped ``LATE`` on resume); archiving stops
every running enrolment.

Enrolment (``projections.sops``): each trigger occurrence (the triggering event, named by
its customer-stream version) enrols the customer once, unless an enrolment of the same
sequence is still running for them (it is not restarted). An enrolment that ended
(completed or stopped) does not block a later trigger: a customer who deletes and re-adds
the staff member is welcomed again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.campaign import check_variants
from domain.channels import within_any
from domain.customer import Customer
from domain.errors import DomainError, InvalidInput
from domain.message_class import MARKETING, SERVICE_PURPOSE, check_class
from domain.restraint import CHANNELS

FRIEND_ADDED, GROUP_JOINED = "friend_added", "group_joined"
TRIGGERS = frozenset({FRIEND_ADDED, GROUP_JOINED})
MAX_STEPS = 20
MAX_OFFSET_HOURS = 24 * 365
MAX_FILTER = 100
#: A step this late at send time (paused sequence, worker down) is skipped, not sent.
MAX_LATE = timedelta(hours=48)
#: Who a step goes to: the enrolled customer, or the customer group whose joining
#: triggered the enrolment (``group_joined`` only; WeCom ``chat_type=group``).
MEMBER, GROUP = "member", "group"
TARGETS = (MEMBER, GROUP)
CONVERTED, OPTED_OUT, ARCHIVED, LEFT_GROUP = "converted", "opted_out", "archived", "left_group"
STATES = ("active", "paused", "archived")


class UnknownSop(DomainError):
    code = "UNKNOWN_SOP"


class SopAlreadyDefined(DomainError):
    code = "SOP_ALREADY_DEFINED"


class SopStateError(DomainError):
    code = "SOP_STATE"


class InvalidSop(InvalidInput):
    code = "INVALID_SOP"


def enrolment_id(sequence_id: UUID, customer_id: UUID, trigger_version: int) -> UUID:
    """One enrolment per (sequence, customer, trigger occurrence)."""
    return uuid5(NAMESPACE_URL, f"https://siyu.invalid/sop/{sequence_id}/{customer_id}/"
                                f"{trigger_version}")


def sop_send_key(sequence_id: UUID, customer_id: UUID, enrolment: UUID, step: int) -> str:
    """The idempotency key of one SOP step send (gateway dedupe and outcome)."""
    return f"sop:{sequence_id}:{customer_id}:{enrolment}:{step}"


def _filter(values: Any, field: str) -> list[str]:
    items = sorted({str(v).strip() for v in values or () if str(v).strip()})
    if len(items) > MAX_FILTER or any(len(v) > 128 for v in items):
        raise InvalidSop(f"{field}: at most {MAX_FILTER} values of 1-128 characters",
                         field=field)
    return items


def check_trigger(trigger: dict[str, Any]) -> dict[str, Any]:
    kind = trigger.get("kind")
    if kind not in TRIGGERS:
        raise InvalidSop(f"trigger.kind must be one of {sorted(TRIGGERS)}", field="trigger.kind")
    if kind == FRIEND_ADDED:
        if trigger.get("group_ids"):
            raise InvalidSop("groupIds filter a group_joined trigger", field="trigger.groupIds")
        return {"kind": kind, "channels": _filter(trigger.get("channels"), "trigger.channels"),
                "staff_ids": _filter(trigger.get("staff_ids"), "trigger.staffIds")}
    if trigger.get("channels") or trigger.get("staff_ids"):
        raise InvalidSop("channels and staffIds filter a friend_added trigger",
                         field="trigger.kind")
    return {"kind": kind, "group_ids": _filter(trigger.get("group_ids"), "trigger.groupIds")}


def check_steps(steps: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    if not 1 <= len(steps) <= MAX_STEPS:
        raise InvalidSop(f"steps: 1 to {MAX_STEPS}", field="steps")
    out: list[dict[str, Any]] = []
    previous = 0
    for n, step in enumerate(steps):
        where = f"steps[{n}]"
        offset = step.get("offset_hours")
        if isinstance(offset, bool) or not isinstance(offset, int) \
                or not 0 <= offset <= MAX_OFFSET_HOURS:
            raise InvalidSop(f"{where}.offset must be 0-{MAX_OFFSET_HOURS} hours",
                             field=f"{where}.offset")
        if offset < previous:
            raise InvalidSop(f"{where} comes before the step above it: steps are ordered by "
                             "offset", field=f"{where}.offset")
        previous = offset
        channel = step.get("channel")
        if channel not in CHANNELS:
            raise InvalidSop(f"{where}.channel must be one of {sorted(CHANNELS)}",
                             field=f"{where}.channel")
        variants = check_variants(step.get("variants") or (), channel, f"{where}.")
        kind = check_class(step.get("message_class") or MARKETING, step.get("service_reason"),
                           None, purpose=SERVICE_PURPOSE, holdout_percent=0,
                           texts=[v["text"] for v in variants], reference_required=False,
                           where=f"{where}.")
        target = step.get("target") or MEMBER
        if target not in TARGETS:
            raise InvalidSop(f"{where}.target must be one of {list(TARGETS)}",
                             field=f"{where}.target")
        sender = step.get("sender_user_id")
        if target == GROUP:
            _group_step(where, channel, sender, variants)
        elif sender is not None:
            raise InvalidSop(f"{where}.senderUserId is for group steps",
                             field=f"{where}.senderUserId")
        out.append({"step": n, "offset_hours": offset, "channel": channel,
                    "variants": variants, "message_class": kind["message_class"],
                    "service_reason": kind["service_reason"], "target": target,
                    **({"sender_user_id": sender} if target == GROUP else {})})
    return out


_USERID = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


def _group_step(where: str, channel: Any, sender: Any, variants: list[dict[str, Any]]) -> None:
    """A step into a customer group: WeCom mass send, from the member who owns the group,
    with a text the whole group may read (no customer's values)."""
    if channel != "wecom_mass":
        raise InvalidSop(f"{where}: only wecom_mass steps go into a customer group",
                         field=f"{where}.target")
    if not isinstance(sender, str) or not _USERID.match(sender):
        raise InvalidSop(f"{where}.senderUserId: the WeCom UserID of the member who owns the "
                         "group (1-64 letters, digits or _.@-)", field=f"{where}.senderUserId")
    for n, variant in enumerate(variants):
        if "{" in variant["text"]:
            raise InvalidSop(f"{where}.variants[{n}].text: a group message is read by the "
                             "whole group, so it uses no customer variables",
                             field=f"{where}.variants[{n}].text")


def check_targets(trigger: dict[str, Any], steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Group steps need a group to go into: a ``group_joined`` trigger."""
    for step in steps:
        if step["target"] == GROUP and trigger["kind"] != GROUP_JOINED:
            raise InvalidSop(f"steps[{step['step']}]: a group step needs a group_joined "
                             "trigger", field=f"steps[{step['step']}].target")
    return steps


def _name(name: str) -> str:
    label = name.strip()
    if not 1 <= len(label) <= 64:
        raise InvalidSop("name must be 1-64 characters", field="name")
    return label


@dataclass(frozen=True, slots=True)
class Trigger:
    """One occurrence of a trigger, as the projection sees it."""

    kind: str
    channel: str | None = None
    staff_id: str | None = None
    group_id: str | None = None


def matches(trigger: dict[str, Any], occurrence: Trigger) -> bool:
    if trigger["kind"] != occurrence.kind:
        return False
    if occurrence.kind == FRIEND_ADDED:
        # channels nest (domain.channels): a filter "qr" matches "qr:store-shanghai-01"
        return ((not trigger["channels"] or within_any(occurrence.channel, trigger["channels"]))
                and (not trigger["staff_ids"] or occurrence.staff_id in trigger["staff_ids"]))
    return not trigger["group_ids"] or occurrence.group_id in trigger["group_ids"]


def schedule(triggered_at: datetime, steps: Iterable[dict[str, Any]]
             ) -> list[tuple[int, datetime]]:
    """When each step becomes due: trigger time + offset (quiet hours apply at send time)."""
    return [(s["step"], triggered_at + timedelta(hours=s["offset_hours"])) for s in steps]


def stop_reason(event: Any, stop_on_converted: bool, stop_on_opted_out: bool,
                trigger_group: str | None = None) -> str | None:
    """Why a customer event stops a running enrolment (``None``: it does not);
    ``trigger_group``: the group whose joining enrolled the customer, if any."""
    if trigger_group is not None and isinstance(event, Customer.GroupLeft) \
            and event.group_id == trigger_group:
        return LEFT_GROUP
    if stop_on_converted and isinstance(event, Customer.OrderPaid):
        return CONVERTED
    if not stop_on_opted_out:
        return None
    if isinstance(event, Customer.DoNotDisturbSet | Customer.StaffMuted):
        return OPTED_OUT
    if isinstance(event, Customer.ConsentWithdrawn) and event.purpose == "marketing":
        return OPTED_OUT
    if isinstance(event, Customer.FriendDeleted) and event.deleted_by == "customer":
        return OPTED_OUT
    return None


class Sop(Aggregate):
    """An automated sequence (SOP)."""

    class Defined(Aggregate.Created):
        name: str
        owner: str
        trigger: dict[str, Any]
        steps: list[dict[str, Any]]
        stop_on_converted: bool
        stop_on_opted_out: bool
        by: str
        occurred_at: datetime

    class Revised(Aggregate.Event):
        """A new revision: new enrolments follow it, running ones keep theirs."""

        revision: int
        name: str
        trigger: dict[str, Any]
        steps: list[dict[str, Any]]
        stop_on_converted: bool
        stop_on_opted_out: bool
        by: str
        occurred_at: datetime

        def apply(self, sop: Sop) -> None:
            sop.revision = self.revision
            sop.name = self.name

    class Paused(Aggregate.Event):
        by: str
        occurred_at: datetime

        def apply(self, sop: Sop) -> None:
            sop.state = "paused"

    class Resumed(Aggregate.Event):
        by: str
        occurred_at: datetime

        def apply(self, sop: Sop) -> None:
            sop.state = "active"

    class Archived(Aggregate.Event):
        by: str
        occurred_at: datetime

        def apply(self, sop: Sop) -> None:
            sop.state = "archived"

    @classmethod
    def define(cls, name: str, owner: str, trigger: dict[str, Any],
               steps: Sequence[dict[str, Any]], by: str, occurred_at: datetime, *,
               stop_on_converted: bool = True, stop_on_opted_out: bool = True,
               sop_id: UUID | None = None) -> Sop:
        """A new sequence; ``sop_id`` fixes its id (random by default)."""
        checked = check_trigger(trigger)
        return cls._create(cls.Defined, id=sop_id, name=_name(name), owner=owner,
                           trigger=checked, steps=check_targets(checked, check_steps(steps)),
                           stop_on_converted=stop_on_converted,
                           stop_on_opted_out=stop_on_opted_out, by=by, occurred_at=occurred_at)

    @event(Defined)
    def __init__(self, name: str, owner: str, trigger: dict[str, Any],
                 steps: list[dict[str, Any]], stop_on_converted: bool, stop_on_opted_out: bool,
                 by: str, occurred_at: datetime) -> None:
        self.name = name
        self.owner = owner
        self.state = "active"
        self.revision = 1

    def revise(self, name: str, trigger: dict[str, Any], steps: Sequence[dict[str, Any]],
               by: str, occurred_at: datetime, *, stop_on_converted: bool = True,
               stop_on_opted_out: bool = True) -> None:
        if self.state == "archived":
            raise SopStateError("an archived sequence cannot be revised", field="sopId")
        checked = check_trigger(trigger)
        self.trigger_event(self.Revised, revision=self.revision + 1, name=_name(name),
                           trigger=checked, steps=check_targets(checked, check_steps(steps)),
                           stop_on_converted=stop_on_converted,
                           stop_on_opted_out=stop_on_opted_out, by=by, occurred_at=occurred_at)

    def pause(self, by: str, occurred_at: datetime) -> bool:
        if self.state == "archived":
            raise SopStateError("an archived sequence cannot be paused", field="sopId")
        if self.state == "paused":
            return False
        self.trigger_event(self.Paused, by=by, occurred_at=occurred_at)
        return True

    def resume(self, by: str, occurred_at: datetime) -> bool:
        if self.state == "archived":
            raise SopStateError("an archived sequence cannot be resumed", field="sopId")
        if self.state == "active":
            return False
        self.trigger_event(self.Resumed, by=by, occurred_at=occurred_at)
        return True

    def archive(self, by: str, occurred_at: datetime) -> bool:
        if self.state == "archived":
            return False
        self.trigger_event(self.Archived, by=by, occurred_at=occurred_at)
        return True
