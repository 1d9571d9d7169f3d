"""The ``Customer`` aggregate: one customer, every channel, every action.

Every event says **who** (``by``: ``staff:<id>``, ``customer:<id>``,
``service:<name>`` or ``system``) and **when** (``occurred_at``: business time
given by the caller, separate from the recording ``timestamp``).

Events never hold personal data in clear: identities appear as keyed blind
indexes, names and phone numbers live in the encrypted personal-data vault.
The aggregate keeps only the state its commands need to decide.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import (
    IdentityTaken,
    InvalidAmount,
    InvalidInput,
    OrderAlreadyPaid,
    RefundExceedsPayment,
    UnknownOrder,
)

FRIEND_DELETERS = frozenset({"customer", "staff"})


class Customer(Aggregate):
    """A customer known through any number of identities (OneID)."""

    class Registered(Aggregate.Created):
        first_channel: str
        by: str
        occurred_at: datetime

    class IdentityLinked(Aggregate.Event):
        namespace: str
        blind_index: str
        by: str
        occurred_at: datetime

    class PersonalDataRecorded(Aggregate.Event):
        """Fields written to the vault (names only; the values are encrypted there)."""

        fields: list[str]
        by: str
        occurred_at: datetime

    class FriendAdded(Aggregate.Event):
        staff_id: str
        channel: str
        state: str | None
        welcome_code: str | None
        by: str
        occurred_at: datetime

    class FriendDeleted(Aggregate.Event):
        staff_id: str
        deleted_by: str
        by: str
        occurred_at: datetime

    class Tagged(Aggregate.Event):
        tag: str
        by: str
        occurred_at: datetime

    class Untagged(Aggregate.Event):
        tag: str
        by: str
        occurred_at: datetime

    class GroupJoined(Aggregate.Event):
        group_id: str
        by: str
        occurred_at: datetime

    class GroupLeft(Aggregate.Event):
        group_id: str
        by: str
        occurred_at: datetime

    class ContentViewed(Aggregate.Event):
        content_id: str
        channel: str
        by: str
        occurred_at: datetime

    class OrderPaid(Aggregate.Event):
        order_id: str
        amount_fen: int
        items: list[dict[str, Any]]
        channel: str
        by: str
        occurred_at: datetime

    class OrderRefunded(Aggregate.Event):
        order_id: str
        amount_fen: int
        by: str
        occurred_at: datetime

    class WelcomeMessageSent(Aggregate.Event):
        staff_id: str
        template_id: str
        gateway_message_id: str
        by: str
        occurred_at: datetime

    class WelcomeMessageFailed(Aggregate.Event):
        staff_id: str
        reason: str
        by: str
        occurred_at: datetime

    @event(Registered)
    def __init__(self, first_channel: str, by: str, occurred_at: datetime) -> None:
        self.first_channel = first_channel
        self.identities: dict[str, str] = {}  # blind index -> namespace
        self.friends: dict[str, datetime] = {}  # staff id -> since
        self.tags: set[str] = set()
        self.groups: set[str] = set()
        self.orders: dict[str, list[int]] = {}  # order id -> [paid, refunded] in fen

    # -- identities --------------------------------------------------------
    def link_identity(self, namespace: str, blind: str, by: str, occurred_at: datetime) -> None:
        if blind in self.identities:
            return
        self._link_identity(namespace=namespace, blind_index=blind, by=by, occurred_at=occurred_at)

    @event(IdentityLinked)
    def _link_identity(
        self, namespace: str, blind_index: str, by: str, occurred_at: datetime
    ) -> None:
        self.identities[blind_index] = namespace

    def record_personal_data(self, fields: list[str], by: str, occurred_at: datetime) -> None:
        if fields:
            self._record_personal_data(fields=sorted(fields), by=by, occurred_at=occurred_at)

    @event(PersonalDataRecorded)
    def _record_personal_data(self, fields: list[str], by: str, occurred_at: datetime) -> None:
        pass

    # -- relationship with staff ------------------------------------------
    def add_friend(
        self,
        staff_id: str,
        channel: str,
        state: str | None,
        welcome_code: str | None,
        by: str,
        occurred_at: datetime,
    ) -> None:
        self._add_friend(
            staff_id=staff_id,
            channel=channel,
            state=state,
            welcome_code=welcome_code,
            by=by,
            occurred_at=occurred_at,
        )

    @event(FriendAdded)
    def _add_friend(
        self,
        staff_id: str,
        channel: str,
        state: str | None,
        welcome_code: str | None,
        by: str,
        occurred_at: datetime,
    ) -> None:
        self.friends[staff_id] = occurred_at

    def delete_friend(
        self, staff_id: str, deleted_by: str, by: str, occurred_at: datetime
    ) -> None:
        if deleted_by not in FRIEND_DELETERS:
            raise InvalidInput(
                f"deletedBy must be one of {sorted(FRIEND_DELETERS)}", field="deletedBy"
            )
        self._delete_friend(
            staff_id=staff_id, deleted_by=deleted_by, by=by, occurred_at=occurred_at
        )

    @event(FriendDeleted)
    def _delete_friend(
        self, staff_id: str, deleted_by: str, by: str, occurred_at: datetime
    ) -> None:
        self.friends.pop(staff_id, None)

    # -- tags and groups ---------------------------------------------------
    def tag(self, tag: str, by: str, occurred_at: datetime) -> None:
        if tag not in self.tags:
            self._tag(tag=tag, by=by, occurred_at=occurred_at)

    @event(Tagged)
    def _tag(self, tag: str, by: str, occurred_at: datetime) -> None:
        self.tags.add(tag)

    def untag(self, tag: str, by: str, occurred_at: datetime) -> None:
        if tag in self.tags:
            self._untag(tag=tag, by=by, occurred_at=occurred_at)

    @event(Untagged)
    def _untag(self, tag: str, by: str, occurred_at: datetime) -> None:
        self.tags.discard(tag)

    def join_group(self, group_id: str, by: str, occurred_at: datetime) -> None:
        if group_id not in self.groups:
            self._join_group(group_id=group_id, by=by, occurred_at=occurred_at)

    @event(GroupJoined)
    def _join_group(self, group_id: str, by: str, occurred_at: datetime) -> None:
        self.groups.add(group_id)

    def leave_group(self, group_id: str, by: str, occurred_at: datetime) -> None:
        if group_id in self.groups:
            self._leave_group(group_id=group_id, by=by, occurred_at=occurred_at)

    @event(GroupLeft)
    def _leave_group(self, group_id: str, by: str, occurred_at: datetime) -> None:
        self.groups.discard(group_id)

    # -- behaviour -----------------------------------------------------------
    def view_content(self, content_id: str, channel: str, by: str, occurred_at: datetime) -> None:
        self._view_content(content_id=content_id, channel=channel, by=by, occurred_at=occurred_at)

    @event(ContentViewed)
    def _view_content(self, content_id: str, channel: str, by: str, occurred_at: datetime) -> None:
        pass

    # -- orders ----------------------------------------------------------------
    def pay_order(
        self,
        order_id: str,
        amount_fen: int,
        items: list[dict[str, Any]],
        channel: str,
        by: str,
        occurred_at: datetime,
    ) -> None:
        if amount_fen < 0:
            raise InvalidAmount("amountFen must not be negative", field="amountFen")
        if order_id in self.orders:
            raise OrderAlreadyPaid(f"order {order_id!r} is already paid", field="orderId")
        self._pay_order(
            order_id=order_id,
            amount_fen=amount_fen,
            items=items,
            channel=channel,
            by=by,
            occurred_at=occurred_at,
        )

    @event(OrderPaid)
    def _pay_order(
        self,
        order_id: str,
        amount_fen: int,
        items: list[dict[str, Any]],
        channel: str,
        by: str,
        occurred_at: datetime,
    ) -> None:
        self.orders[order_id] = [amount_fen, 0]

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
                field="amountFen",
            )
        self._refund_order(order_id=order_id, amount_fen=amount_fen, by=by,
                           occurred_at=occurred_at)

    @event(OrderRefunded)
    def _refund_order(self, order_id: str, amount_fen: int, by: str, occurred_at: datetime) -> None:
        self.orders[order_id][1] += amount_fen

    # -- outbound outcomes -----------------------------------------------------
    def record_welcome_sent(
        self, staff_id: str, template_id: str, gateway_message_id: str, by: str,
        occurred_at: datetime,
    ) -> None:
        self._record_welcome_sent(staff_id=staff_id, template_id=template_id,
                                  gateway_message_id=gateway_message_id, by=by,
                                  occurred_at=occurred_at)

    @event(WelcomeMessageSent)
    def _record_welcome_sent(
        self, staff_id: str, template_id: str, gateway_message_id: str, by: str,
        occurred_at: datetime,
    ) -> None:
        pass

    def record_welcome_failed(
        self, staff_id: str, reason: str, by: str, occurred_at: datetime
    ) -> None:
        self._record_welcome_failed(staff_id=staff_id, reason=reason, by=by,
                                    occurred_at=occurred_at)

    @event(WelcomeMessageFailed)
    def _record_welcome_failed(
        self, staff_id: str, reason: str, by: str, occurred_at: datetime
    ) -> None:
        pass


def ensure_identity_free(owner: UUID | None, customer_id: UUID) -> None:
    """Refuse to link an identity that already belongs to another customer.

    (Merging two customers is a later capability; until then this is refused.)
    """
    if owner is not None and owner != customer_id:
        raise IdentityTaken("this identity already belongs to another customer",
                            field="identity")
