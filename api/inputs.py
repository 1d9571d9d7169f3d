"""GraphQL inputs of the ingestion and staff mutations, and their mapping to domain items."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

import strawberry

from api.types import Long
from domain.ingestion import ITEM_FIELDS, EventItem, OrderItem

#: Item fields that hold an identity ({namespace, value}).
IDENTITY_FIELDS = ("link", "inviter")


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
    category: str | None = strawberry.field(
        default=None, description="Product category (favourite categories, segments).")


@strawberry.input(description=(
    "One customer action. `type` is one of the types in docs/events.md (FRIEND_ADDED, "
    "ORDER_PAID, CONTENT_VIEWED, …); the other fields are required or allowed per type. "
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
    inviter: IdentityInput | None = None
    campaign_id: str | None = None
    account_id: str | None = None
    member_level: str | None = None
    message_kind: str | None = None
    text_length: int | None = None
    activity_id: str | None = None
    activity_kind: str | None = None
    stream_id: str | None = None
    watch_seconds: int | None = None
    seconds: int | None = None
    topic: str | None = None
    store_id: str | None = None
    sku: str | None = None
    quantity: int | None = None
    coupon_code: str | None = None
    points: int | None = None
    reason: str | None = None
    purpose: str | None = None
    wording_version: str | None = None
    occasion: str | None = None
    follow_up_kind: str | None = None
    text: str | None = strawberry.field(
        default=None, description="MESSAGE_SENT: the message text, scanned against the "
                                  "sensitive-word lexicon and never stored in clear (sealed "
                                  "in the vault only when it hits).")
    script_id: str | None = strawberry.field(default=None, description="SCRIPT_USED: the script.")
    script_version: int | None = strawberry.field(
        default=None, description="SCRIPT_USED: the content version used, if known.")
    survey_kind: str | None = strawberry.field(
        default=None, description="SURVEY_ANSWERED: CSAT (score 1-5) or NPS (score 0-10).")
    score: int | None = strawberry.field(
        default=None, description="SURVEY_ANSWERED: the score given.")

    def to_item(self) -> EventItem:
        values: dict[str, Any] = {name: getattr(self, name) for name in ITEM_FIELDS}
        for name in IDENTITY_FIELDS:
            given = values[name]
            values[name] = None if given is None else (given.namespace, given.value)
        values["items"] = [OrderItem(i.sku, i.quantity, i.price_fen, i.category)
                           for i in self.items or []]
        if self.staff_id is not None:
            values["staff_id"] = str(self.staff_id)
        return EventItem(event_id=self.event_id, type=self.type,
                         identity=(self.customer.namespace, self.customer.value),
                         occurred_at=self.occurred_at, **values)


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
    wecom_user_id: str | None = strawberry.field(
        default=None, description="The member's WeCom UserID: WeCom callbacks credit them.")


@strawberry.input
class LeaveStaffInput:
    staff_id: strawberry.ID
    left_at: datetime | None = None
