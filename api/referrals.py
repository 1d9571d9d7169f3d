"""GraphQL for referral campaigns (裂变): set-up, invite codes, progress and the leaderboard.

Managers and service principals create, activate and end campaigns and read
their progress; ``inviteCode`` gives a customer principal their own code, and
staff a code on behalf of a customer they may see. Reads come from
``referral_campaign`` / ``referral_inviter``; mutations wait (a few seconds at
most) for them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum
from typing import Any
from uuid import UUID

import strawberry
from strawberry.types import Info

from api.commands import run_command as run_any
from api.context import Context
from api.errors import BAD_INPUT, FORBIDDEN, NOT_FOUND, ApiError
from api.projection_wait import caught_up
from api.types import Long, to_uuid
from projections.referrals import queries

VIEW = "referral_campaign"
MAX_LEADERS = 100
_NOT_FOUND = frozenset({"UNKNOWN_REFERRAL_CAMPAIGN", "UNKNOWN_CUSTOMER"})

Row = dict[str, Any]


async def run_command(command: Callable[[], Any]) -> Any:
    """Run a command off the event loop; domain refusals become typed errors."""
    return await run_any(command, dict.fromkeys(_NOT_FOUND, NOT_FOUND))




@strawberry.enum(description="What a reward rule gives: a coupon (value in fen) or points.")
class RewardKind(Enum):
    COUPON = "coupon"
    POINTS = "points"


@strawberry.enum
class ReferralState(Enum):
    DRAFT = "draft"
    ACTIVE = "active"
    ENDED = "ended"


@strawberry.enum(description="What earns the rewards: the friend add (or registration) with "
                              "the code, or the invitee's first paid order within orderDays of "
                              "it.")
class ReferralSuccess(Enum):
    FRIEND_ADDED = "friend_added"
    FIRST_ORDER = "first_order"


@strawberry.input(description="A reward rule: a coupon of `value` fen valid `validDays` days "
                               "(null: no expiry), or `value` points.")
class ReferralRewardInput:
    kind: RewardKind
    value: Long
    valid_days: int | None = None


@strawberry.input
class DraftReferralCampaignInput:
    name: str
    starts_at: datetime
    ends_at: datetime | None = None
    inviter_reward: ReferralRewardInput = strawberry.field(
        description="Paid to the inviter per new customer attributed.")
    invitee_reward: ReferralRewardInput | None = strawberry.field(
        default=None, description="Paid to the new customer, if any.")
    success: ReferralSuccess = ReferralSuccess.FRIEND_ADDED
    order_days: int | None = strawberry.field(
        default=None, description="FIRST_ORDER: the order must be paid within this many days "
                                  "of the referral (1-365).")
    cap_per_inviter: int | None = strawberry.field(
        default=None, description="At most this many inviter rewards per inviter "
                                  "(invitees beyond it are attributed, not rewarded).")


@strawberry.type
class ReferralReward:
    kind: RewardKind
    value: Long


@strawberry.type(description="A referral campaign and its progress (referral_campaign).")
class ReferralCampaign:
    id: strawberry.ID
    name: str
    state: ReferralState
    starts_at: datetime
    ends_at: datetime | None
    success: ReferralSuccess
    order_days: int | None
    inviter_reward: ReferralReward
    invitee_reward: ReferralReward | None
    cap_per_inviter: int | None
    created_by: str
    created_at: datetime
    activated_at: datetime | None
    ended_at: datetime | None
    invite_codes: int = strawberry.field(description="Inviters who asked for a code.")
    invitees: int = strawberry.field(description="New customers attributed to an inviter.")
    inviter_rewards: int
    invitee_rewards: int
    reward_points: Long
    reward_coupon_fen: Long = strawberry.field(description="Face value of coupons issued.")


@strawberry.type(description="One inviter's progress in a campaign (referral_inviter).")
class ReferralInviter:
    rank: int
    customer_id: strawberry.ID
    invitees: int
    rewards: int = strawberry.field(description="Inviter rewards paid (the cap may stop them).")
    reward_points: Long
    reward_coupon_fen: Long
    code_issued_at: datetime | None
    last_referral_at: datetime | None


@strawberry.type
class ReferralCampaignPayload:
    campaign: ReferralCampaign | None
    projected: bool = strawberry.field(description="True when referral_campaign shows it.")


@strawberry.type(description="An inviter's code: put it in the WeCom contact-me `state` or "
                              "the mini-program share link; the same code on every request.")
class InviteCode:
    campaign_id: strawberry.ID
    customer_id: strawberry.ID
    code: str


def _reward(kind: str | None, value: int | None) -> ReferralReward | None:
    if kind is None or value is None:
        return None
    return ReferralReward(kind=RewardKind(kind), value=Long(value))


def to_campaign(row: Row) -> ReferralCampaign:
    inviter = _reward(row["inviter_reward_kind"], row["inviter_reward_value"])
    assert inviter is not None
    return ReferralCampaign(
        id=strawberry.ID(str(row["campaign_id"])), name=row["name"],
        state=ReferralState(row["state"]), starts_at=row["starts_at"], ends_at=row["ends_at"],
        success=ReferralSuccess(row["success"]), order_days=row["order_days"],
        inviter_reward=inviter,
        invitee_reward=_reward(row["invitee_reward_kind"], row["invitee_reward_value"]),
        cap_per_inviter=row["cap_per_inviter"], created_by=row["created_by"],
        created_at=row["created_at"], activated_at=row["activated_at"],
        ended_at=row["ended_at"], invite_codes=row["invite_codes"], invitees=row["invitees"],
        inviter_rewards=row["inviter_rewards"], invitee_rewards=row["invitee_rewards"],
        reward_points=Long(row["reward_points"]),
        reward_coupon_fen=Long(row["reward_coupon_fen"]))


def _rule(rule: ReferralRewardInput | None) -> dict[str, Any] | None:
    if rule is None:
        return None
    return {"kind": rule.kind.value, "value": int(rule.value), "valid_days": rule.valid_days}


async def _payload(info: Info[Context, None], campaign_id: UUID, position: int | None
                   ) -> ReferralCampaignPayload:
    done = await caught_up(info, VIEW, position)
    row = await queries.campaign(info.context.services.read_models.pool, campaign_id)
    return ReferralCampaignPayload(campaign=to_campaign(row) if row else None,
                                   projected=done)


async def _may_act_for(info: Info[Context, None], customer_id: UUID) -> bool:
    principal = info.context.principal
    if principal.sees_everyone or principal.kind == "customer":
        return principal.may_see(customer_id, [])
    row = await info.context.services.read_models.profile(customer_id)
    return row is not None and principal.may_see(customer_id, list(row["current_staff_ids"]))


@strawberry.type
class ReferralQuery:
    @strawberry.field(description="Referral campaigns with their progress, newest first.")
    async def referral_campaigns(self, info: Info[Context, None],
                                 state: ReferralState | None = None) -> list[ReferralCampaign]:
        rows = await queries.campaigns(info.context.services.read_models.pool,
                                       state and state.value)
        return [to_campaign(r) for r in rows]

    @strawberry.field(description="One referral campaign and its progress.")
    async def referral_campaign(self, info: Info[Context, None], campaign_id: strawberry.ID
                                ) -> ReferralCampaign | None:
        row = await queries.campaign(info.context.services.read_models.pool,
                                     to_uuid(campaign_id, "campaignId"))
        return to_campaign(row) if row else None

    @strawberry.field(description="Inviters ranked by new customers brought (ties: earliest "
                                  "last referral first).")
    async def referral_leaderboard(self, info: Info[Context, None],
                                   campaign_id: strawberry.ID, first: int = 20
                                   ) -> list[ReferralInviter]:
        if not 1 <= first <= MAX_LEADERS:
            raise ApiError(BAD_INPUT, f"first must be 1-{MAX_LEADERS}", field="first")
        rows = await queries.leaders(info.context.services.read_models.pool,
                                     to_uuid(campaign_id, "campaignId"), first)
        return [ReferralInviter(
            rank=n, customer_id=strawberry.ID(str(r["inviter_id"])), invitees=r["invitees"],
            rewards=r["rewards"], reward_points=Long(r["reward_points"]),
            reward_coupon_fen=Long(r["reward_coupon_fen"]), code_issued_at=r["code_issued_at"],
            last_referral_at=r["last_referral_at"]) for n, r in enumerate(rows, 1)]


@strawberry.type
class ReferralMutation:
    @strawberry.mutation(description="Draft a referral campaign (it attributes nobody until "
                                      "activated).")
    async def draft_referral_campaign(self, info: Info[Context, None],
                                      input: DraftReferralCampaignInput
                                      ) -> ReferralCampaignPayload:
        app, by = info.context.services.app, info.context.principal.actor
        inviter = _rule(input.inviter_reward)
        assert inviter is not None
        campaign_id, position = await run_command(lambda: app.referrals.draft_campaign(
            input.name, input.starts_at, input.ends_at, inviter, by, datetime.now(UTC),
            invitee_reward=_rule(input.invitee_reward),
            cap_per_inviter=input.cap_per_inviter, success=input.success.value,
            order_days=input.order_days))
        return await _payload(info, campaign_id, position)

    @strawberry.mutation(description="Start attributing and rewarding (draft → active).")
    async def activate_referral_campaign(self, info: Info[Context, None],
                                         campaign_id: strawberry.ID) -> ReferralCampaignPayload:
        app, by = info.context.services.app, info.context.principal.actor
        cid = to_uuid(campaign_id, "campaignId")
        position = await run_command(lambda: app.referrals.activate_campaign(
            cid, by, datetime.now(UTC)))
        return await _payload(info, cid, position)

    @strawberry.mutation(description="Stop attributing and rewarding (→ ended; final).")
    async def end_referral_campaign(self, info: Info[Context, None],
                                    campaign_id: strawberry.ID) -> ReferralCampaignPayload:
        app, by = info.context.services.app, info.context.principal.actor
        cid = to_uuid(campaign_id, "campaignId")
        position = await run_command(lambda: app.referrals.end_campaign(
            cid, by, datetime.now(UTC)))
        return await _payload(info, cid, position)

    @strawberry.mutation(description="The inviter's code for an active campaign, made on the "
                                      "first request: a customer asks for their own (no "
                                      "customerId); staff for a customer they may see.")
    async def invite_code(self, info: Info[Context, None], campaign_id: strawberry.ID,
                          customer_id: strawberry.ID | None = None) -> InviteCode:
        principal = info.context.principal
        cid = to_uuid(campaign_id, "campaignId")
        if customer_id is None:
            if principal.kind != "customer":
                raise ApiError(BAD_INPUT, "customerId is required for staff and services",
                               field="customerId")
            inviter = to_uuid(principal.subject_id, "customerId")
        else:
            inviter = to_uuid(customer_id, "customerId")
        if not await _may_act_for(info, inviter):
            raise ApiError(FORBIDDEN, "not allowed for this customer")
        app = info.context.services.app
        code = await run_command(lambda: app.referrals.invite_code(cid, inviter, principal.actor,
                                                         datetime.now(UTC)))
        return InviteCode(campaign_id=strawberry.ID(str(cid)),
                          customer_id=strawberry.ID(str(inviter)), code=code)
