"""GraphQL for automated sequences (SOPs): define, revise, pause, resume, archive; progress
per sequence and step; a customer's enrolments."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

import strawberry
from anyio import to_thread
from strawberry.scalars import JSON
from strawberry.types import Info

from api.campaign_types import CampaignVariantInput
from api.context import Context
from api.errors import NOT_FOUND, ApiError
from api.policy import Access
from api.types import to_uuid
from domain.errors import DomainError
from domain.message_class import SERVICE
from projections.sops import queries


def _domain(error: DomainError) -> ApiError:
    code = NOT_FOUND if error.code == "UNKNOWN_SOP" else error.code
    return ApiError(code, error.message, field=error.field)



@strawberry.input(description="What enrols a customer: `friend_added` (optionally only "
                               "through some channels or with some staff members) or "
                               "`group_joined` (optionally only some groups).")
class SopTriggerInput:
    kind: str
    channels: list[str] | None = None
    staff_ids: list[str] | None = None
    group_ids: list[str] | None = None


@strawberry.input(description="One step: sent `offsetDays` days + `offsetHours` hours after "
                               "the trigger (quiet hours defer it), on a campaign channel.")
class SopStepInput:
    channel: str = strawberry.field(description="wecom_mass, mini_program or sms.")
    variants: list[CampaignVariantInput]
    offset_days: int = 0
    offset_hours: int = 0
    message_class: str = strawberry.field(default="marketing", description=(
        "marketing, or service (with serviceReason; company managers only, no promotional "
        "wording): not held by the marketing caps nor holidays. See docs/sops.md."))
    service_reason: str | None = strawberry.field(
        default=None, description="order_notice, after_sales or service_change.")
    target: str = strawberry.field(default="member", description=(
        "member: the customer (a WeCom mass send to them); group: the customer group whose "
        "joining triggered the enrolment (group_joined triggers, wecom_mass only, no "
        "variables: one message per group and day, chat_type=group, from senderUserId)."))
    sender_user_id: str | None = strawberry.field(default=None, description=(
        "Group steps: the WeCom UserID of the member who owns the groups (群主), a current "
        "staff member (else NOT_A_MEMBER)."))


@strawberry.input
class SopInput:
    name: str
    trigger: SopTriggerInput
    steps: list[SopStepInput]
    stop_on_converted: bool = strawberry.field(
        default=True, description="Stop when the customer pays an order after the trigger.")
    stop_on_opted_out: bool = strawberry.field(
        default=True, description="Stop the marketing steps on do-not-disturb, marketing "
                                  "consent withdrawn, or the customer deleting or muting the "
                                  "staff member (service steps still go).")


def _definition(input: SopInput) -> tuple[str, dict[str, Any], list[dict[str, Any]],
                                          dict[str, bool]]:
    trigger = {"kind": input.trigger.kind, "channels": input.trigger.channels,
               "staff_ids": input.trigger.staff_ids, "group_ids": input.trigger.group_ids}
    steps = [{"offset_hours": s.offset_days * 24 + s.offset_hours, "channel": s.channel,
              "variants": [{"variant_id": v.variant_id, "text": v.text, "weight": v.weight,
                            "lifecycles": [x.value for x in v.lifecycles or ()],
                            "template_id": v.template_id} for v in s.variants],
              "message_class": s.message_class, "service_reason": s.service_reason,
              "target": s.target,
              **({"sender_user_id": s.sender_user_id} if s.sender_user_id is not None else {})}
             for s in input.steps]
    return input.name, trigger, steps, {"stop_on_converted": input.stop_on_converted,
                                        "stop_on_opted_out": input.stop_on_opted_out}


@strawberry.type
class SopPayload:
    sop_id: strawberry.ID
    position: strawberry.ID | None


@strawberry.type(description="Enrolments of a sequence, by state (read model `sop_progress`).")
class SopProgress:
    enrolled: int
    active: int
    completed: int
    stopped: int
    stopped_converted: int
    stopped_opted_out: int
    stopped_archived: int
    stopped_left_group: int


@strawberry.type(description="One step of one revision (read model `sop_step_progress`).")
class SopStepProgress:
    revision: int
    step: int
    channel: str
    planned: int
    sent: int
    failed: int
    skipped: int
    cancelled: int


@strawberry.type(description="An automated sequence (read model `sop`).")
class Sop:
    id: strawberry.ID
    name: str
    owner: str
    state: str = strawberry.field(description="active, paused or archived.")
    revision: int = strawberry.field(description="New enrolments follow this revision.")
    trigger: JSON
    steps: JSON = strawberry.field(description="The current revision's steps.")
    stop_on_converted: bool
    stop_on_opted_out: bool
    defined_at: datetime
    progress: SopProgress
    step_progress: list[SopStepProgress]


@strawberry.type(description="One step of an enrolment (read model `sop_send`).")
class SopEnrolmentStep:
    step: int
    channel: str
    due_at: datetime
    status: str = strawberry.field(description="planned, sent, failed, skipped or cancelled.")
    detail: str | None = strawberry.field(
        description="The gateway's id when sent, else why (CAP_DAY, CONVERTED, LATE …).")
    outcome_at: datetime | None


@strawberry.type(description="A customer's run through one revision of a sequence.")
class SopEnrolment:
    id: strawberry.ID
    sop_id: strawberry.ID
    sop_name: str
    revision: int
    trigger_kind: str
    triggered_at: datetime
    state: str = strawberry.field(description="active, completed or stopped.")
    stop_reason: str | None = strawberry.field(
        description="converted, opted_out, archived or left_group (the customer left the "
                    "group whose joining enrolled them).")
    ended_at: datetime | None
    steps: list[SopEnrolmentStep]


_PROGRESS = queries.PROGRESS
_STEP = ("revision", "step", "channel", "planned", "sent", "failed", "skipped", "cancelled")


async def _sops(info: Info[Context, None], *, state: str | None = None,
                sop_id: UUID | None = None) -> list[Sop]:
    rows, progress = await queries.sops(info.context.services.read_models.pool, state=state, sop_id=sop_id)
    steps: dict[UUID, list[SopStepProgress]] = {}
    for r in progress:
        steps.setdefault(r["sop_id"], []).append(SopStepProgress(**{k: r[k] for k in _STEP}))
    return [Sop(id=strawberry.ID(str(r["sop_id"])), name=r["name"], owner=r["owner"],
                state=r["state"], revision=r["revision"], trigger=cast(JSON, r["trigger"]),
                steps=cast(JSON, r["steps"]), stop_on_converted=r["stop_on_converted"],
                stop_on_opted_out=r["stop_on_opted_out"], defined_at=r["defined_at"],
                progress=SopProgress(**{k: r[k] for k in _PROGRESS}),
                step_progress=steps.get(r["sop_id"], [])) for r in rows]


@strawberry.type
class SopQuery:
    @strawberry.field(description="Sequences with their progress, newest first.")
    async def sops(self, info: Info[Context, None], state: str | None = None) -> list[Sop]:
        return await _sops(info, state=state)

    @strawberry.field
    async def sop(self, info: Info[Context, None], id: strawberry.ID) -> Sop | None:
        found = await _sops(info, sop_id=to_uuid(id, "id"))
        return found[0] if found else None

    @strawberry.field(description="A customer's SOP enrolments, newest first, with each step.")
    async def customer_sop_enrolments(self, info: Info[Context, None],
                                      customer_id: strawberry.ID) -> list[SopEnrolment]:
        cid = to_uuid(customer_id, "customerId")
        rows, sends = await queries.enrolments(info.context.services.read_models.pool, cid)
        steps: dict[UUID, list[SopEnrolmentStep]] = {}
        for r in sends:
            steps.setdefault(r["enrolment_id"], []).append(SopEnrolmentStep(
                step=r["step"], channel=r["channel"], due_at=r["due_at"],
                status=r["status"], detail=r["detail"], outcome_at=r["outcome_at"]))
        return [SopEnrolment(
            id=strawberry.ID(str(r["enrolment_id"])), sop_id=strawberry.ID(str(r["sop_id"])),
            sop_name=r["name"], revision=r["revision"], trigger_kind=r["trigger_kind"],
            triggered_at=r["triggered_at"], state=r["state"], stop_reason=r["stop_reason"],
            ended_at=r["ended_at"], steps=steps.get(r["enrolment_id"], [])) for r in rows]


async def _change(info: Info[Context, None], sop_id: strawberry.ID,
                  command: Callable[[Any, UUID, str], int | None]) -> SopPayload:
    """One command on an existing sequence through the application."""
    app = info.context.services.app
    sid = to_uuid(sop_id, "sopId")
    by = info.context.principal.actor
    try:
        position = await to_thread.run_sync(lambda: command(app, sid, by))
    except DomainError as error:
        raise _domain(error) from None
    return SopPayload(sop_id=sop_id, position=strawberry.ID(str(position)) if position else None)


async def _senders_are_members(info: Info[Context, None], input: SopInput) -> None:
    """A group step's senderUserId is the WeCom UserID of a current staff member."""
    wanted = {n: s.sender_user_id for n, s in enumerate(input.steps) if s.sender_user_id}
    if not wanted:
        return
    known = await queries.current_members(info.context.services.read_models.pool,
                                          sorted(set(wanted.values())))
    for n, user_id in sorted(wanted.items()):
        if user_id not in known:
            raise ApiError("NOT_A_MEMBER", f"{user_id!r} is not the WeCom UserID of a current "
                           "staff member", field=f"steps[{n}].senderUserId")


def _may_declare_service(info: Info[Context, None], input: SopInput) -> None:
    """Service steps (domain.message_class): company managers only."""
    for n, step in enumerate(input.steps):
        if step.message_class == SERVICE \
                and info.context.principal.access is not Access.COMPANY_MANAGER:
            raise ApiError("SERVICE_CLASS_FORBIDDEN", "only a company manager may define a "
                           "service step", field=f"steps[{n}].messageClass")


@strawberry.type
class SopMutation:
    @strawberry.mutation(description="Define a sequence; it enrols customers from now on.")
    async def define_sop(self, info: Info[Context, None], input: SopInput) -> SopPayload:
        app = info.context.services.app
        actor = info.context.principal.actor
        name, trigger, steps, stops = _definition(input)
        _may_declare_service(info, input)
        await _senders_are_members(info, input)
        try:
            sop_id, position = await to_thread.run_sync(lambda: app.sops.define(
                name, actor, trigger, steps, actor, datetime.now(UTC),
                stop_on_converted=stops["stop_on_converted"],
                stop_on_opted_out=stops["stop_on_opted_out"]))
        except DomainError as error:
            raise _domain(error) from None
        return SopPayload(sop_id=strawberry.ID(str(sop_id)),
                          position=strawberry.ID(str(position)) if position else None)

    @strawberry.mutation(description="A new revision: new enrolments follow it; running "
                                     "enrolments finish on the revision they started with.")
    async def revise_sop(self, info: Info[Context, None], sop_id: strawberry.ID,
                         input: SopInput) -> SopPayload:
        name, trigger, steps, stops = _definition(input)
        _may_declare_service(info, input)
        await _senders_are_members(info, input)
        return await _change(info, sop_id, lambda app, sid, by: app.sops.revise(
            sid, name, trigger, steps, by, datetime.now(UTC), **stops))

    @strawberry.mutation(description="No new enrolments and no sends until resumed (steps "
                                     "more than 48 hours late then are skipped LATE).")
    async def pause_sop(self, info: Info[Context, None], sop_id: strawberry.ID) -> SopPayload:
        return await _change(info, sop_id, lambda app, sid, by: app.sops.pause(
            sid, by, datetime.now(UTC)))

    @strawberry.mutation
    async def resume_sop(self, info: Info[Context, None], sop_id: strawberry.ID) -> SopPayload:
        return await _change(info, sop_id, lambda app, sid, by: app.sops.resume(
            sid, by, datetime.now(UTC)))

    @strawberry.mutation(description="Final: running enrolments stop (archived).")
    async def archive_sop(self, info: Info[Context, None], sop_id: strawberry.ID) -> SopPayload:
        return await _change(info, sop_id, lambda app, sid, by: app.sops.archive(
            sid, by, datetime.now(UTC)))
