"""GraphQL for campaigns: draft, dry run, launch, cancel; the contact policy; progress.

The queries and mutations; the types they return are in :mod:`api.campaign_types`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import strawberry
from anyio import to_thread
from strawberry.types import Info

from api.campaign_types import (
    Campaign,
    CampaignDryRun,
    CampaignPayload,
    CampaignPreview,
    CampaignSendConnection,
    CampaignSendEdge,
    DraftCampaignInput,
    LaunchPayload,
    PlannedRecipient,
)
from api.contact_policy_types import (
    ContactPolicyCaps,
    ContactPolicyInput,
    ContactPolicyType,
    WecomQuotaRule,
)
from api.context import Context
from api.errors import BAD_INPUT, NOT_FOUND, ApiError
from api.group_campaigns import dry_run_of, groups_of
from api.policy import Access
from api.read_models import decode_cursor, encode_cursor
from api.types import PageInfo, to_uuid
from application import campaign_groups
from application.campaign_launch import LaunchRefused, launch
from domain.campaign_groups import NO_SEGMENT, targeted
from domain.errors import DomainError
from domain.message_class import SERVICE
from domain.templates import fill, has_value, needs
from projections.campaign_planning import PlanResult, plan_audience
from projections.campaigns import queries

MAX_PAGE = 200


def _domain(error: DomainError) -> ApiError:
    code = NOT_FOUND if error.code in ("UNKNOWN_CAMPAIGN", "UNKNOWN_SEGMENT") else error.code
    return ApiError(code, error.message, field=error.field)



async def _group_sends(info: Info[Context, None], campaign_id: UUID, status: str | None,
                       offset: int, first: int) -> CampaignSendConnection:
    """``campaignSends`` of a campaign into groups: a page of its frozen plan's groups."""
    app = info.context.services.app
    try:
        found = await to_thread.run_sync(lambda: groups_of(app, campaign_id))
    except DomainError as error:
        raise _domain(error) from None
    rows = [g for g in found.groups if status is None or g.status == status] \
        if found.launched else []
    page = rows[offset:offset + first]
    end = encode_cursor("s", offset + len(page)) if page else None
    return CampaignSendConnection(edges=[], groups=page, page_info=PageInfo(
        has_next_page=len(rows) > offset + first, end_cursor=end))


async def _row(info: Info[Context, None], campaign_id: UUID) -> dict[str, Any] | None:
    return await queries.campaign(info.context.services.read_models.pool, campaign_id)


@strawberry.type
class CampaignQuery:
    @strawberry.field(description="Campaigns, newest first (managers and service principals).")
    async def campaigns(self, info: Info[Context, None], state: str | None = None
                        ) -> list[Campaign]:
        rows = await queries.campaigns(info.context.services.read_models.pool, state)
        return [Campaign(row=r) for r in rows]

    @strawberry.field
    async def campaign(self, info: Info[Context, None], id: strawberry.ID) -> Campaign | None:
        row = await _row(info, to_uuid(id, "id"))
        return None if row is None else Campaign(row=row)

    @strawberry.field(description="Who would be sent and who excluded by which rule, if the "
                                  "campaign were launched now (a campaign into customer "
                                  "groups: its groups). Nothing is recorded.")
    async def campaign_dry_run(self, info: Info[Context, None], campaign_id: strawberry.ID,
                               sample: int = 20) -> CampaignDryRun:
        if not 0 <= sample <= MAX_PAGE:
            raise ApiError(BAD_INPUT, f"sample must be 0-{MAX_PAGE}", field="sample")
        app = info.context.services.app
        cid = to_uuid(campaign_id, "campaignId")

        def run() -> PlanResult | CampaignDryRun:
            campaign = app.campaigns.get(cid)
            if targeted(campaign) is not None:  # into customer groups
                return dry_run_of(campaign_groups.plan(app, campaign, datetime.now(UTC)),
                                  sample)
            with app.factory.datastore.get_connection() as conn:  # type: ignore[attr-defined]
                return plan_audience(conn, campaign.plan(), UUID(campaign.segment_id),
                                     app.campaigns.contact_policy(), datetime.now(UTC))

        try:
            result = await to_thread.run_sync(run)
        except DomainError as error:
            raise _domain(error) from None
        if isinstance(result, CampaignDryRun):
            return result
        return CampaignDryRun.of(result, sample)

    @strawberry.field(description=(
        "The exact text one customer would get if the campaign were launched now, the "
        "variant, the sender and why; or the reason they would not (NOT_IN_SEGMENT: not a "
        "member of the campaign's segment). Nothing is recorded."))
    async def campaign_preview(self, info: Info[Context, None], campaign_id: strawberry.ID,
                               customer_id: strawberry.ID) -> CampaignPreview:
        app = info.context.services.app
        cid = to_uuid(campaign_id, "campaignId")
        customer = to_uuid(customer_id, "customerId")

        def run() -> tuple[Any, PlanResult]:
            campaign = app.campaigns.get(cid)
            with app.factory.datastore.get_connection() as conn:  # type: ignore[attr-defined]
                return campaign, plan_audience(
                    conn, campaign.plan(), UUID(campaign.segment_id),
                    app.campaigns.contact_policy(), datetime.now(UTC), only=customer)

        try:
            campaign, result = await to_thread.run_sync(run)
        except DomainError as error:
            raise _domain(error) from None
        if not result.decisions:
            return CampaignPreview(recipient=PlannedRecipient(
                customer_id=customer_id, included=False, reason="NOT_IN_SEGMENT",
                variant_id=None, send_at=None, deferred=False, sender=None), text=None,
                missing=[])
        decision = result.decisions[0]
        variant = next((v for v in campaign.variants
                        if v["variant_id"] == decision.variant_id), None)
        values = result.values.get(customer, {})
        text = fill(variant, values) if variant is not None and decision.included else None
        lacking = sorted(n for n in needs(variant) if not has_value(values.get(n))) \
            if variant is not None else []
        return CampaignPreview(recipient=PlannedRecipient.of(decision), text=text,
                               missing=lacking)

    @strawberry.field(description="The frozen audience's sends, with their status (a "
                                  "campaign into customer groups: its groups, in `groups`).")
    async def campaign_sends(self, info: Info[Context, None], campaign_id: strawberry.ID,
                             status: str | None = None, first: int = 50,
                             after: str | None = None) -> CampaignSendConnection:
        if not 1 <= first <= MAX_PAGE:
            raise ApiError(BAD_INPUT, f"first must be 1-{MAX_PAGE}", field="first")
        offset = 0
        if after is not None:
            try:
                offset = decode_cursor("s", after)
            except ValueError:
                raise ApiError(BAD_INPUT, "after is not a cursor of this list",
                               field="after") from None
        cid = to_uuid(campaign_id, "campaignId")
        row = await _row(info, cid)
        if row is not None and row["segment_id"] == NO_SEGMENT:  # into customer groups
            return await _group_sends(info, cid, status, offset, first)
        rows = await queries.sends(info.context.services.read_models.pool, cid, status,
                                   offset, first + 1)
        edges = [CampaignSendEdge(
            cursor=encode_cursor("s", offset + n + 1), status=r["status"], detail=r["detail"],
            node=PlannedRecipient(customer_id=strawberry.ID(str(r["customer_id"])),
                                  included=True, reason=None, variant_id=r["variant_id"],
                                  send_at=r["send_at"], deferred=False, sender=r["sender"]))
            for n, r in enumerate(rows[:first])]
        return CampaignSendConnection(edges=edges, page_info=PageInfo(
            has_next_page=len(rows) > first, end_cursor=edges[-1].cursor if edges else None))

    @strawberry.field(description="The rules of restraint (caps, WeCom quota, quiet hours).")
    async def contact_policy(self, info: Info[Context, None]) -> ContactPolicyType:
        policy = await to_thread.run_sync(info.context.services.app.campaigns.contact_policy)
        return ContactPolicyType(
            caps=[ContactPolicyCaps(channel=ch, day=c.day, week=c.week, month=c.month)
                  for ch, c in sorted(policy.caps.items())],
            wecom_quota_rule=WecomQuotaRule(policy.wecom_quota_rule),
            quiet_start=policy.quiet_start.strftime("%H:%M"),
            quiet_end=policy.quiet_end.strftime("%H:%M"))


async def _change(info: Info[Context, None], campaign_id: strawberry.ID,
                  command: Callable[[Any, UUID, str], int | None]) -> CampaignPayload:
    """One command on an existing campaign through the application."""
    app = info.context.services.app
    cid = to_uuid(campaign_id, "campaignId")
    by = info.context.principal.actor
    try:
        position = await to_thread.run_sync(lambda: command(app, cid, by))
    except DomainError as error:
        raise _domain(error) from None
    return CampaignPayload(campaign_id=campaign_id,
                           position=strawberry.ID(str(position)) if position else None)


@strawberry.type
class CampaignMutation:
    @strawberry.mutation(description="Draft a campaign to a segment (nothing is sent).")
    async def draft_campaign(self, info: Info[Context, None], input: DraftCampaignInput
                             ) -> CampaignPayload:
        app = info.context.services.app
        principal = info.context.principal
        segment_id = to_uuid(input.segment_id, "segmentId")
        if input.message_class == SERVICE and principal.access is not Access.COMPANY_MANAGER:
            raise ApiError("SERVICE_CLASS_FORBIDDEN", "only a company manager may draft a "
                           "service campaign", field="messageClass")
        variants = [{"variant_id": v.variant_id, "text": v.text, "weight": v.weight,
                     "lifecycles": [s.value for s in v.lifecycles or ()],
                     "template_id": v.template_id,
                     "fallbacks": {f.variable: f.text for f in v.fallbacks or ()}}
                    for v in input.variants]

        def run() -> tuple[UUID, int | None]:
            app.segments.get(segment_id)  # refuses an unknown segment
            return app.campaigns.draft(
                input.name, principal.actor, input.channel, segment_id, variants,
                principal.actor, datetime.now(UTC), holdout_percent=input.holdout_percent,
                cost_fen=int(input.cost_fen), attribution_days=input.attribution_days,
                harm_days=input.harm_days, purpose=input.purpose,
                requires_consent=input.requires_consent, message_class=input.message_class,
                service_reason=input.service_reason, service_reference=input.service_reference)

        try:
            campaign_id, position = await to_thread.run_sync(run)
        except DomainError as error:
            raise _domain(error) from None
        return CampaignPayload(campaign_id=strawberry.ID(str(campaign_id)),
                               position=strawberry.ID(str(position)) if position else None)

    @strawberry.mutation(description=("Freeze the audience now and start sending; `plan` is "
                                      "what was frozen (a campaign into groups: every group, "
                                      "its sender or why it is excluded)."))
    async def launch_campaign(self, info: Info[Context, None], campaign_id: strawberry.ID
                              ) -> LaunchPayload:
        services = info.context.services
        cid = to_uuid(campaign_id, "campaignId")
        by = info.context.principal.actor
        try:
            position, result = await to_thread.run_sync(
                lambda: launch(services.app, services.tracker, cid, by, datetime.now(UTC)))
        except DomainError as error:
            raise _domain(error) from None
        except LaunchRefused as error:
            raise ApiError("PROJECTION_LAGGING", str(error)) from None
        plan = CampaignDryRun.of(result, 0) if result.groups is None \
            else dry_run_of(result.groups, len(result.groups))  # every group, like the dry run
        return LaunchPayload(campaign_id=campaign_id,
                             position=strawberry.ID(str(position)) if position else None,
                             plan=plan)

    @strawberry.mutation(description="Schedule a draft: the worker launches it at `startAt`.")
    async def schedule_campaign(self, info: Info[Context, None], campaign_id: strawberry.ID,
                                start_at: datetime) -> CampaignPayload:
        return await _change(info, campaign_id, lambda app, cid, by: app.campaigns.schedule(
            cid, start_at, by, datetime.now(UTC)))

    @strawberry.mutation(description="Cancel: planned sends not yet sent are not sent.")
    async def cancel_campaign(self, info: Info[Context, None], campaign_id: strawberry.ID,
                              reason: str) -> CampaignPayload:
        return await _change(info, campaign_id, lambda app, cid, by: app.campaigns.cancel(
            cid, reason, by, datetime.now(UTC)))

    @strawberry.mutation(description=(
        "WeCom mass sends: the hours (1-720) members have to confirm each task of the "
        "campaign (default: the worker's, 24). Reminders go out before it; past it the "
        "task is cancelled and its recipients recorded not sent (CONFIRMATION_EXPIRED). "
        "Errors: INVALID_INPUT (hours), CAMPAIGN_STATE (completed or cancelled)."))
    async def set_campaign_confirmation_deadline(self, info: Info[Context, None],
                                                 campaign_id: strawberry.ID,
                                                 hours: int) -> CampaignPayload:
        return await _change(info, campaign_id, lambda app, cid, by: app.campaigns
                             .set_confirmation_deadline(cid, hours, by, datetime.now(UTC)))

    @strawberry.mutation(description="Change the rules of restraint (recorded as an event).")
    async def set_contact_policy(self, info: Info[Context, None], input: ContactPolicyInput
                                 ) -> ContactPolicyType:
        app = info.context.services.app
        caps = {c.channel: {"day": c.day, "week": c.week, "month": c.month} for c in input.caps}
        by = info.context.principal.actor
        try:
            await to_thread.run_sync(lambda: app.campaigns.change_contact_policy(
                caps, input.wecom_quota_rule.value, input.quiet_start, input.quiet_end, by,
                datetime.now(UTC)))
        except DomainError as error:
            raise _domain(error) from None
        return await CampaignQuery.contact_policy(CampaignQuery(), info)  # type: ignore[no-any-return]
