"""Referrals (老带新, 裂变) and coupons.

Rewards are decided **synchronously**, in the unit of work that attributes the
invitee (or, for campaigns whose success is the first paid order, in the one
that records the invitee's first ``ORDER_PAID`` within ``order_days`` of the
referral): the reward's events (``PointsEarned`` or ``CouponIssued`` + a
``Coupon`` on the holder, ``InviteeRewarded`` on the campaign) and its
:func:`~domain.referral.reward_key` commit together with the fact that earned
them, or not at all. There is no later step that could crash half-way, and a
re-delivered friend add (same or new event id) or a re-run finds the key and the
``Referred`` already there and pays nothing.

Who counts as a new invitee: :func:`domain.referral.is_new_invitee`. An existing
customer scanning a friend's code is not a referral; a code of the invitee's own is
ignored (self-referral), and so are unknown codes and codes of campaigns that are
not active at the event's business time — the friend add itself is always recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from application.customers import existing
from application.unit_of_work import EventStore, UnitOfWork
from domain.coupon import (
    Coupon,
    CouponAlreadyRedeemed,
    UnknownRedemptionCode,
    check_terms,
    coupon_id_for,
    new_redemption_code,
    normalise_code,
)
from domain.customer import Customer
from domain.items import Command
from domain.referral import (
    RULES,
    InviteCode,
    ReferralCampaign,
    ReferralCampaignClosed,
    UnknownReferralCampaign,
    invite_key,
    reward_key,
)

SYSTEM = "system"


class Referrals:
    def __init__(self, store: EventStore) -> None:
        self.store = store

    # -- referral campaigns -----------------------------------------------------------------
    def draft_campaign(self, name: str, starts_at: datetime, ends_at: datetime | None,
                       inviter_reward: dict[str, Any], by: str, occurred_at: datetime,
                       **options: Any) -> tuple[UUID, int | None]:
        campaign = ReferralCampaign.draft(name, starts_at, ends_at, inviter_reward, by,
                                          occurred_at, **options)
        return campaign.id, self.store.transact(ReferralCampaign, lambda u: u.add(campaign))[1]

    def activate_campaign(self, campaign_id: UUID, by: str, occurred_at: datetime
                          ) -> int | None:
        return self.store.transact(ReferralCampaign, lambda u: self._campaign(
            campaign_id, u).activate(by, occurred_at))[1]

    def end_campaign(self, campaign_id: UUID, by: str, occurred_at: datetime) -> int | None:
        return self.store.transact(ReferralCampaign, lambda u: self._campaign(
            campaign_id, u).end(by, occurred_at))[1]

    def campaign(self, campaign_id: UUID) -> ReferralCampaign:
        found = self.store.find(campaign_id, ReferralCampaign, fresh=True)
        if found is None:
            raise UnknownReferralCampaign(f"no referral campaign {campaign_id}",
                                          field="campaignId")
        return found

    def invite_code(self, campaign_id: UUID, inviter_id: UUID, by: str,
                    occurred_at: datetime) -> str:
        """The inviter's code for the campaign: made on first request, the same ever after."""
        key = invite_key(campaign_id, inviter_id)

        def decide(unit: UnitOfWork[Customer]) -> str:
            known = self.store.index.known_event_keys([key])
            if key in known:
                stored = self.store.find(known[key], InviteCode)
                assert stored is not None  # internal keys cannot be forged
                return stored.code
            campaign = self._campaign(campaign_id, unit)
            if not campaign.is_open(occurred_at):
                raise ReferralCampaignClosed(f"the referral campaign is {campaign.state} or "
                                             "outside its window", field="campaignId")
            existing(self.store, unit, inviter_id, "customerId")
            invite = unit.add(InviteCode.issue(campaign_id, inviter_id, by, occurred_at))
            unit.writes.event_keys.append((key, invite.id))  # asked twice at once: one wins
            return invite.code

        return self.store.transact(Customer, decide)[0]

    def _campaign(self, campaign_id: UUID, unit: UnitOfWork[Any]) -> ReferralCampaign:
        """The campaign, held by the unit (read fresh from the store the first time)."""
        found = unit.held(campaign_id, ReferralCampaign)
        if found is None:
            found = self.store.find(campaign_id, ReferralCampaign, fresh=True)
            if found is None:
                raise UnknownReferralCampaign(f"no referral campaign {campaign_id}",
                                              field="campaignId")
            unit.add(found)  # saved with the unit
        return found

    # -- attribution and rewards (called by ingestion, inside its unit of work) -------------
    def _invite(self, code: str) -> InviteCode | None:
        return self.store.find(InviteCode.create_id(code), InviteCode)  # codes never change

    def prefetch_inviters(self, commands: Sequence[Command], unit: UnitOfWork[Customer]
                          ) -> None:
        """One query for the stream versions and one for the vault keys of a batch's
        inviters, instead of two per inviter."""
        inviters: set[UUID] = set()
        for command in commands:
            if command.invite_code is not None:
                invite = self._invite(command.invite_code)
                if invite is not None:
                    inviters.add(UUID(invite.inviter_id))
        if inviters:
            self.store.drop_stale(inviters, unit)
            unit.key_cache.update(self.store.index.wrapped_keys(
                sorted(i for i in inviters if i not in unit.key_cache)))

    def attribute_invitee(self, command: Command, invitee: Customer, new: bool,
                          unit: UnitOfWork[Customer], by: str) -> None:
        assert command.invite_code is not None
        if not new:
            return
        invite = self._invite(command.invite_code)
        if invite is None:
            return
        at = command.occurred_at
        campaign = self._campaign(UUID(invite.campaign_id), unit)
        if not campaign.is_open(at):
            return
        inviter = self._current(self.store.load(unit, UUID(invite.inviter_id)), unit)
        if inviter.id == invitee.id or not invitee.referred(inviter.id, str(campaign.id), by,
                                                            at):
            return
        inviter.record_fact(Customer.ReferralBrought, invitee_id=str(invitee.id),
                            campaign_id=str(campaign.id), by=by, occurred_at=at)
        if campaign.success == "friend_added":
            self._pay(campaign, inviter, invitee, unit, at)

    def reward_first_order(self, command: Command, invitee: Customer,
                           unit: UnitOfWork[Customer]) -> None:
        """The invitee paid their first order: pay a first-order campaign's rewards once."""
        assert invitee.referred_in is not None and invitee.referred_by is not None
        try:
            campaign_id = UUID(invitee.referred_in)
        except ValueError:
            return  # a REFERRED item naming some other kind of campaign
        campaign = unit.held(campaign_id, ReferralCampaign)
        if campaign is None:
            campaign = self.store.find(campaign_id, ReferralCampaign, fresh=True)
            if campaign is None:
                return
            unit.add(campaign)
        if (campaign.success != "first_order" or campaign.order_days is None
                or invitee.referred_at is None or command.occurred_at
                > invitee.referred_at + timedelta(days=campaign.order_days)):
            return
        inviter = self._current(self.store.load(unit, UUID(invitee.referred_by)), unit)
        self._pay(campaign, inviter, invitee, unit, command.occurred_at)

    def _current(self, customer: Customer, unit: UnitOfWork[Customer]) -> Customer:
        """The customer itself, or the one it was merged into (OneID)."""
        while customer.merged_into is not None:
            customer = self.store.load(unit, UUID(customer.merged_into))
        return customer

    def _pay(self, campaign: ReferralCampaign, inviter: Customer, invitee: Customer,
             unit: UnitOfWork[Customer], at: datetime) -> None:
        """Pay each of the campaign's rules for this invitee once (its key commits with it)."""
        keys = {rule: reward_key(campaign.id, invitee.id, rule) for rule in RULES}
        done = {k for k, _ in unit.writes.event_keys}
        if invitee.id not in unit.created_by:  # a customer made by this unit has no keys yet
            done |= set(self.store.index.known_event_keys(list(keys.values())))
        source = f"referral:{campaign.id}"
        for rule in RULES:
            if keys[rule] in done or not campaign.may_reward(rule, inviter.id):
                continue
            holder = inviter if rule == "inviter" else invitee
            terms = campaign.rule(rule)
            assert terms is not None
            coupon_id = None
            if terms["kind"] == "points":
                holder.earn_points(terms["value"], source, SYSTEM, at)
            else:
                coupon_id, _ = self._grant(holder, terms["value"], terms["valid_days"], source,
                                           SYSTEM, at, unit)
            campaign.record_reward(inviter.id, invitee.id, rule, coupon_id, SYSTEM, at)
            unit.writes.event_keys.append((keys[rule], holder.id))

    # -- coupons ------------------------------------------------------------------------------
    def _grant(self, holder: Customer, value_fen: int, valid_days: int | None, source: str,
               by: str, at: datetime, unit: UnitOfWork[Customer]) -> tuple[UUID, str]:
        """Issue a coupon with a fresh redemption code to ``holder``; its id and the code."""
        code = new_redemption_code()
        coupon = unit.add(Coupon.issue(coupon_id_for(self.store.blind_key, code), holder.id,
                                       value_fen, valid_days, source, by, at))
        holder.issue_coupon(str(coupon.id), value_fen, by, at)  # a collision fails at commit
        self.store.seal(holder.id, f"coupon:{coupon.id}", code, unit)
        return coupon.id, code

    def grant_coupon(self, customer_id: UUID, value_fen: int, valid_days: int | None, by: str,
                     occurred_at: datetime) -> tuple[UUID, str, int | None]:
        """Issue a coupon to a customer: its id, its redemption code (shown once; sealed in
        the customer's vault) and the log position."""
        check_terms(value_fen, valid_days)

        def decide(unit: UnitOfWork[Customer]) -> tuple[UUID, str]:
            holder = self._current(existing(self.store, unit, customer_id, "customerId"), unit)
            return self._grant(holder, value_fen, valid_days, "manual", by, occurred_at, unit)

        (coupon_id, code), position = self.store.transact(Customer, decide)
        return coupon_id, code, position

    def redeem_coupon_code(self, code: str, by: str, occurred_at: datetime,
                           store_id: str | None = None) -> tuple[Coupon, int | None]:
        """Verify a redemption code once (核销): the coupon, redeemed, and the log position."""
        normal = normalise_code(code)
        if normal is None:
            raise UnknownRedemptionCode("no coupon has this redemption code", field="code")
        coupon_id = coupon_id_for(self.store.blind_key, normal)

        def decide(unit: UnitOfWork[Customer]) -> Coupon:
            coupon = self.store.find(coupon_id, Coupon, fresh=True)
            if coupon is None:
                raise UnknownRedemptionCode("no coupon has this redemption code", field="code")
            unit.add(coupon).redeem(store_id, by, occurred_at)
            holder = self._current(self.store.load(unit, UUID(coupon.customer_id)), unit)
            redeemed = holder.coupons.get(str(coupon_id))
            if redeemed:  # redeemed through ingestion (COUPON_REDEEMED with the coupon id)
                raise CouponAlreadyRedeemed("this coupon was already redeemed", field="code")
            if redeemed is False:
                holder.redeem_coupon(str(coupon_id), by, occurred_at)
            return coupon

        return self.store.transact(Customer, decide)

    def coupon(self, coupon_id: UUID) -> Coupon | None:
        return self.store.find(coupon_id, Coupon)
