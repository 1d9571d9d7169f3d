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
from typing import Any, TypeAlias
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import customer_commerce_events as commerce
from domain import customer_engagement_events as engagement
from domain import customer_identity_events as identity
from domain import customer_outreach_events as outreach
from domain import customer_relationship_events as relationship
from domain import customer_snapshot_upcasts as snapshot_upcasts
from domain import recording
from domain.customer_state import (
    FIRST_FRIEND,
    MERGED,
    UNMERGED,
    CustomerEvent,
    CustomerFact,
)
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
HANDOVER_REASONS = frozenset({"resignation", "reassignment"})


class Customer(Aggregate):
    """A customer known through any number of identities (OneID)."""

    #: v2 added points, coupons, placed orders, DND, consents, accounts, referrer;
    #: v3 added merges (OneID), v4 the owner (the staff member in charge), v5 the referral's
    #: campaign and time (a referral campaign may reward the invitee's first order);
    #: v6 erasure (PIPL: crypto-shredding, see docs/privacy.md).
    class_version = 6

    upcast_v1_v2 = staticmethod(snapshot_upcasts.v1_v2)
    upcast_v2_v3 = staticmethod(snapshot_upcasts.v2_v3)
    upcast_v3_v4 = staticmethod(snapshot_upcasts.v3_v4)
    upcast_v4_v5 = staticmethod(snapshot_upcasts.v4_v5)
    upcast_v5_v6 = staticmethod(snapshot_upcasts.v5_v6)

    Event: TypeAlias = CustomerEvent
    Fact: TypeAlias = CustomerFact
    trigger_event = recording.trigger_event  # or straight to rows (domain.recording)

    class Registered(Aggregate.Created):
        first_channel: str
        by: str
        occurred_at: datetime

    # -- its events, by subject: domain/customer_<subject>_events.py
    IdentityLinked: TypeAlias = identity.IdentityLinked
    PersonalDataRecorded: TypeAlias = identity.PersonalDataRecorded
    CustomerMerged: TypeAlias = identity.CustomerMerged
    MergedInto: TypeAlias = identity.MergedInto
    CustomerUnmerged: TypeAlias = identity.CustomerUnmerged
    UnmergedFrom: TypeAlias = identity.UnmergedFrom
    Erased: TypeAlias = identity.Erased
    ChannelCodeScanned: TypeAlias = relationship.ChannelCodeScanned
    Referred: TypeAlias = relationship.Referred
    ReferralBrought: TypeAlias = relationship.ReferralBrought
    OfficialAccountFollowed: TypeAlias = relationship.OfficialAccountFollowed
    OfficialAccountUnfollowed: TypeAlias = relationship.OfficialAccountUnfollowed
    MemberRegistered: TypeAlias = relationship.MemberRegistered
    FriendAdded: TypeAlias = relationship.FriendAdded
    HalfFriendAdded: TypeAlias = relationship.HalfFriendAdded
    FriendEdited: TypeAlias = relationship.FriendEdited
    FriendDeleted: TypeAlias = relationship.FriendDeleted
    OwnerChanged: TypeAlias = relationship.OwnerChanged
    TransferFailed: TypeAlias = relationship.TransferFailed
    StaffMuted: TypeAlias = relationship.StaffMuted
    PersonalWeChatFriendAdded: TypeAlias = relationship.PersonalWeChatFriendAdded
    PersonalWeChatFriendDeleted: TypeAlias = relationship.PersonalWeChatFriendDeleted
    DoNotDisturbSet: TypeAlias = relationship.DoNotDisturbSet
    DoNotDisturbCleared: TypeAlias = relationship.DoNotDisturbCleared
    ConsentGiven: TypeAlias = relationship.ConsentGiven
    ConsentWithdrawn: TypeAlias = relationship.ConsentWithdrawn
    Tagged: TypeAlias = engagement.Tagged
    Untagged: TypeAlias = engagement.Untagged
    GroupJoined: TypeAlias = engagement.GroupJoined
    GroupLeft: TypeAlias = engagement.GroupLeft
    MessageReceived: TypeAlias = engagement.MessageReceived
    MessageSent: TypeAlias = engagement.MessageSent
    HolidayGreetingSent: TypeAlias = engagement.HolidayGreetingSent
    FollowUpRecorded: TypeAlias = engagement.FollowUpRecorded
    ScriptUsed: TypeAlias = engagement.ScriptUsed
    SensitiveWordsFound: TypeAlias = engagement.SensitiveWordsFound
    ContentViewed: TypeAlias = engagement.ContentViewed
    ContentForwarded: TypeAlias = engagement.ContentForwarded
    ContentCommented: TypeAlias = engagement.ContentCommented
    ActivityJoined: TypeAlias = engagement.ActivityJoined
    LiveStreamWatched: TypeAlias = engagement.LiveStreamWatched
    StoreVisited: TypeAlias = engagement.StoreVisited
    SurveyAnswered: TypeAlias = engagement.SurveyAnswered
    ProductViewed: TypeAlias = commerce.ProductViewed
    AddedToCart: TypeAlias = commerce.AddedToCart
    CouponIssued: TypeAlias = commerce.CouponIssued
    CouponRedeemed: TypeAlias = commerce.CouponRedeemed
    OrderPlaced: TypeAlias = commerce.OrderPlaced
    OrderCancelled: TypeAlias = commerce.OrderCancelled
    OrderPaid: TypeAlias = commerce.OrderPaid
    OrderRefunded: TypeAlias = commerce.OrderRefunded
    PointsEarned: TypeAlias = commerce.PointsEarned
    PointsSpent: TypeAlias = commerce.PointsSpent
    WelcomeMessageSent: TypeAlias = outreach.WelcomeMessageSent
    WelcomeMessageFailed: TypeAlias = outreach.WelcomeMessageFailed
    CampaignMessageSent: TypeAlias = outreach.CampaignMessageSent
    CampaignMessageDelivered: TypeAlias = outreach.CampaignMessageDelivered
    CampaignMessageRead: TypeAlias = outreach.CampaignMessageRead
    CampaignLinkClicked: TypeAlias = outreach.CampaignLinkClicked
    CampaignMessageFailed: TypeAlias = outreach.CampaignMessageFailed
    SopStepSent: TypeAlias = outreach.SopStepSent
    SopStepFailed: TypeAlias = outreach.SopStepFailed
    SopStepSkipped: TypeAlias = outreach.SopStepSkipped

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
        self.erased = False  # personal data erased (PIPL): no identity, no vault key

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
