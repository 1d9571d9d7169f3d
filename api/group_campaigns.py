"""GraphQL for campaigns into customer groups (:mod:`domain.campaign_groups`).

``draftGroupCampaign`` drafts one; ``launchCampaign`` / ``scheduleCampaign`` /
``cancelCampaign`` work on it as on any campaign; ``campaignGroups`` is its dry run before
the launch and its frozen plan with each group's outcome after."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from uuid import UUID

import strawberry
from anyio import to_thread
from strawberry.types import Info

from api.campaign_types import (
    CampaignDryRun,
    CampaignGroup,
    CampaignPayload,
    ReasonCount,
    SenderCount,
)
from api.context import Context
from api.errors import NOT_FOUND, ApiError
from api.policy import Access
from api.types import to_uuid
from application import campaign_groups
from application.app import Siyu
from domain.campaign_groups import (
    GroupDecision,
    group_deliveries,
    group_outcomes,
    group_plan,
    group_report,
    targeted,
)
from domain.errors import DomainError
from domain.message_class import SERVICE
from projections.campaigns.group_reads import known_members


@strawberry.input
class GroupTargetInput:
    group_id: str = strawberry.field(description="The customer group's WeCom chat id.")
    owner_user_id: str | None = strawberry.field(default=None, description=(
        "The WeCom UserID of the member who owns the group (群主): the only one WeCom lets "
        "send into it. Omitted: the group directory's (`customerGroups`; a group it cannot "
        "send to is refused, UNKNOWN_GROUP). A UserID the staff directory never knew is "
        "refused (NOT_A_MEMBER); one who has left is excluded at launch "
        "(OWNER_NOT_A_MEMBER). A transfer the directory records later moves the group to "
        "its new owner (NO_OWNER_MAPPED when no staff record has that UserID)."))


@strawberry.input
class DraftGroupCampaignInput:
    name: str
    text: str = strawberry.field(description=(
        "The one message every targeted group gets: no customer variables (the whole group "
        "reads it; else GROUP_TEXT_PERSONALISED)."))
    groups: list[GroupTargetInput] = strawberry.field(default_factory=list, description=(
        "Groups chosen by chat id."))
    owner_user_ids: list[str] = strawberry.field(default_factory=list, description=(
        "Also every group in the directory these members own (WeCom UserIDs)."))
    segment_id: strawberry.ID | None = strawberry.field(default=None, description=(
        "Also every group in the directory holding at least one of the segment's members."))
    cost_fen: int = 0
    message_class: str = strawberry.field(default="marketing", description=(
        "marketing or service (company managers; serviceReason and serviceReference)."))
    service_reason: str | None = None
    service_reference: str | None = None


@strawberry.type
class CampaignGroups:
    campaign_id: strawberry.ID
    launched: bool = strawberry.field(description="false: a dry run, nothing recorded.")
    planned: int
    excluded: int
    sent: int
    failed: int
    unknown: int
    pending: int
    delivered: int = strawberry.field(default=0, description="Sent groups the owner "
                                      "confirmed and WeCom delivered (status 1).")
    already_received: int = strawberry.field(default=0, description="Sent groups WeCom "
                                             "skipped (status 3).")
    expired: int = strawberry.field(default=0, description="Sent groups whose task was "
                                    "cancelled past the confirmation deadline.")
    awaiting: int = strawberry.field(default=0, description="Sent groups awaiting the "
                                     "owner's confirmation.")
    groups: list[CampaignGroup]


def dry_run_of(decisions: list[GroupDecision], sample: int) -> CampaignDryRun:
    """``campaignDryRun`` of a campaign into groups: counts of groups, owners as senders."""
    included = [d for d in decisions if d.included]
    reasons = Counter(d.reason for d in decisions if d.reason is not None)
    owners = Counter(d.owner for d in included)
    return CampaignDryRun(
        audience=len(decisions), included=len(included),
        deferred=sum(d.deferred for d in included),
        excluded=[ReasonCount(reason=r, count=n) for r, n in sorted(reasons.items())],
        sample=[], senders=[SenderCount(sender=o, basis="GROUP_OWNER", count=n)
                            for o, n in sorted(owners.items(), key=lambda kv: (-kv[1], kv[0]))],
        groups=[_planned(d) for d in decisions[:sample]])


def _planned(d: GroupDecision) -> CampaignGroup:
    return CampaignGroup(group_id=d.group_id, owner_user_id=d.owner, included=d.included,
                         sender=d.sender, reason=d.reason, send_at=d.send_at,
                         status="planned" if d.included else "excluded", detail=None)


def groups_of(app: Siyu, campaign_id: UUID) -> CampaignGroups:
    """A group campaign's groups: its dry run before launch, its frozen plan after."""
    campaign = app.campaigns.get(campaign_id)
    if targeted(campaign) is None:
        raise ApiError("NOT_A_GROUP_CAMPAIGN", "the campaign's audience is a segment",
                       field="campaignId")
    sid = strawberry.ID(str(campaign_id))
    if "_group_plan" not in campaign.__dict__:  # not launched: a dry run (none once cancelled)
        plan = campaign_groups.plan(app, campaign, datetime.now(UTC)) \
            if campaign.state in ("draft", "scheduled") else []
        rows = [_planned(d) for d in plan]
        n = sum(d.included for d in plan)
        return CampaignGroups(campaign_id=sid, launched=False, planned=n,
                              excluded=len(plan) - n, sent=0, failed=0, unknown=0, pending=n,
                              groups=rows)
    planned, excluded = group_plan(campaign)
    done = group_outcomes(campaign)
    delivered = group_deliveries(campaign)
    waiting = "cancelled" if campaign.state == "cancelled" else "planned"
    rows = [CampaignGroup(group_id=g, owner_user_id=o, included=True, sender=o, reason=None,
                          send_at=datetime.fromisoformat(at),
                          status=done.get(g, [waiting])[0],
                          detail=done[g][1] if g in done else None,
                          delivery=delivered.get(g))
            for g, o, at in planned]
    rows += [CampaignGroup(group_id=g, owner_user_id=o, included=False, sender=None,
                           reason=why, send_at=None, status="excluded", detail=why)
             for g, o, why in excluded]
    counts = group_report(campaign)
    return CampaignGroups(campaign_id=sid, launched=True, planned=counts["planned"],
                          excluded=counts["excluded"], sent=counts["sent"],
                          failed=counts["failed"], unknown=counts["unknown"],
                          pending=counts["pending"], delivered=counts["delivered"],
                          already_received=counts["already_received"],
                          expired=counts["expired"], awaiting=counts["awaiting"],
                          groups=rows)


def _api_error(error: DomainError) -> ApiError:
    code = NOT_FOUND if error.code in ("UNKNOWN_CAMPAIGN", "UNKNOWN_SEGMENT") else error.code
    return ApiError(code, error.message, field=error.field)


@strawberry.type
class GroupCampaignQuery:
    @strawberry.field(description=(
        "A group campaign's groups: before launch a dry run (each group with its sender, or "
        "why it is excluded; nothing recorded), after it the frozen plan with each group's "
        "outcome and the counts. Errors: NOT_FOUND, NOT_A_GROUP_CAMPAIGN."))
    async def campaign_groups(self, info: Info[Context, None], campaign_id: strawberry.ID
                              ) -> CampaignGroups:
        app = info.context.services.app
        try:
            cid = UUID(str(campaign_id))
        except ValueError:
            raise ApiError("BAD_INPUT", "campaignId is not an id", field="campaignId") from None
        try:
            return await to_thread.run_sync(lambda: groups_of(app, cid))
        except DomainError as error:
            raise _api_error(error) from None


@strawberry.type
class GroupCampaignMutation:
    @strawberry.mutation(description=(
        "Draft a campaign into customer groups (WeCom 客户群群发, chat_type=group): one "
        "message per group from its owner. The groups: those given by chat id, those the "
        "`ownerUserIds` own and those holding a member of `segmentId`, from the group "
        "directory those it can send to (owner known, not dismissed), 1 to 2,000, "
        "resolved at draft. Errors: GROUP_TEXT_PERSONALISED, NOT_A_MEMBER, UNKNOWN_GROUP, "
        "NO_GROUPS_SELECTED, NOT_FOUND (segment), INVALID_INPUT, INVALID_TEMPLATE, "
        "SERVICE_CLASS_FORBIDDEN."))
    async def draft_group_campaign(self, info: Info[Context, None],
                                   input: DraftGroupCampaignInput) -> CampaignPayload:
        app = info.context.services.app
        principal = info.context.principal
        if input.message_class == SERVICE and principal.access is not Access.COMPANY_MANAGER:
            raise ApiError("SERVICE_CLASS_FORBIDDEN", "only a company manager may draft a "
                           "service campaign", field="messageClass")
        given = [(g.group_id.strip(), (g.owner_user_id or "").strip() or None)
                 for g in input.groups]
        owners = [o.strip() for o in input.owner_user_ids]
        segment_id = None if input.segment_id is None else to_uuid(input.segment_id,
                                                                    "segmentId")

        def run() -> tuple[UUID, int | None]:
            named = [(f"groups[{n}].ownerUserId", o) for n, (_, o) in enumerate(given) if o]
            named += [(f"ownerUserIds[{n}]", o) for n, o in enumerate(owners)]
            with app.factory.datastore.get_connection() as conn:  # type: ignore[attr-defined]
                known = known_members(conn, sorted({o for _, o in named}))
            for field, owner in named:
                if owner not in known:
                    raise ApiError("NOT_A_MEMBER", f"{owner!r} is not the WeCom UserID of a "
                                   "staff member", field=field)
            groups = campaign_groups.select(app, given, owners, segment_id)
            return campaign_groups.draft(
                app, input.name, principal.actor, groups, input.text, principal.actor,
                datetime.now(UTC), cost_fen=int(input.cost_fen),
                message_class=input.message_class, service_reason=input.service_reason,
                service_reference=input.service_reference)

        try:
            campaign_id, position = await to_thread.run_sync(run)
        except DomainError as error:
            raise _api_error(error) from None
        return CampaignPayload(campaign_id=strawberry.ID(str(campaign_id)),
                               position=strawberry.ID(str(position)) if position else None)
