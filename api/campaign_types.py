"""GraphQL types and inputs of campaigns: the campaign, its plan, its report, the policy.

Built from the ``campaign`` read model and the planner's result; the queries and
mutations that return them are in :mod:`api.campaigns`.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from api.context import Context
from api.types import Lifecycle, Long, PageInfo
from domain.restraint import REASONS, Decision
from projections.campaign_planning import PlanResult
from projections.campaigns.queries import failures
from projections.campaigns.report import report


@strawberry.input(description="What a variable becomes for a customer without a value for it.")
class TemplateFallbackInput:
    variable: str = strawberry.field(description="member_level, points_balance, "
                                                 "favourite_category or lifecycle.")
    text: str = strawberry.field(description="1-64 characters, no braces.")


@strawberry.input(description="One content variant: for some lifecycle stages (empty: any) "
                               "and/or an A/B weight. Text may use {member_level}, "
                               "{points_balance}, {favourite_category}, {lifecycle}; others: "
                               "UNKNOWN_TEMPLATE_VARIABLE.")
class CampaignVariantInput:
    variant_id: str
    text: str
    lifecycles: list[Lifecycle] | None = None
    weight: int = 1
    fallbacks: list[TemplateFallbackInput] | None = strawberry.field(
        default=None, description="Per variable: the text a customer without a value gets. "
        "Without one such a customer is excluded (MISSING_VALUE), never sent a blank.")
    template_id: str | None = strawberry.field(
        default=None, description="The provider's template: mini-program subscribe messages; "
        "required for sms (Tencent SMS sends approved templates only), 1-64 characters.")


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
    purpose: str | None = strawberry.field(
        default=None, description="The consent purpose of its messages: customers who "
                                  "withdrew that consent are excluded (CONSENT_WITHDRAWN). "
                                  "Default: marketing, or service for a service campaign.")
    requires_consent: bool = strawberry.field(
        default=False, description="Opt-in: only customers who gave the consent for `purpose` "
                                   "(others: NO_CONSENT).")
    message_class: str = strawberry.field(default="marketing", description=(
        "marketing, or service (order notices, after-sales guidance, a change to a service): "
        "not held by the marketing caps nor holidays, still by do-not-disturb, consent, quiet "
        "hours and WeCom's quota. Company managers only (SERVICE_CLASS_FORBIDDEN); needs "
        "serviceReason and serviceReference, a purpose other than marketing, no holdout and no "
        "promotional wording (SERVICE_CLASS_REFUSED). See docs/campaigns.md."))
    service_reason: str | None = strawberry.field(
        default=None, description="order_notice, after_sales or service_change.")
    service_reference: str | None = strawberry.field(
        default=None, description="The order batch, ticket or notice the service message is "
                                  "about (1-64 letters, digits or -_.:/#), kept for audit.")


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
    sender: str | None = strawberry.field(description=(
        "WeCom: the staff member sending: the friend who last chatted with the customer "
        "(WeCom delivers only through them), else the owner, else another staff friend."))
    sender_basis: str | None = strawberry.field(default=None, description=(
        "Why that sender: LAST_CHATTED, OWNER or FRIEND (dry runs and previews)."))
    holiday: str | None = strawberry.field(default=None, description=(
        "The holiday whose stricter caps and quiet hours the send was planned (or excluded) "
        "under."))

    @strawberry.field(description=(
        "WeCom: the member's UserID the mass send goes out under (the staff record's "
        "wecomUserId); null when the sender has none — the send would fail "
        "NO_SENDER_USERID."))
    async def sender_user_id(self, info: Info[Context, None]) -> str | None:
        if self.sender is None:
            return None
        return await info.context.sender_user_ids.load(self.sender)

    @classmethod
    def of(cls, d: Decision) -> PlannedRecipient:
        return cls(customer_id=strawberry.ID(str(d.customer_id)), included=d.included,
                   reason=d.reason, variant_id=d.variant_id, send_at=d.send_at,
                   deferred=d.deferred, sender=d.sender, sender_basis=d.sender_basis,
                   holiday=d.holiday)


@strawberry.type(description="WeCom: how many included recipients one member sends to, "
                             "and why that member.")
class SenderCount:
    sender: str
    basis: str = strawberry.field(description="LAST_CHATTED, OWNER, FRIEND or GROUP_OWNER.")
    count: int


@strawberry.type(description="One customer group of a campaign into groups: planned with its "
                             "sender, or excluded with the reason; its outcome once sent.")
class CampaignGroup:
    group_id: str
    owner_user_id: str
    included: bool
    sender: str | None = strawberry.field(description="The UserID the task is created under.")
    reason: str | None = strawberry.field(description="Why excluded (None: included).")
    send_at: datetime | None
    status: str = strawberry.field(description=(
        "excluded, planned (not sent yet), cancelled (the campaign was cancelled before it "
        "went), sent (handed to WeCom: the owner confirms it), failed or unknown (the "
        "outcome cannot be known: never retried)."))
    detail: str | None = strawberry.field(description="The WeCom task id, or the reason.")
    delivery: str | None = strawberry.field(default=None, description=(
        "Once sent, WeCom's final word: delivered (the owner confirmed), already_received "
        "(WeCom status 3: the group had its period's mass message, so it got none) or "
        "expired (not confirmed by the deadline: the task was cancelled). null: awaiting "
        "the owner's confirmation, or not sent."))


@strawberry.type(description="The audience now and who the restraint rules exclude, by rule.")
class CampaignDryRun:
    audience: int
    included: int
    deferred: int
    excluded: list[ReasonCount]
    sample: list[PlannedRecipient]
    senders: list[SenderCount] = strawberry.field(description=(
        "WeCom mass sends: the included recipients by sender and basis (most first)."))
    groups: list[CampaignGroup] = strawberry.field(default_factory=list, description=(
        "A campaign into customer groups: the first `sample` groups planned or excluded (the "
        "counts above are then of groups, senders the owners with basis GROUP_OWNER). Empty "
        "for a campaign to a segment."))

    @classmethod
    def of(cls, result: PlanResult, sample: int) -> CampaignDryRun:
        included = result.included
        senders = Counter((d.sender, d.sender_basis or "") for d in included if d.sender)
        return cls(audience=len(result.decisions), included=len(included),
                   deferred=sum(d.deferred for d in included),
                   excluded=_reasons(result.excluded_by_reason()),
                   sample=[PlannedRecipient.of(d) for d in result.decisions[:sample]],
                   senders=[SenderCount(sender=s, basis=b, count=n) for (s, b), n in
                            sorted(senders.items(), key=lambda kv: (-kv[1], kv[0]))])


@strawberry.type(description="The exact message one customer would get if the campaign were "
                             "launched now (values as of now; a send fills them again).")
class CampaignPreview:
    recipient: PlannedRecipient
    text: str | None = strawberry.field(description=(
        "The filled text (an SMS: its template parameter); null when not included."))
    missing: list[str] = strawberry.field(description=(
        "Variables of the variant drawn that the customer has no value for and that have "
        "no fallback (the reason MISSING_VALUE)."))


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

    @strawberry.field(description="marketing or service (docs/campaigns.md, Service or "
                                  "marketing).")
    def message_class(self) -> str:
        return str(self.row.get("message_class") or "marketing")

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

    @strawberry.field(description=(
        "Failed sends by reason: NO_ADDRESS, NO_SENDER_USERID (the sender has no WeCom "
        "UserID), REFUSED_BY_WECOM, a provider's error code, or UNKNOWN: the provider's "
        "answer was lost and the send cannot be reconciled (subscribe message, SMS); it may "
        "or may not have reached the customer and is never retried."))
    async def failures(self, info: Info[Context, None]) -> list[ReasonCount]:
        counts = await failures(info.context.services.read_models.pool,
                                self.row["campaign_id"])
        return [ReasonCount(reason=k, count=v) for k, v in counts.items()]

    @strawberry.field(description="Sends whose outcome is UNKNOWN (counted in failed).")
    async def unknown(self, info: Info[Context, None]) -> int:
        counts = await failures(info.context.services.read_models.pool,
                                self.row["campaign_id"])
        return counts.get("UNKNOWN", 0)

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
            roi=(int(recipients.gmv_fen) if recipients else 0) / cost if cost else None,
            conversion_lift=recipients.conversion_rate - holdout.conversion_rate
            if recipients and holdout else None,
            harm_lift=recipients.harm_rate - holdout.harm_rate if recipients and holdout
            else None,
            by_staff=[StaffCredit(staff_id=r["staff_id"], orders=int(r["orders"]),
                                  gmv_fen=Long(int(r["gmv_fen"]))) for r in staff])


@strawberry.type(description="One group's figures: recipients, or the random holdout.")
class CampaignGroupFigures:
    customers: int
    read: int | None = strawberry.field(
        description="Opened the message (recipients only; null for the holdout, sent nothing).")
    clicked: int | None = strawberry.field(
        description="Clicked its link (recipients only; null for the holdout).")
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
        return cls(customers=int(row["customers"]), read=_count(row["read"]),
                   clicked=_count(row["clicked"]), converted=int(row["converted"]),
                   orders=int(row["orders"]), gmv_fen=Long(int(row["gmv_fen"])),
                   harmed=int(row["harmed"]), deleted=int(row["deleted"]),
                   muted=int(row["muted"]), opted_out=int(row["opted_out"]),
                   conversion_rate=int(row["converted"]) / n, harm_rate=int(row["harmed"]) / n)


def _count(value: Any) -> int | None:
    return None if value is None else int(value)


@strawberry.type
class StaffCredit:
    staff_id: str
    orders: int
    gmv_fen: Long


@strawberry.type(description="Reach, conversions, GMV, ROI and harm, against the holdout.")
class CampaignReport:
    recipients: CampaignGroupFigures | None
    holdout: CampaignGroupFigures | None
    roi: float | None = strawberry.field(
        description="Recipients' GMV ÷ cost, unrounded: 0 when nobody received the campaign "
                    "(the whole audience excluded), null only without a cost.")
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
class CampaignSendEdge:
    cursor: str
    node: PlannedRecipient
    status: str = strawberry.field(description="planned, sent, failed or cancelled.")
    detail: str | None


@strawberry.type
class CampaignSendConnection:
    edges: list[CampaignSendEdge]
    page_info: PageInfo
    groups: list[CampaignGroup] = strawberry.field(default_factory=list, description=(
        "A campaign into customer groups: this page of its frozen plan's groups (`edges` is "
        "then empty; `status` filters on the group's status)."))
