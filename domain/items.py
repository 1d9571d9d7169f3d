"""What clients report: :class:`EventItem`, and the :class:`Command` it is validated into."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from domain.customer import Customer
from domain.identity import Identity


@dataclass(slots=True)
class OrderItem:
    sku: str
    quantity: int
    price_fen: int
    category: str | None = None


IdentityValue = Identity | tuple[str, str]


@dataclass(slots=True)
class EventItem:
    """One action as reported by a client; every field but the first four is per type."""

    event_id: str
    type: str
    identity: IdentityValue
    occurred_at: datetime
    channel: str | None = None
    staff_id: str | None = None
    state: str | None = None
    welcome_code: str | None = None
    deleted_by: str | None = None
    tag: str | None = None
    group_id: str | None = None
    content_id: str | None = None
    order_id: str | None = None
    amount_fen: int | None = None
    items: list[OrderItem] = field(default_factory=list)
    link: IdentityValue | None = None
    nickname: str | None = None
    inviter: IdentityValue | None = None
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
    text: str | None = None  # MESSAGE_SENT / _RECEIVED: scanned, never stored in an event
    script_id: str | None = None
    script_version: int | None = None
    survey_kind: str | None = None
    score: int | None = None


#: Optional scalar fields of an item, for adapters that map them by name.
ITEM_FIELDS = tuple(f.name for f in fields(EventItem))[4:]

Apply = Callable[[Customer, str], None]


@dataclass(slots=True)
class Command:
    """A validated item: its customer identity, and what to do to that customer."""

    event_id: str
    identity: Identity
    occurred_at: datetime
    channel: str
    apply: Apply
    link: Identity | None = None
    inviter: Identity | None = None
    campaign_id: str | None = None
    #: A referral invite code carried by the item (FRIEND_ADDED / REGISTERED ``state``).
    invite_code: str | None = None
    #: ORDER_PAID: a referral campaign may reward the invitee's first paid order.
    pays_order: bool = False
    personal: dict[str, str] = field(default_factory=dict)
    #: A message's text, to scan against the lexicon: a staff message's is sealed only if
    #: it hits, a customer message's (``message_side`` ``customer``) always.
    message_text: str | None = None
    message_staff_id: str | None = None
    message_kind: str | None = None
    message_side: str = "staff"
    #: A fact and its fields when that is all the item records (no decision on the
    #: customer's state): the application may write it straight as a stored row.
    fact: tuple[type[Customer.Fact], dict[str, Any]] | None = None
