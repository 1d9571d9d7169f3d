"""GraphQL inputs of the ingestion and staff mutations, and their mapping to domain items."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from api.types import Long
from domain.ingestion import EventItem, OrderItem


@strawberry.input(description="A customer identity: `namespace` is one of wecom_external:<corp>, "
                              "wx_openid:<appid>, wx_unionid, phone, mall_member.")
class IdentityInput:
    namespace: str
    value: str


@strawberry.input
class OrderItemInput:
    sku: str
    quantity: int
    price_fen: Long


@strawberry.input(description=(
    "One customer action. `type` is one of REGISTERED, IDENTITY_LINKED, PROFILE_UPDATED, "
    "FRIEND_ADDED, FRIEND_DELETED, TAGGED, UNTAGGED, GROUP_JOINED, GROUP_LEFT, CONTENT_VIEWED, "
    "ORDER_PAID, ORDER_REFUNDED; the other fields are required per type (docs/events.md). "
    "`eventId` is chosen by the client: re-sending it records nothing new."))
class CustomerEventInput:
    event_id: str
    type: str
    customer: IdentityInput
    occurred_at: datetime
    channel: str | None = None
    staff_id: strawberry.ID | None = None
    state: str | None = None
    welcome_code: str | None = None
    deleted_by: str | None = None
    tag: str | None = None
    group_id: str | None = None
    content_id: str | None = None
    order_id: str | None = None
    amount_fen: Long | None = None
    items: list[OrderItemInput] | None = None
    link: IdentityInput | None = None
    nickname: str | None = None

    def to_item(self) -> EventItem:
        return EventItem(
            event_id=self.event_id,
            type=self.type,
            identity=(self.customer.namespace, self.customer.value),
            occurred_at=self.occurred_at,
            channel=self.channel,
            staff_id=str(self.staff_id) if self.staff_id is not None else None,
            state=self.state,
            welcome_code=self.welcome_code,
            deleted_by=self.deleted_by,
            tag=self.tag,
            group_id=self.group_id,
            content_id=self.content_id,
            order_id=self.order_id,
            amount_fen=self.amount_fen,
            items=[OrderItem(i.sku, i.quantity, i.price_fen) for i in self.items or []],
            link=(self.link.namespace, self.link.value) if self.link else None,
            nickname=self.nickname,
        )


@strawberry.input
class RecordCustomerEventsInput:
    events: list[CustomerEventInput]
    atomic: bool = strawberry.field(
        default=False,
        description="If true, one rejected item stores nothing (others report ABORTED). "
                    "Default: per item — valid items are stored, invalid ones rejected.")
    wait_for_projection: bool = strawberry.field(
        default=False,
        description="Return only once the customer_profile read model includes this write "
                    "(read-your-writes), or when timeoutMs passes (then projected=false).")
    timeout_ms: int = 5000


@strawberry.enum
class ItemStatus(Enum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    ABORTED = "aborted"


@strawberry.input
class HireStaffInput:
    display_name: str
    role: str
    department: str
    hired_at: datetime | None = None


@strawberry.input
class LeaveStaffInput:
    staff_id: strawberry.ID
    left_at: datetime | None = None
