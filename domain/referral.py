"""Referral campaigns (裂变) and the invite codes their inviters share.

A ``ReferralCampaign`` goes draft → active → ended. While active and inside its
window, a *new* customer who arrives with an inviter's code (the WeCom "contact
me" ``state`` of a friend add, or the ``state`` of a REGISTERED item) is
attributed to the inviter (``Customer.Referred``/``ReferralBrought``), and the
campaign's reward rules pay out once per (campaign, invitee, rule):
:func:`reward_key` is committed with the reward's events.

Success is either the friend add (or registration) with the code, or the
invitee's first paid order within ``order_days`` of the referral; the
inviter's reward can be capped per inviter (:attr:`ReferralCampaign.rewarded`
counts inviter rewards, so concurrent rewards conflict on the campaign's stream
and the cap holds across processes).

An ``InviteCode`` is one inviter's code for one campaign: random (``secrets``),
never derived from personal data; its stream id is derived from the code (so a
code finds its stream) and the (campaign, inviter) pair finds it through the
event key :func:`invite_key` committed with it, so asking twice returns the same
code. The code is meant to be shared (it is printed in QR codes), so it is
stored as it is; it names the inviter only by customer id.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError, InvalidInput

if TYPE_CHECKING:
    from domain.customer import Customer

REWARD_KINDS = frozenset({"coupon", "points"})
RULES = ("inviter", "invitee")
SUCCESS = frozenset({"friend_added", "first_order"})
MAX_VALUE = 10**9
#: Invite codes: ``rf`` + 12 characters of an unambiguous alphabet (~59 bits); fits WeCom's
#: 30-character ``state``.
CODE_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
CODE_PATTERN = re.compile(r"^rf[23456789a-hjkmnp-z]{12}$")
_NAMESPACE = uuid5(NAMESPACE_URL, "siyu:invite-code")


class ReferralStateError(DomainError):
    code = "REFERRAL_CAMPAIGN_STATE"


class UnknownReferralCampaign(DomainError):
    code = "UNKNOWN_REFERRAL_CAMPAIGN"


class ReferralCampaignClosed(DomainError):
    """Invite codes are issued only while the campaign is active and inside its window."""

    code = "REFERRAL_CAMPAIGN_CLOSED"


#: Internal event keys share a table with client event ids; they start with a control
#: character, which ingestion refuses in an ``eventId``, so no client can take one first.
INTERNAL = "\x1e"


def reward_key(campaign_id: UUID, invitee_id: UUID, rule: str) -> str:
    """The idempotency key of one reward: a (campaign, invitee, rule) pays once."""
    return f"{INTERNAL}referral:{campaign_id}:{invitee_id}:{rule}"


def invite_key(campaign_id: UUID, inviter_id: UUID) -> str:
    """The event key that finds an inviter's code for a campaign."""
    return f"{INTERNAL}invite:{campaign_id}:{inviter_id}"


def new_invite_code() -> str:
    return "rf" + "".join(secrets.choice(CODE_ALPHABET) for _ in range(12))


def is_invite_code(value: str | None) -> bool:
    return value is not None and CODE_PATTERN.match(value) is not None


def check_rule(rule: dict[str, Any] | None, field: str) -> dict[str, Any] | None:
    """A reward rule: ``{"kind": "coupon"|"points", "value": fen|points, "valid_days": n}``."""
    if rule is None:
        return None
    kind = rule.get("kind")
    if kind not in REWARD_KINDS:
        raise InvalidInput(f"{field}.kind must be one of {sorted(REWARD_KINDS)}",
                           field=f"{field}.kind")
    value = rule.get("value")
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_VALUE:
        raise InvalidInput(f"{field}.value must be 1 to {MAX_VALUE}", field=f"{field}.value")
    days = rule.get("valid_days")
    if kind == "points":
        days = None
    elif days is not None and (isinstance(days, bool) or not isinstance(days, int)
                               or not 1 <= days <= 3650):
        raise InvalidInput(f"{field}.validDays must be 1-3650", field=f"{field}.validDays")
    return {"kind": kind, "value": value, "valid_days": days}


class ReferralCampaign(Aggregate):
    """A referral campaign: its window, what counts as success, and its reward rules."""

    class Drafted(Aggregate.Created):
        """A referral campaign was set up: window, success rule, reward rules, cap."""

        name: str
        starts_at: datetime
        ends_at: datetime | None
        success: str
        order_days: int | None
        inviter_reward: dict[str, Any]
        invitee_reward: dict[str, Any] | None
        cap_per_inviter: int | None
        by: str
        occurred_at: datetime

    class Activated(Aggregate.Event):
        """Codes now attribute new customers and rewards are paid."""

        by: str
        occurred_at: datetime

        def apply(self, campaign: ReferralCampaign) -> None:
            campaign.state = "active"

    class Ended(Aggregate.Event):
        """No more codes, attributions or friend-add rewards."""

        by: str
        occurred_at: datetime

        def apply(self, campaign: ReferralCampaign) -> None:
            campaign.state = "ended"

    class InviteeRewarded(Aggregate.Event):
        """A reward rule paid out for one invitee: ``rule`` is inviter or invitee;
        ``coupon_id`` the coupon issued (null for points)."""

        inviter_id: str
        invitee_id: str
        rule: str
        kind: str
        value: int
        coupon_id: str | None
        by: str
        occurred_at: datetime

        def apply(self, campaign: ReferralCampaign) -> None:
            if self.rule == "inviter":
                campaign.rewarded[self.inviter_id] = campaign.rewarded.get(self.inviter_id, 0) + 1

    @classmethod
    def draft(cls, name: str, starts_at: datetime, ends_at: datetime | None,
              inviter_reward: dict[str, Any], by: str, occurred_at: datetime, *,
              invitee_reward: dict[str, Any] | None = None, cap_per_inviter: int | None = None,
              success: str = "friend_added", order_days: int | None = None
              ) -> ReferralCampaign:
        label = name.strip()
        if not 1 <= len(label) <= 64:
            raise InvalidInput("name must be 1-64 characters", field="name")
        if starts_at.tzinfo is None or (ends_at is not None and ends_at.tzinfo is None):
            raise InvalidInput("startsAt and endsAt need a time zone", field="startsAt")
        if ends_at is not None and ends_at <= starts_at:
            raise InvalidInput("endsAt must be after startsAt", field="endsAt")
        if success not in SUCCESS:
            raise InvalidInput(f"success must be one of {sorted(SUCCESS)}", field="success")
        if success == "first_order" and (order_days is None or not 1 <= order_days <= 365):
            raise InvalidInput("orderDays must be 1-365 when success is first_order",
                               field="orderDays")
        if success != "first_order":
            order_days = None
        if cap_per_inviter is not None and not 1 <= cap_per_inviter <= 10**6:
            raise InvalidInput("capPerInviter must be 1 to 10^6", field="capPerInviter")
        inviter = check_rule(inviter_reward, "inviterReward")
        assert inviter is not None
        return cls(name=label, starts_at=starts_at, ends_at=ends_at, success=success,
                   order_days=order_days, inviter_reward=inviter,
                   invitee_reward=check_rule(invitee_reward, "inviteeReward"),
                   cap_per_inviter=cap_per_inviter, by=by, occurred_at=occurred_at)

    @event(Drafted)
    def __init__(self, name: str, starts_at: datetime, ends_at: datetime | None, success: str,
                 order_days: int | None, inviter_reward: dict[str, Any],
                 invitee_reward: dict[str, Any] | None, cap_per_inviter: int | None, by: str,
                 occurred_at: datetime) -> None:
        self.name = name
        self.starts_at = starts_at
        self.ends_at = ends_at
        self.success = success
        self.order_days = order_days
        self.inviter_reward = inviter_reward
        self.invitee_reward = invitee_reward
        self.cap_per_inviter = cap_per_inviter
        self.state = "draft"
        self.rewarded: dict[str, int] = {}  # inviter id -> inviter rewards given

    def is_open(self, at: datetime) -> bool:
        return (self.state == "active" and self.starts_at <= at
                and (self.ends_at is None or at < self.ends_at))

    def activate(self, by: str, occurred_at: datetime) -> bool:
        if self.state == "active":
            return False
        if self.state != "draft":
            raise ReferralStateError(f"an {self.state} referral campaign cannot be activated",
                                     field="campaignId")
        self.trigger_event(self.Activated, by=by, occurred_at=occurred_at)
        return True

    def end(self, by: str, occurred_at: datetime) -> bool:
        if self.state == "ended":
            return False
        self.trigger_event(self.Ended, by=by, occurred_at=occurred_at)
        return True

    def rule(self, name: str) -> dict[str, Any] | None:
        return self.inviter_reward if name == "inviter" else self.invitee_reward

    def may_reward(self, rule: str, inviter_id: UUID) -> bool:
        """Whether ``rule`` pays for this inviter now (the inviter's cap not reached)."""
        if self.rule(rule) is None:
            return False
        if rule == "inviter" and self.cap_per_inviter is not None:
            return self.rewarded.get(str(inviter_id), 0) < self.cap_per_inviter
        return True

    def record_reward(self, inviter_id: UUID, invitee_id: UUID, rule: str,
                      coupon_id: UUID | None, by: str, occurred_at: datetime) -> None:
        terms = self.rule(rule)
        assert terms is not None
        self.trigger_event(self.InviteeRewarded, inviter_id=str(inviter_id),
                           invitee_id=str(invitee_id), rule=rule, kind=terms["kind"],
                           value=terms["value"],
                           coupon_id=None if coupon_id is None else str(coupon_id), by=by,
                           occurred_at=occurred_at)


class InviteCode(Aggregate):
    """One inviter's code for one referral campaign."""

    class Issued(Aggregate.Created):
        """An inviter's code for a campaign (random; shared by the inviter, not a secret)."""

        code: str
        campaign_id: str
        inviter_id: str
        by: str
        occurred_at: datetime

    @staticmethod
    def create_id(code: str) -> UUID:
        return uuid5(_NAMESPACE, code)

    @classmethod
    def issue(cls, campaign_id: UUID, inviter_id: UUID, by: str, occurred_at: datetime
              ) -> InviteCode:
        return cls(code=new_invite_code(), campaign_id=str(campaign_id),
                   inviter_id=str(inviter_id), by=by, occurred_at=occurred_at)

    @event(Issued)
    def __init__(self, code: str, campaign_id: str, inviter_id: str, by: str,
                 occurred_at: datetime) -> None:
        self.code = code
        self.campaign_id = campaign_id
        self.inviter_id = inviter_id


def is_new_invitee(customer: Customer) -> bool:
    """New to the private domain: no staff friend or owner ever, no paid order, no referrer.

    Only a new invitee is attributed to the inviter whose code brought them."""
    return (customer.owner is None and not customer.friends and not customer.orders
            and customer.referred_by is None)
