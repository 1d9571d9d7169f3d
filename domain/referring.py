"""Referral and coupon commands, mixed into the application.

Rewards are decided **synchronously**, in the transaction that attributes the
invitee (or, for campaigns whose success is the first paid order, in the one
that records the invitee's first ``ORDER_PAID`` within ``order_days`` of the
referral): the reward's events (``PointsEarned`` or ``CouponIssued`` + a
``Coupon`` on the holder, ``InviteeRewarded`` on the campaign) and its
:func:`~domain.referral.reward_key` commit together with the fact that earned
them, or not at all. There is no later step that could
crash half-way, and a re-delivered friend add (same or new event id) or a
re-run finds the key and the ``Referred`` already there and pays nothing.

Who counts as a new invitee (:func:`is_new_invitee`): a customer who, before
the event carrying the code, has never had a staff friend nor an owner, never
paid an order and was never referred. An existing customer scanning a friend's
code is not a referral; a code of the invitee's own is ignored (self-referral),
and so are unknown codes and codes of campaigns that are not active at the
event's business time — the friend add itself is always recorded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Repository

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

if TYPE_CHECKING:
    from application.unit_of_work import UnitOfWork

SYSTEM = "system"


class _Index(Protocol):
    def known_event_keys(self, keys: Sequence[str]) -> Mapping[str, UUID]: ...


class _Host(Protocol):
    blind_key: bytes

    @property
    def repository(self) -> Repository[UUID]: ...

    @property
    def index(self) -> Any: ...

    def _transact(self, decide: Callable[[UnitOfWork[Customer]], None]) -> int | None: ...

    def _load(self, customer_id: UUID, batch: UnitOfWork[Customer]) -> Customer: ...

    def _existing(self, customer_id: UUID, batch: UnitOfWork[Customer], field: str) -> Customer: ...

    def _seal(self, subject_id: UUID, name: str, value: str, batch: UnitOfWork[Customer]) -> None: ...

    def _evict(self, aggregate_ids: Any) -> None: ...

    def _drop_stale(self, aggregate_ids: Any, batch: UnitOfWork[Customer]) -> None: ...


def is_new_invitee(customer: Customer) -> bool:
    """New to the private domain: no staff friend or owner ever, no paid order, no referrer."""
    return (customer.owner is None and not customer.friends and not customer.orders
            and customer.referred_by is None)


def _fresh(host: _Host, aggregate_id: UUID, kind: type[Any]) -> Any | None:
    """Read an aggregate changed from several processes from the store (None: absent)."""
    host._evict([aggregate_id])
    try:
        found: Any = host.repository.get(aggregate_id)
    except AggregateNotFoundError:
        return None
    return found if isinstance(found, kind) else None


def _campaign(host: _Host, campaign_id: UUID, batch: UnitOfWork[Customer]) -> ReferralCampaign:
    found = batch.aggregates.get(campaign_id)
    if not isinstance(found, ReferralCampaign):
        found = _fresh(host, campaign_id, ReferralCampaign)
        if found is None:
            raise UnknownReferralCampaign(f"no referral campaign {campaign_id}",
                                          field="campaignId")
        batch.aggregates[campaign_id] = cast(Customer, found)  # saved with the batch
    return cast(ReferralCampaign, found)


def _current(host: _Host, customer: Customer, batch: UnitOfWork[Customer]) -> Customer:
    """The customer itself, or the one it was merged into (OneID)."""
    while customer.merged_into is not None:
        customer = host._load(UUID(customer.merged_into), batch)
    return customer


def _grant(host: _Host, holder: Customer, value_fen: int, valid_days: int | None, source: str,
           by: str, at: datetime, batch: UnitOfWork[Customer]) -> tuple[UUID, str]:
    """Issue a coupon with a fresh redemption code to ``holder``; its id and the code."""
    code = new_redemption_code()
    coupon = Coupon.issue(coupon_id_for(host.blind_key, code), holder.id, value_fen,
                          valid_days, source, by, at)
    batch.aggregates[coupon.id] = cast(Customer, coupon)  # a collision fails at commit
    holder.issue_coupon(str(coupon.id), value_fen, by, at)
    host._seal(holder.id, f"coupon:{coupon.id}", code, batch)
    return coupon.id, code


def _pay(host: _Host, campaign: ReferralCampaign, inviter: Customer, invitee: Customer,
         batch: UnitOfWork[Customer], at: datetime) -> None:
    """Pay each of the campaign's rules for this invitee once (its key commits with it)."""
    keys = {rule: reward_key(campaign.id, invitee.id, rule) for rule in RULES}
    done = {k for k, _ in batch.writes.event_keys}
    if invitee.id not in batch.created_by:  # a customer made by this batch has no keys yet
        done |= set(host.index.known_event_keys(list(keys.values())))
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
            coupon_id, _ = _grant(host, holder, terms["value"], terms["valid_days"], source,
                                  SYSTEM, at, batch)
        campaign.record_reward(inviter.id, invitee.id, rule, coupon_id, SYSTEM, at)
        batch.writes.event_keys.append((keys[rule], holder.id))


class ReferralCommands:
    # -- referral campaigns -----------------------------------------------------------------
    def draft_referral_campaign(self: _Host, name: str, starts_at: datetime,
                                ends_at: datetime | None, inviter_reward: dict[str, Any],
                                by: str, occurred_at: datetime, **options: Any
                                ) -> tuple[UUID, int | None]:
        campaign = ReferralCampaign.draft(name, starts_at, ends_at, inviter_reward, by,
                                          occurred_at, **options)

        def decide(batch: UnitOfWork[Customer]) -> None:
            batch.aggregates[campaign.id] = cast(Customer, campaign)

        return campaign.id, self._transact(decide)

    def activate_referral_campaign(self: _Host, campaign_id: UUID, by: str,
                                   occurred_at: datetime) -> int | None:
        def decide(batch: UnitOfWork[Customer]) -> None:
            _campaign(self, campaign_id, batch).activate(by, occurred_at)

        return self._transact(decide)

    def end_referral_campaign(self: _Host, campaign_id: UUID, by: str,
                              occurred_at: datetime) -> int | None:
        def decide(batch: UnitOfWork[Customer]) -> None:
            _campaign(self, campaign_id, batch).end(by, occurred_at)

        return self._transact(decide)

    def referral_campaign(self: _Host, campaign_id: UUID) -> ReferralCampaign:
        found = _fresh(self, campaign_id, ReferralCampaign)
        if found is None:
            raise UnknownReferralCampaign(f"no referral campaign {campaign_id}",
                                          field="campaignId")
        return cast(ReferralCampaign, found)

    def invite_code(self: _Host, campaign_id: UUID, inviter_id: UUID, by: str,
                    occurred_at: datetime) -> str:
        """The inviter's code for the campaign: made on first request, the same ever after."""
        key = invite_key(campaign_id, inviter_id)
        out: list[str] = []

        def decide(batch: UnitOfWork[Customer]) -> None:
            out.clear()
            known = self.index.known_event_keys([key])
            if key in known:
                stored: Any = self.repository.get(known[key])
                assert isinstance(stored, InviteCode)  # internal keys cannot be forged
                out.append(stored.code)
                return
            campaign = _campaign(self, campaign_id, batch)
            if not campaign.is_open(occurred_at):
                raise ReferralCampaignClosed(f"the referral campaign is {campaign.state} or "
                                             "outside its window", field="campaignId")
            self._existing(inviter_id, batch, "customerId")
            invite = InviteCode.issue(campaign_id, inviter_id, by, occurred_at)
            batch.aggregates[invite.id] = cast(Customer, invite)
            batch.writes.event_keys.append((key, invite.id))  # asked twice at once: one wins
            out.append(invite.code)

        self._transact(decide)
        return out[0]

    # -- attribution and rewards (called from the ingestion path) ---------------------------
    def _invite(self: _Host, code: str) -> InviteCode | None:
        try:  # codes never change: the cache is good
            found: Any = self.repository.get(InviteCode.create_id(code))
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, InviteCode) else None

    def _prefetch_inviters(self: _Host, commands: Sequence[Command], batch: UnitOfWork[Customer]) -> None:
        """One query for the stream versions and one for the vault keys of a batch's
        inviters, instead of two per inviter."""
        inviters: set[UUID] = set()
        for command in commands:
            if command.invite_code is not None:
                invite = ReferralCommands._invite(self, command.invite_code)
                if invite is not None:
                    inviters.add(UUID(invite.inviter_id))
        if inviters:
            self._drop_stale(inviters, batch)
            batch.key_cache.update(self.index.wrapped_keys(
                sorted(i for i in inviters if i not in batch.key_cache)))

    def _attribute_invitee(self: _Host, command: Command, invitee: Customer, new: bool,
                           batch: UnitOfWork[Customer], by: str) -> None:
        assert command.invite_code is not None
        if not new:
            return
        invite = ReferralCommands._invite(self, command.invite_code)
        if invite is None:
            return
        at = command.occurred_at
        campaign = _campaign(self, UUID(invite.campaign_id), batch)
        if not campaign.is_open(at):
            return
        inviter = _current(self, self._load(UUID(invite.inviter_id), batch), batch)
        if inviter.id == invitee.id or not invitee.referred(inviter.id, str(campaign.id), by,
                                                            at):
            return
        inviter.record_fact(Customer.ReferralBrought, invitee_id=str(invitee.id),
                            campaign_id=str(campaign.id), by=by, occurred_at=at)
        if campaign.success == "friend_added":
            _pay(self, campaign, inviter, invitee, batch, at)

    def _reward_first_order(self: _Host, command: Command, invitee: Customer, batch: UnitOfWork[Customer]
                            ) -> None:
        """The invitee paid their first order: pay a first-order campaign's rewards once."""
        assert invitee.referred_in is not None and invitee.referred_by is not None
        try:
            campaign_id = UUID(invitee.referred_in)
        except ValueError:
            return  # a REFERRED item naming some other kind of campaign
        campaign = batch.aggregates.get(campaign_id)
        if not isinstance(campaign, ReferralCampaign):
            campaign = _fresh(self, campaign_id, ReferralCampaign)
            if campaign is None:
                return
            batch.aggregates[campaign_id] = cast(Customer, campaign)
        if (campaign.success != "first_order" or campaign.order_days is None
                or invitee.referred_at is None or command.occurred_at
                > invitee.referred_at + timedelta(days=campaign.order_days)):
            return
        inviter = _current(self, self._load(UUID(invitee.referred_by), batch), batch)
        _pay(self, campaign, inviter, invitee, batch, command.occurred_at)

    # -- coupons ------------------------------------------------------------------------------
    def grant_coupon(self: _Host, customer_id: UUID, value_fen: int, valid_days: int | None,
                     by: str, occurred_at: datetime) -> tuple[UUID, str, int | None]:
        """Issue a coupon to a customer: its id, its redemption code (shown once; sealed in
        the customer's vault) and the log position."""
        check_terms(value_fen, valid_days)
        out: list[tuple[UUID, str]] = []

        def decide(batch: UnitOfWork[Customer]) -> None:
            out.clear()
            holder = _current(self, self._existing(customer_id, batch, "customerId"), batch)
            out.append(_grant(self, holder, value_fen, valid_days, "manual", by, occurred_at,
                              batch))

        position = self._transact(decide)
        return out[0][0], out[0][1], position

    def redeem_coupon_code(self: _Host, code: str, by: str, occurred_at: datetime,
                           store_id: str | None = None) -> tuple[Coupon, int | None]:
        """Verify a redemption code once (核销): the coupon, redeemed, and the log position."""
        normal = normalise_code(code)
        if normal is None:
            raise UnknownRedemptionCode("no coupon has this redemption code", field="code")
        coupon_id = coupon_id_for(self.blind_key, normal)
        out: list[Coupon] = []

        def decide(batch: UnitOfWork[Customer]) -> None:
            out.clear()
            coupon = _fresh(self, coupon_id, Coupon)
            if coupon is None:
                raise UnknownRedemptionCode("no coupon has this redemption code", field="code")
            coupon.redeem(store_id, by, occurred_at)
            batch.aggregates[coupon_id] = cast(Customer, coupon)
            holder = _current(self, self._load(UUID(coupon.customer_id), batch), batch)
            redeemed = holder.coupons.get(str(coupon_id))
            if redeemed:  # redeemed through ingestion (COUPON_REDEEMED with the coupon id)
                raise CouponAlreadyRedeemed("this coupon was already redeemed", field="code")
            if redeemed is False:
                holder.redeem_coupon(str(coupon_id), by, occurred_at)
            out.append(coupon)

        position = self._transact(decide)
        return out[0], position

    def coupon(self: _Host, coupon_id: UUID) -> Coupon | None:
        with contextlib.suppress(AggregateNotFoundError):
            found: Any = self.repository.get(coupon_id)
            if isinstance(found, Coupon):
                return found
        return None
