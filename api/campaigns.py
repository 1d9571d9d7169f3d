"""GraphQL for campaigns: draft, dry run, launch, cancel; the contact policy; progress."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

import strawberry
from anyio import to_thread
from strawberry.scalars import JSON
from strawberry.types import Info

from api.context import Context
from api.errors import BAD_INPUT, NOT_FOUND, ApiError, forbidden
from api.ingest import require_recorder
from api.read_models import decode_cursor, encode_cursor
from api.types import Lifecycle, Long, PageInfo, to_uuid
from application.campaign_launch import LaunchRefused, launch
from domain.errors import DomainError
from domain.restraint import REASONS, Decision
from projections.campaign_planning import PlanResult, plan_audience
from projections.campaigns import queries
from projections.campaigns.report import report

MAX_PAGE = 200


def _domain(error: DomainError) -> ApiError:
    code = NOT_FOUND if error.code in ("UNKNOWN_CAMPAIGN", "UNKNOWN_SEGMENT") else error.code
    return ApiError(code, error.message, field=error.field)


@strawberry.input(description="One content variant: for some lifecycle stages (empty: any) "
                               "and/or an A/B weight. Text may use {member_level}, "
                               "{points_balance}, {favourite_category}, {lifecycle}.")
class CampaignVariantInput:
    variant_id: str
    text: str
    lifecycles: list[Lifecycle] | None = None
    weight: int = 1
    template_id: str | None = strawberry.field(
        default=None, description="Template of template channels (mini-program subscribe).")


@strawberry.input
class DraftCampaignInput:
    name: str
    segment_id: strawberry.ID
    channel: str = strawberry.field(description="wecom_mass, mini_program or sms.")
    variants: list[CampaignVariantInput]
    holdout_percent: int = strawberry.field(
        default=0, description="Random control group kept out (0-50), to measure effect and harm.")
    cost_fen: Long = strawberry.field(default=Long(0), description="Cost, for ROI.")
    attribution_days: int = strawberry.field(
        default=7, description="Orders within this many days of receipt are attributed.")
    harm_days: int = strawberry.field(
        default=7, description="Deletions, mutes and opt-outs within this many days count as harm.")


@strawberry.type(description="How many were excluded for one reason.")
class ReasonCount:
    reason: str
    count: int


def _reasons(counts: dict[str, int]) -> list[ReasonCount]:
    order = {r: i for i, r in enumerate(REASONS)}
    return [ReasonCount(reason=k, count=v)
            for k, v in sorted(counts.items(), key=lambda kv: order.get(kv[0], 99))]


@strawberry.type(description="One recipient of a plan (dry run or frozen audience).")
class PlannedRecipient:
    customer_id: strawberry.ID
    included: bool
    reason: str | None
    variant_id: str | None
    send_at: datetime | None
    deferred: bool = strawberry.field(description="Moved out of quiet hours (not dropped).")
    sender: str | None = strawberry.field(description="WeCom: the staff member sending.")

    @classmethod
    def of(cls, d: Decision) -> PlannedRecipient:
        return cls(customer_id=strawberry.ID(str(d.customer_id)), included=d.included,
                   reason=d.reason, variant_id=d.variant_id, send_at=d.send_at,
                   deferred=d.deferred, sender=d.sender)


@strawberry.type(description="The audience now and who the restraint rules exclude, by rule.")
class CampaignDryRun:
    audience: int
    included: int
    deferred: int
    excluded: list[ReasonCount]
    sample: list[PlannedRecipient]


def _dry_run(result: PlanResult, sample: int) -> CampaignDryRun:
    included = result.included
    return CampaignDryRun(audience=len(result.decisions), included=len(included),
                          deferred=sum(d.deferred for d in included),
                          excluded=_reasons(result.excluded_by_reason()),
                          sample=[PlannedRecipient.of(d) for d in result.decisions[:sample]])


@strawberry.type(description="A campaign (read model `campaign`).")
class Campaign:
    row: strawberry.Private[dict[str, Any]]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row["campaign_id"]))

    @strawberry.field
    def name(self) -> str:
        return str(self.row["name"])

    @strawberry.field(description="draft, scheduled, running, completed or cancelled.")
    def state(self) -> str:
        return str(self.row["state"])

    @strawberry.field
    def channel(self) -> str:
        return str(self.row["channel"])

    @strawberry.field
    def owner(self) -> str:
        return str(self.row["owner"])

    @strawberry.field
    def segment_id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row["segment_id"]))

    @strawberry.field
    def variants(self) -> JSON:
        return cast(JSON, self.row["variants"])

    @strawberry.field
    def holdout_percent(self) -> int:
        return int(self.row["holdout_percent"])

    @strawberry.field
    def cost_fen(self) -> Long:
        return Long(self.row["cost_fen"])

    @strawberry.field
    def start_at(self) -> datetime | None:
        return self.row["start_at"]  # type: ignore[no-any-return]

    @strawberry.field
    def launched_at(self) -> datetime | None:
        return self.row["launched_at"]  # type: ignore[no-any-return]

    @strawberry.field(description="Segment members when the audience was frozen.")
    def audience(self) -> int:
        return int(self.row["audience"])

    @strawberry.field(description="Recipients planned (the frozen audience less exclusions).")
    def included(self) -> int:
        return int(self.row["included"])

    @strawberry.field
    def deferred(self) -> int:
        return int(self.row["deferred"])

    @strawberry.field(description="Exclusions by rule, as in the dry run.")
    def excluded(self) -> list[ReasonCount]:
        return _reasons(self.row["excluded"])

    @strawberry.field
    def sent(self) -> int:
        return int(self.row["sent"])

    @strawberry.field
    def failed(self) -> int:
        return int(self.row["failed"])

    @strawberry.field
    def cancel_reason(self) -> str | None:
        return self.row["cancel_reason"]  # type: ignore[no-any-return]

    @strawberry.field(description="Computed when read from the read models (docs/bi.md).")
    async def report(self, info: Info[Context, None]) -> CampaignReport:
        async with info.context.services.read_models.pool.connection() as conn:
            groups, staff = await report(conn, self.row["campaign_id"])
        recipients = CampaignGroupFigures.of(groups.get("recipient"))
        holdout = CampaignGroupFigures.of(groups.get("holdout"))
        cost = int(self.row["cost_fen"])
        return CampaignReport(
            recipients=recipients, holdout=holdout,
            roi=int(recipients.gmv_fen) / cost if recipients and cost else None,
            conversion_lift=recipients.conversion_rate - holdout.conversion_rate
            if recipients and holdout else None,
            harm_lift=recipients.harm_rate - holdout.harm_rate if recipients and holdout
            else None,
            by_staff=[StaffCredit(staff_id=r["staff_id"], orders=int(r["orders"]),
                                  gmv_fen=Long(int(r["gmv_fen"]))) for r in staff])


@strawberry.type(description="One group's figures: recipients, or the random holdout.")
class CampaignGroupFigures:
    customers: int
    read: int = strawberry.field(description="Opened the message (recipients).")
    clicked: int
    converted: int = strawberry.field(description="Paid an order within the attribution window.")
    orders: int
    gmv_fen: Long
    harmed: int = strawberry.field(description="Any harm within the harm window.")
    deleted: int = strawberry.field(description="Deleted the staff member.")
    muted: int
    opted_out: int = strawberry.field(description="Set do-not-disturb or withdrew consent.")
    conversion_rate: float
    harm_rate: float

    @classmethod
    def of(cls, row: dict[str, Any] | None) -> CampaignGroupFigures | None:
        if row is None:
            return None
        n = int(row["customers"]) or 1
        return cls(customers=int(row["customers"]), read=int(row["read"]),
                   clicked=int(row["clicked"]), converted=int(row["converted"]),
                   orders=int(row["orders"]), gmv_fen=Long(int(row["gmv_fen"])),
                   harmed=int(row["harmed"]), deleted=int(row["deleted"]),
                   muted=int(row["muted"]), opted_out=int(row["opted_out"]),
                   conversion_rate=int(row["converted"]) / n, harm_rate=int(row["harmed"]) / n)


@strawberry.type
class StaffCredit:
    staff_id: str
    orders: int
    gmv_fen: Long


@strawberry.type(description="Reach, conversions, GMV, ROI and harm, against the holdout.")
class CampaignReport:
    recipients: CampaignGroupFigures | None
    holdout: CampaignGroupFigures | None
    roi: float | None = strawberry.field(description="Recipients' GMV ÷ cost (null: no cost).")
    conversion_lift: float | None = strawberry.field(
        description="Recipients' conversion rate minus the holdout's (null: no holdout).")
    harm_lift: float | None = strawberry.field(
        description="Recipients' harm rate minus the holdout's: the harm caused.")
    by_staff: list[StaffCredit] = strawberry.field(
        description="Orders and GMV credited to the owner at the time of each order.")


@strawberry.type
class CampaignPayload:
    campaign_id: strawberry.ID
    position: strawberry.ID | None


@strawberry.type
class LaunchPayload:
    campaign_id: strawberry.ID
    position: strawberry.ID | None
    plan: CampaignDryRun


@strawberry.type
class ContactPolicyCaps:
    channel: str
    day: int | None
    week: int | None
    month: int | None


@strawberry.type(description="The rules of restraint every campaign is planned under.")
class ContactPolicyType:
    caps: list[ContactPolicyCaps]
    wecom_monthly_quota: int
    quiet_start: str
    quiet_end: str


@strawberry.input
class ChannelCapsInput:
    channel: str
    day: int | None = None
    week: int | None = None
    month: int | None = None


@strawberry.input
class ContactPolicyInput:
    caps: list[ChannelCapsInput]
    wecom_monthly_quota: int = 4
    quiet_start: str = "21:00"
    quiet_end: str = "09:00"


@strawberry.type
class CampaignSendEdge:
    cursor: str
    node: PlannedRecipient
    status: str = strawberry.field(description="planned, sent, failed or cancelled.")
    detail: str | None


@strawberry.type
class CampaignSendConnection:
    edges: list[CampaignSendEdge]
    page_info: PageInfo


def _managers(info: Info[Context, None]) -> None:
    if not info.context.principal.sees_everyone:
        raise forbidden("campaigns are run by managers and service principals")


async def _row(info: Info[Context, None], campaign_id: UUID) -> dict[str, Any] | None:
    return await queries.campaign(info.context.services.read_models.pool, campaign_id)


@strawberry.type
class CampaignQuery:
    @strawberry.field(description="Campaigns, newest first (managers and service principals).")
    async def campaigns(self, info: Info[Context, None], state: str | None = None
                        ) -> list[Campaign]:
        _managers(info)
        rows = await queries.campaigns(info.context.services.read_models.pool, state)
        return [Campaign(row=r) for r in rows]

    @strawberry.field
    async def campaign(self, info: Info[Context, None], id: strawberry.ID) -> Campaign | None:
        _managers(info)
        row = await _row(info, to_uuid(id, "id"))
        return None if row is None else Campaign(row=row)

    @strawberry.field(description="Who would be sent and who excluded by which rule, if the "
                                  "campaign were launched now. Nothing is recorded.")
    async def campaign_dry_run(self, info: Info[Context, None], campaign_id: strawberry.ID,
                               sample: int = 20) -> CampaignDryRun:
        _managers(info)
        if not 0 <= sample <= MAX_PAGE:
            raise ApiError(BAD_INPUT, f"sample must be 0-{MAX_PAGE}", field="sample")
        app = info.context.services.app
        cid = to_uuid(campaign_id, "campaignId")

        def run() -> PlanResult:
            campaign = app.campaigns.get(cid)
            with app.factory.datastore.get_connection() as conn:  # type: ignore[attr-defined]
                return plan_audience(conn, campaign.plan(), UUID(campaign.segment_id),
                                     app.campaigns.contact_policy(), datetime.now(UTC))

        try:
            result = await to_thread.run_sync(run)
        except DomainError as error:
            raise _domain(error) from None
        return _dry_run(result, sample)

    @strawberry.field(description="The frozen audience's sends, with their status.")
    async def campaign_sends(self, info: Info[Context, None], campaign_id: strawberry.ID,
                             status: str | None = None, first: int = 50,
                             after: str | None = None) -> CampaignSendConnection:
        _managers(info)
        if not 1 <= first <= MAX_PAGE:
            raise ApiError(BAD_INPUT, f"first must be 1-{MAX_PAGE}", field="first")
        offset = 0
        if after is not None:
            try:
                offset = decode_cursor("s", after)
            except ValueError:
                raise ApiError(BAD_INPUT, "after is not a cursor of this list",
                               field="after") from None
        rows = await queries.sends(info.context.services.read_models.pool,
                                   to_uuid(campaign_id, "campaignId"), status, offset, first + 1)
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
        _managers(info)
        policy = await to_thread.run_sync(info.context.services.app.campaigns.contact_policy)
        return ContactPolicyType(
            caps=[ContactPolicyCaps(channel=ch, day=c.day, week=c.week, month=c.month)
                  for ch, c in sorted(policy.caps.items())],
            wecom_monthly_quota=policy.wecom_monthly_quota,
            quiet_start=policy.quiet_start.strftime("%H:%M"),
            quiet_end=policy.quiet_end.strftime("%H:%M"))


async def _change(info: Info[Context, None], campaign_id: strawberry.ID,
                  command: Callable[[Any, UUID, str], int | None]) -> CampaignPayload:
    """One command on an existing campaign through the application."""
    require_recorder(info.context)
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
        require_recorder(info.context)
        app = info.context.services.app
        principal = info.context.principal
        segment_id = to_uuid(input.segment_id, "segmentId")
        variants = [{"variant_id": v.variant_id, "text": v.text, "weight": v.weight,
                     "lifecycles": [s.value for s in v.lifecycles or ()],
                     "template_id": v.template_id} for v in input.variants]

        def run() -> tuple[UUID, int | None]:
            app.segments.get(segment_id)  # refuses an unknown segment
            return app.campaigns.draft(
                input.name, principal.actor, input.channel, segment_id, variants,
                principal.actor, datetime.now(UTC), holdout_percent=input.holdout_percent,
                cost_fen=int(input.cost_fen), attribution_days=input.attribution_days,
                harm_days=input.harm_days)

        try:
            campaign_id, position = await to_thread.run_sync(run)
        except DomainError as error:
            raise _domain(error) from None
        return CampaignPayload(campaign_id=strawberry.ID(str(campaign_id)),
                               position=strawberry.ID(str(position)) if position else None)

    @strawberry.mutation(description="Freeze the audience now and start sending.")
    async def launch_campaign(self, info: Info[Context, None], campaign_id: strawberry.ID
                              ) -> LaunchPayload:
        require_recorder(info.context)
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
        return LaunchPayload(campaign_id=campaign_id,
                             position=strawberry.ID(str(position)) if position else None,
                             plan=_dry_run(result, 0))

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

    @strawberry.mutation(description="Change the rules of restraint (recorded as an event).")
    async def set_contact_policy(self, info: Info[Context, None], input: ContactPolicyInput
                                 ) -> ContactPolicyType:
        require_recorder(info.context)
        app = info.context.services.app
        caps = {c.channel: {"day": c.day, "week": c.week, "month": c.month} for c in input.caps}
        by = info.context.principal.actor
        try:
            await to_thread.run_sync(lambda: app.campaigns.change_contact_policy(
                caps, input.wecom_monthly_quota, input.quiet_start, input.quiet_end, by,
                datetime.now(UTC)))
        except DomainError as error:
            raise _domain(error) from None
        return await CampaignQuery.contact_policy(CampaignQuery(), info)  # type: ignore[no-any-return]
