"""The ``Customer`` aggregate: one customer, every channel, every action.

Every event says **who** (``by``: ``staff:<id>``, ``customer:<id>``,
``service:<name>`` or ``system``) and **when** (``occurred_at``: business time
given by the caller, separate from the recording ``timestamp``).

Events never hold personal data in clear: identities appear as keyed blind
indexes, names and phone numbers live in the encrypted personal-data vault,
messages are described by kind and length, never by text.

Commands decide (validate, no-op when nothing changes) and then trigger an
event; an event's ``apply`` only assigns state, because it re-runs on every
replay. Events that change no decision state derive from :class:`Customer.Fact`
and are recorded by :meth:`Customer.record_fact`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import (
    CannotMerge,
    CouponAlreadyIssued,
    CouponNotRedeemable,
    InsufficientPoints,
    InvalidAmount,
    InvalidInput,
    NotMerged,
    NotOwnedByGiver,
    OrderAlreadyPaid,
    OrderAlreadyPlaced,
    OrderNotCancellable,
    RefundExceedsPayment,
    SelfReferral,
    UnknownOrder,
)

FRIEND_DELETERS = frozenset({"customer", "staff"})
#: Why a customer's owner changed (:class:`Customer.OwnerChanged`).
FIRST_FRIEND, MERGED, UNMERGED = "first_friend", "merged", "unmerged"
HANDOVER_REASONS = frozenset({"resignation", "reassignment"})


class Customer(Aggregate):
    """A customer known through any number of identities (OneID)."""

    #: v2 added points, coupons, placed orders, DND, consents, accounts, referrer;
    #: v3 added merges (OneID), v4 the owner (the staff member in charge), v5 the referral's
    #: campaign and time (a referral campaign may reward the invitee's first order).
    class_version = 5

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state.update(placed={}, coupons={}, points=0, dnd=False, consents={}, accounts=[],
                     member_level=None, referred_by=None)

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        state.update(merged_into=None, absorbed={})

    @staticmethod
    def upcast_v3_v4(state: dict[str, Any]) -> None:
        state.update(owner=None, owner_before_merge=None)

    @staticmethod
    def upcast_v4_v5(state: dict[str, Any]) -> None:
        state.update(referred_in=None, referred_at=None)

    class Event(Aggregate.Event):
        by: str
        occurred_at: datetime

    class Fact(Event):
        """A fact that changes none of the state commands decide on."""

    class Registered(Aggregate.Created):
        first_channel: str
        by: str
        occurred_at: datetime

    # -- identity and personal data --------------------------------------------
    class IdentityLinked(Event):
        namespace: str
        blind_index: str

        def apply(self, customer: Customer) -> None:
            customer.identities[self.blind_index] = self.namespace

    class PersonalDataRecorded(Fact):
        """Fields written to the vault (names only; the values are encrypted there)."""

        fields: list[str]

    # -- one customer id (OneID) --------------------------------------------------
    class CustomerMerged(Event):
        """This customer absorbed ``absorbed_id``: its identities (blind indexes) and the
        state its commands decide on (orders, placed orders, coupons, points)."""

        absorbed_id: str
        blind_indexes: list[str]
        orders: dict[str, list[int]]
        placed: dict[str, int]
        coupons: dict[str, bool]
        points: int

        def apply(self, customer: Customer) -> None:
            customer.absorbed[self.absorbed_id] = self.blind_indexes
            for blind in self.blind_indexes:
                customer.identities[blind] = "merged"
            customer.orders.update({k: list(v) for k, v in self.orders.items()})
            customer.placed.update(self.placed)
            customer.coupons.update(self.coupons)
            customer.points += self.points

    class MergedInto(Event):
        """This customer was absorbed by ``survivor_id``; its identities lead there now."""

        survivor_id: str

        def apply(self, customer: Customer) -> None:
            customer.merged_into = self.survivor_id

    class CustomerUnmerged(Event):
        """A merge was undone: ``absorbed_id``, its identities and what it brought are its own
        again (orders, placed orders and coupons it brought; the points it brought)."""

        absorbed_id: str
        blind_indexes: list[str]
        orders: list[str]
        placed: list[str]
        coupons: list[str]
        points: int

        def apply(self, customer: Customer) -> None:
            customer.absorbed.pop(self.absorbed_id, None)
            for blind in self.blind_indexes:
                customer.identities.pop(blind, None)
            for order_id in self.orders:
                customer.orders.pop(order_id, None)
            for order_id in self.placed:
                customer.placed.pop(order_id, None)
            for code in self.coupons:
                customer.coupons.pop(code, None)
            customer.points -= self.points

    class UnmergedFrom(Event):
        survivor_id: str

        def apply(self, customer: Customer) -> None:
            customer.merged_into = None

    # -- growth -----------------------------------------------------------------
    class ChannelCodeScanned(Fact):
        state: str
        channel: str

    class Referred(Event):
        """This customer was brought by ``inviter_id`` (裂变)."""

        inviter_id: str
        campaign_id: str

        def apply(self, customer: Customer) -> None:
            customer.referred_by = self.inviter_id
            customer.referred_in = self.campaign_id
            customer.referred_at = self.occurred_at

    class ReferralBrought(Fact):
        """This customer brought ``invitee_id``: spreading power."""

        invitee_id: str
        campaign_id: str

    class OfficialAccountFollowed(Event):
        account_id: str

        def apply(self, customer: Customer) -> None:
            customer.accounts.append(self.account_id)

    class OfficialAccountUnfollowed(Event):
        account_id: str

        def apply(self, customer: Customer) -> None:
            customer.accounts.remove(self.account_id)

    class MemberRegistered(Event):
        member_level: str

        def apply(self, customer: Customer) -> None:
            customer.member_level = self.member_level

    # -- relationship with staff ------------------------------------------------
    class FriendAdded(Event):
        staff_id: str
        channel: str
        state: str | None
        welcome_code: str | None

        def apply(self, customer: Customer) -> None:
            customer.friends[self.staff_id] = self.occurred_at

    class HalfFriendAdded(Fact):
        """The customer added the staff member, who has not accepted yet (WeCom)."""

        staff_id: str
        state: str | None
        welcome_code: str | None

    class FriendEdited(Fact):
        """The staff member edited the contact's remark or description (no content kept)."""

        staff_id: str

    class FriendDeleted(Event):
        staff_id: str
        deleted_by: str

        def apply(self, customer: Customer) -> None:
            customer.friends.pop(self.staff_id, None)

    class OwnerChanged(Event):
        """The staff member in charge of the customer changed (``staff_id`` None: nobody).

        ``reason``: ``first_friend`` (the first staff member to add the customer),
        ``resignation`` / ``reassignment`` (a handover, 离职继承 / 在职继承, with its
        ``handover_id``), ``merged`` (OneID: the absorbed customer's period ends, the
        survivor inherits the owner if it had none) or ``unmerged`` (the owner returns).
        """

        previous_staff_id: str | None
        staff_id: str | None
        reason: str
        handover_id: str | None

        def apply(self, customer: Customer) -> None:
            if self.reason == MERGED and self.staff_id is None:
                customer.owner_before_merge = self.previous_staff_id
            elif self.reason == UNMERGED:
                customer.owner_before_merge = None
            customer.owner = self.staff_id

    class TransferFailed(Fact):
        """A handover of this customer to ``staff_id`` failed (离职/在职继承)."""

        staff_id: str
        reason: str

    class StaffMuted(Fact):
        """The customer muted (blocked moments or messages of) the staff member."""

        staff_id: str

    class PersonalWeChatFriendAdded(Fact):
        """The customer is a friend of the staff member's personal WeChat account (个微), as
        reported by the brand's tooling (personal WeChat has no official API)."""

        staff_id: str

    class PersonalWeChatFriendDeleted(Fact):
        """The customer is no longer a friend of the staff member's personal WeChat."""

        staff_id: str

    class DoNotDisturbSet(Event):
        def apply(self, customer: Customer) -> None:
            customer.dnd = True

    class DoNotDisturbCleared(Event):
        def apply(self, customer: Customer) -> None:
            customer.dnd = False

    class ConsentGiven(Event):
        purpose: str
        wording_version: str

        def apply(self, customer: Customer) -> None:
            customer.consents[self.purpose] = self.wording_version

    class ConsentWithdrawn(Event):
        purpose: str

        def apply(self, customer: Customer) -> None:
            customer.consents.pop(self.purpose, None)

    # -- tags and groups ----------------------------------------------------------
    class Tagged(Event):
        """v2 added ``reason`` (why: ``manual``, ``rule:<id>``, ``wecom``…; v1 were manual)."""

        class_version = 2

        tag: str
        reason: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["reason"] = "manual"

        def apply(self, customer: Customer) -> None:
            customer.tags.add(self.tag)

    class Untagged(Event):
        """v2 added ``reason``, as :class:`Tagged`."""

        class_version = 2

        tag: str
        reason: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["reason"] = "manual"

        def apply(self, customer: Customer) -> None:
            customer.tags.discard(self.tag)

    class GroupJoined(Event):
        group_id: str

        def apply(self, customer: Customer) -> None:
            customer.groups.add(self.group_id)

    class GroupLeft(Event):
        group_id: str

        def apply(self, customer: Customer) -> None:
            customer.groups.discard(self.group_id)

    # -- operation: interaction and content -----------------------------------------
    class MessageReceived(Fact):
        """A message from the customer to a staff member: kind and length only."""

        staff_id: str
        message_kind: str
        text_length: int

    class MessageSent(Fact):
        staff_id: str
        message_kind: str
        text_length: int

    class HolidayGreetingSent(Fact):
        """The staff member sent the customer a holiday greeting (节日问候), e.g. ``spring_festival``."""

        staff_id: str
        occasion: str

    class FollowUpRecorded(Fact):
        """The staff member recorded a follow-up with the customer (跟进记录): ``call``, ``visit``…"""

        staff_id: str
        follow_up_kind: str

    class ScriptUsed(Fact):
        """A staff member used a chat script (话术) with this customer."""

        staff_id: str
        script_id: str
        script_version: int | None

    class SensitiveWordsFound(Fact):
        """A staff message hit the sensitive-word lexicon: which terms, never the text.

        The text is sealed in the vault under this customer's key, field ``message_ref``
        (``message:<version of the MessageSent>``), for managers to review; erasing the
        customer's key makes it unreadable. ``hits``: ``{category, term_id, term}`` each.
        """

        staff_id: str
        message_kind: str
        hits: list[dict[str, str]]
        message_ref: str
        lexicon_version: int

    class ContentViewed(Fact):
        """v2 added ``seconds`` (time on the content; unknown for v1), v3 ``topic``."""

        class_version = 3

        content_id: str
        channel: str
        seconds: int | None
        topic: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["seconds"] = None

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state["topic"] = None

    class ContentForwarded(Fact):
        content_id: str
        channel: str

    class ContentCommented(Fact):
        content_id: str
        channel: str
        text_length: int

    class ActivityJoined(Fact):
        activity_id: str
        activity_kind: str

    class LiveStreamWatched(Fact):
        stream_id: str
        watch_seconds: int

    class StoreVisited(Fact):
        store_id: str

    # -- conversion -------------------------------------------------------------------
    class ProductViewed(Fact):
        sku: str
        channel: str

    class AddedToCart(Fact):
        sku: str
        quantity: int

    class CouponIssued(Event):
        coupon_code: str
        value_fen: int

        def apply(self, customer: Customer) -> None:
            customer.coupons[self.coupon_code] = False

    class CouponRedeemed(Event):
        coupon_code: str

        def apply(self, customer: Customer) -> None:
            customer.coupons[self.coupon_code] = True

    class OrderPlaced(Event):
        order_id: str
        amount_fen: int
        items: list[dict[str, Any]]
        channel: str

        def apply(self, customer: Customer) -> None:
            customer.placed[self.order_id] = self.amount_fen

    class OrderCancelled(Event):
        order_id: str

        def apply(self, customer: Customer) -> None:
            customer.placed.pop(self.order_id, None)

    class OrderPaid(Event):
        order_id: str
        amount_fen: int
        items: list[dict[str, Any]]
        channel: str

        def apply(self, customer: Customer) -> None:
            customer.placed.pop(self.order_id, None)
            customer.orders[self.order_id] = [self.amount_fen, 0]

    class OrderRefunded(Event):
        order_id: str
        amount_fen: int

        def apply(self, customer: Customer) -> None:
            customer.orders[self.order_id][1] += self.amount_fen

    class PointsEarned(Event):
        points: int
        reason: str

        def apply(self, customer: Customer) -> None:
            customer.points += self.points

    class PointsSpent(Event):
        points: int
        reason: str

        def apply(self, customer: Customer) -> None:
            customer.points -= self.points

    # -- outbound outcomes ----------------------------------------------------------------
    class WelcomeMessageSent(Fact):
        staff_id: str
        template_id: str
        gateway_message_id: str

    class WelcomeMessageFailed(Fact):
        staff_id: str
        reason: str

    class CampaignMessageSent(Fact):
        """A campaign message left for this customer (direct) or its WeCom task was created."""

        campaign_id: str
        step: int
        variant_id: str
        channel: str
        gateway_message_id: str

    class CampaignMessageDelivered(Fact):
        """WeCom's final status of a mass-send message: ``sent``, ``not_friend``,
        ``quota_exceeded`` (the month's maximum reached) or ``expired`` (never confirmed)."""

        campaign_id: str
        step: int
        status: str

    class CampaignMessageRead(Fact):
        """The customer opened a campaign message (reported by the channel or the H5 page)."""

        campaign_id: str

    class CampaignLinkClicked(Fact):
        campaign_id: str

    class CampaignMessageFailed(Fact):
        """A campaign message could not be sent: ``reason`` is machine-readable."""

        campaign_id: str
        step: int
        channel: str
        reason: str

    class SopStepSent(Fact):
        """A step of an SOP enrolment left for this customer (or its WeCom task was created)."""

        sop_id: str
        enrolment_id: str
        step: int
        variant_id: str
        channel: str
        gateway_message_id: str

    class SopStepFailed(Fact):
        """A step of an SOP enrolment could not be sent: ``reason`` is machine-readable."""

        sop_id: str
        enrolment_id: str
        step: int
        channel: str
        reason: str

    class SopStepSkipped(Fact):
        """A step was not sent, on purpose: a restraint rule (``DO_NOT_DISTURB``,
        ``CAP_DAY`` …), ``CONVERTED`` / ``OPTED_OUT`` seen at send time, or ``LATE``."""

        sop_id: str
        enrolment_id: str
        step: int
        reason: str

    @event(Registered)
    def __init__(self, first_channel: str, by: str, occurred_at: datetime) -> None:
        self.first_channel = first_channel
        self.identities: dict[str, str] = {}  # blind index -> namespace
        self.friends: dict[str, datetime] = {}  # staff id -> since
        self.tags: set[str] = set()
        self.groups: set[str] = set()
        self.orders: dict[str, list[int]] = {}  # paid order id -> [paid, refunded] in fen
        self.placed: dict[str, int] = {}  # placed, not yet paid nor cancelled -> amount
        self.coupons: dict[str, bool] = {}  # code -> redeemed
        self.points = 0
        self.dnd = False
        self.consents: dict[str, str] = {}  # purpose -> wording version
        self.accounts: list[str] = []  # official accounts followed
        self.member_level: str | None = None
        self.referred_by: str | None = None
        self.referred_in: str | None = None  # the campaign of the referral
        self.referred_at: datetime | None = None
        self.merged_into: str | None = None
        self.absorbed: dict[str, list[str]] = {}  # absorbed id -> blind indexes it brought
        self.owner: str | None = None  # staff id in charge of the customer
        self.owner_before_merge: str | None = None  # given back if the merge is undone

    # == commands ==========================================================================
    def record_fact(self, fact: type[Customer.Fact], **fields: Any) -> None:
        """Record a fact that needs no decision (its input was validated by the caller)."""
        self.trigger_event(fact, **fields)

    def absorb(self, other: Customer, by: str, occurred_at: datetime) -> None:
        """Merge ``other`` into this customer (both get an event; see OneID in the docs)."""
        if other.id == self.id:
            raise CannotMerge("a customer cannot be merged with itself", field="absorbedId")
        if self.merged_into is not None or other.merged_into is not None:
            raise CannotMerge("one of these customers is already merged into another",
                              field="absorbedId")
        blinds = sorted(other.identities)
        self.trigger_event(self.CustomerMerged, absorbed_id=str(other.id), blind_indexes=blinds,
                           orders=other.orders, placed=other.placed, coupons=other.coupons,
                           points=other.points, by=by, occurred_at=occurred_at)
        other.trigger_event(other.MergedInto, survivor_id=str(self.id), by=by,
                            occurred_at=occurred_at)
        owner = other.owner
        if owner is not None:
            other._change_owner(None, MERGED, None, by, occurred_at)
            if self.owner is None:
                self._change_owner(owner, MERGED, None, by, occurred_at)

    def release(self, other: Customer, by: str, occurred_at: datetime) -> list[str]:
        """Undo the merge of ``other`` into this customer; returns the identities given back."""
        blinds = self.absorbed.get(str(other.id))
        if blinds is None or other.merged_into != str(self.id):
            raise NotMerged("this customer was not merged into that one", field="customerId")
        # The absorbed customer's own state never changed while merged: it is what it brought.
        self.trigger_event(self.CustomerUnmerged, absorbed_id=str(other.id),
                           blind_indexes=blinds, orders=sorted(other.orders),
                           placed=sorted(other.placed), coupons=sorted(other.coupons),
                           points=other.points, by=by, occurred_at=occurred_at)
        other.trigger_event(other.UnmergedFrom, survivor_id=str(self.id), by=by,
                            occurred_at=occurred_at)
        if other.owner_before_merge is not None:
            other._change_owner(other.owner_before_merge, UNMERGED, None, by, occurred_at)
        return blinds

    def link_identity(self, namespace: str, blind: str, by: str, occurred_at: datetime) -> None:
        if blind not in self.identities:
            self.trigger_event(self.IdentityLinked, namespace=namespace, blind_index=blind,
                               by=by, occurred_at=occurred_at)

    def record_personal_data(self, fields: list[str], by: str, occurred_at: datetime) -> None:
        if fields:
            self.record_fact(self.PersonalDataRecorded, fields=sorted(fields), by=by,
                             occurred_at=occurred_at)

    def add_friend(self, staff_id: str, channel: str, state: str | None,
                   welcome_code: str | None, by: str, occurred_at: datetime) -> None:
        self.trigger_event(self.FriendAdded, staff_id=staff_id, channel=channel, state=state,
                           welcome_code=welcome_code, by=by, occurred_at=occurred_at)
        if self.owner is None and self.merged_into is None:
            self._change_owner(staff_id, FIRST_FRIEND, None, by, occurred_at)

    def hand_over(self, from_staff_id: str, to_staff_id: str, reason: str, handover_id: str,
                  by: str, occurred_at: datetime) -> bool:
        """Make ``to_staff_id`` the owner; False (no event) if it already is.

        Refused unless ``from_staff_id`` owns the customer now (``NOT_OWNED_BY_GIVER``).
        """
        if reason not in HANDOVER_REASONS:
            raise InvalidInput(f"reason must be one of {sorted(HANDOVER_REASONS)}",
                               field="reason")
        if self.owner == to_staff_id:
            return False
        if self.owner != from_staff_id or self.merged_into is not None:
            raise NotOwnedByGiver("the customer is not owned by the giving staff member",
                                  field="customerIds")
        self._change_owner(to_staff_id, reason, handover_id, by, occurred_at)
        return True

    def _change_owner(self, staff_id: str | None, reason: str, handover_id: str | None,
                      by: str, occurred_at: datetime) -> None:
        self.trigger_event(self.OwnerChanged, previous_staff_id=self.owner, staff_id=staff_id,
                           reason=reason, handover_id=handover_id, by=by,
                           occurred_at=occurred_at)

    def delete_friend(self, staff_id: str, deleted_by: str, by: str,
                      occurred_at: datetime) -> None:
        if deleted_by not in FRIEND_DELETERS:
            raise InvalidInput(f"deletedBy must be one of {sorted(FRIEND_DELETERS)}",
                               field="deletedBy")
        self.trigger_event(self.FriendDeleted, staff_id=staff_id, deleted_by=deleted_by, by=by,
                           occurred_at=occurred_at)

    def tag(self, tag: str, by: str, occurred_at: datetime, reason: str = "manual") -> None:
        if tag not in self.tags:
            self.trigger_event(self.Tagged, tag=tag, reason=reason, by=by,
                               occurred_at=occurred_at)

    def untag(self, tag: str, by: str, occurred_at: datetime, reason: str = "manual") -> None:
        if tag in self.tags:
            self.trigger_event(self.Untagged, tag=tag, reason=reason, by=by,
                               occurred_at=occurred_at)

    def join_group(self, group_id: str, by: str, occurred_at: datetime) -> None:
        if group_id not in self.groups:
            self.trigger_event(self.GroupJoined, group_id=group_id, by=by,
                               occurred_at=occurred_at)

    def leave_group(self, group_id: str, by: str, occurred_at: datetime) -> None:
        if group_id in self.groups:
            self.trigger_event(self.GroupLeft, group_id=group_id, by=by, occurred_at=occurred_at)

    def view_content(self, content_id: str, channel: str, by: str, occurred_at: datetime,
                     seconds: int | None = None, topic: str | None = None) -> None:
        self.record_fact(self.ContentViewed, content_id=content_id, channel=channel,
                         seconds=seconds, topic=topic, by=by, occurred_at=occurred_at)

    def follow_account(self, account_id: str, by: str, occurred_at: datetime) -> None:
        if account_id not in self.accounts:
            self.trigger_event(self.OfficialAccountFollowed, account_id=account_id, by=by,
                               occurred_at=occurred_at)

    def unfollow_account(self, account_id: str, by: str, occurred_at: datetime) -> None:
        if account_id in self.accounts:
            self.trigger_event(self.OfficialAccountUnfollowed, account_id=account_id, by=by,
                               occurred_at=occurred_at)

    def register_member(self, member_level: str, by: str, occurred_at: datetime) -> None:
        if member_level != self.member_level:
            self.trigger_event(self.MemberRegistered, member_level=member_level, by=by,
                               occurred_at=occurred_at)

    def referred(self, inviter_id: UUID, campaign_id: str, by: str, occurred_at: datetime
                 ) -> bool:
        """Attribute this customer to an inviter; the first referral wins. True if recorded."""
        if inviter_id == self.id:
            raise SelfReferral("a customer cannot refer themself", field="inviter")
        if self.referred_by is not None:
            return False
        self.trigger_event(self.Referred, inviter_id=str(inviter_id), campaign_id=campaign_id,
                           by=by, occurred_at=occurred_at)
        return True

    def set_do_not_disturb(self, on: bool, by: str, occurred_at: datetime) -> None:
        if on != self.dnd:
            kind = self.DoNotDisturbSet if on else self.DoNotDisturbCleared
            self.trigger_event(kind, by=by, occurred_at=occurred_at)

    def give_consent(self, purpose: str, wording_version: str, by: str,
                     occurred_at: datetime) -> None:
        if self.consents.get(purpose) != wording_version:
            self.trigger_event(self.ConsentGiven, purpose=purpose,
                               wording_version=wording_version, by=by, occurred_at=occurred_at)

    def withdraw_consent(self, purpose: str, by: str, occurred_at: datetime) -> None:
        if purpose in self.consents:
            self.trigger_event(self.ConsentWithdrawn, purpose=purpose, by=by,
                               occurred_at=occurred_at)

    def issue_coupon(self, code: str, value_fen: int, by: str, occurred_at: datetime) -> None:
        if code in self.coupons:
            raise CouponAlreadyIssued(f"coupon {code!r} was already issued", field="couponCode")
        self.trigger_event(self.CouponIssued, coupon_code=code, value_fen=value_fen, by=by,
                           occurred_at=occurred_at)

    def redeem_coupon(self, code: str, by: str, occurred_at: datetime) -> None:
        if self.coupons.get(code) is not False:
            state = "already redeemed" if self.coupons.get(code) else "not issued to this customer"
            raise CouponNotRedeemable(f"coupon {code!r} is {state}", field="couponCode")
        self.trigger_event(self.CouponRedeemed, coupon_code=code, by=by, occurred_at=occurred_at)

    def earn_points(self, points: int, reason: str, by: str, occurred_at: datetime) -> None:
        self.trigger_event(self.PointsEarned, points=points, reason=reason, by=by,
                           occurred_at=occurred_at)

    def spend_points(self, points: int, reason: str, by: str, occurred_at: datetime) -> None:
        if points > self.points:
            raise InsufficientPoints(f"spending {points} points of {self.points}",
                                     field="points")
        self.trigger_event(self.PointsSpent, points=points, reason=reason, by=by,
                           occurred_at=occurred_at)

    def place_order(self, order_id: str, amount_fen: int, items: list[dict[str, Any]],
                    channel: str, by: str, occurred_at: datetime) -> None:
        if order_id in self.placed or order_id in self.orders:
            raise OrderAlreadyPlaced(f"order {order_id!r} was already placed", field="orderId")
        self.trigger_event(self.OrderPlaced, order_id=order_id, amount_fen=amount_fen,
                           items=items, channel=channel, by=by, occurred_at=occurred_at)

    def cancel_order(self, order_id: str, by: str, occurred_at: datetime) -> None:
        if order_id not in self.placed:
            raise OrderNotCancellable(f"order {order_id!r} is not placed and unpaid",
                                      field="orderId")
        self.trigger_event(self.OrderCancelled, order_id=order_id, by=by,
                           occurred_at=occurred_at)

    def pay_order(self, order_id: str, amount_fen: int, items: list[dict[str, Any]],
                  channel: str, by: str, occurred_at: datetime) -> None:
        if amount_fen < 0:
            raise InvalidAmount("amountFen must not be negative", field="amountFen")
        if order_id in self.orders:
            raise OrderAlreadyPaid(f"order {order_id!r} is already paid", field="orderId")
        self.trigger_event(self.OrderPaid, order_id=order_id, amount_fen=amount_fen, items=items,
                           channel=channel, by=by, occurred_at=occurred_at)

    def refund_order(self, order_id: str, amount_fen: int, by: str, occurred_at: datetime) -> None:
        if amount_fen <= 0:
            raise InvalidAmount("amountFen of a refund must be positive", field="amountFen")
        paid_refunded = self.orders.get(order_id)
        if paid_refunded is None:
            raise UnknownOrder(f"order {order_id!r} was never paid by this customer",
                               field="orderId")
        paid, refunded = paid_refunded
        if refunded + amount_fen > paid:
            raise RefundExceedsPayment(
                f"refunds would total {refunded + amount_fen} fen of {paid} paid",
                field="amountFen")
        self.trigger_event(self.OrderRefunded, order_id=order_id, amount_fen=amount_fen, by=by,
                           occurred_at=occurred_at)

    def record_welcome_sent(self, staff_id: str, template_id: str, gateway_message_id: str,
                            by: str, occurred_at: datetime) -> None:
        self.record_fact(self.WelcomeMessageSent, staff_id=staff_id, template_id=template_id,
                         gateway_message_id=gateway_message_id, by=by, occurred_at=occurred_at)

    def record_welcome_failed(self, staff_id: str, reason: str, by: str,
                              occurred_at: datetime) -> None:
        self.record_fact(self.WelcomeMessageFailed, staff_id=staff_id, reason=reason, by=by,
                         occurred_at=occurred_at)



