"""Ingestion items: one reported customer action, validated into a command.

An item names its customer by any identity, carries a client-supplied
``event_id`` (re-sending the same id records nothing new) and the business
time ``occurred_at``. :func:`parse_item` checks everything that can be checked
without the customer's state and returns a :class:`Command`; the aggregate's
own methods check the rest (e.g. a refund larger than the payment).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.customer import Customer
from domain.errors import (
    InvalidAmount,
    InvalidIdentity,
    InvalidInput,
    InvalidTime,
    MissingField,
    UnknownEventType,
)
from domain.identity import Identity, parse_identity

#: How far in the future a business time may lie (clock skew of devices).
MAX_FUTURE_SKEW = timedelta(minutes=10)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_AMOUNT_FEN = 10**12
MAX_TEXT = 128


@dataclass(slots=True)
class OrderItem:
    sku: str
    quantity: int
    price_fen: int


@dataclass(slots=True)
class EventItem:
    """One action as reported by a client; every field but the first four is per type."""

    event_id: str
    type: str
    identity: Identity | tuple[str, str]
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
    link: Identity | tuple[str, str] | None = None
    nickname: str | None = None


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
    personal: dict[str, str] = field(default_factory=dict)


def _text(item: EventItem, name: str, *, required: bool = True) -> str | None:
    value = getattr(item, name)
    camel = _camel(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise MissingField(f"{camel} is required for {item.type}", field=camel)
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise InvalidInput(f"{camel} must be a string of at most {MAX_TEXT} characters",
                           field=camel)
    return value.strip()


def _req(item: EventItem, name: str) -> str:
    value = _text(item, name)
    assert value is not None
    return value


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _amount(item: EventItem) -> int:
    if item.amount_fen is None:
        raise MissingField(f"amountFen is required for {item.type}", field="amountFen")
    if isinstance(item.amount_fen, bool) or not isinstance(item.amount_fen, int):
        raise InvalidAmount("amountFen must be an integer number of fen", field="amountFen")
    if item.amount_fen < 0:
        raise InvalidAmount("amountFen must not be negative", field="amountFen")
    if item.amount_fen > MAX_AMOUNT_FEN:
        raise InvalidAmount("amountFen is implausibly large", field="amountFen")
    return item.amount_fen


def _identity(raw: Identity | tuple[str, str] | None, name: str) -> Identity:
    if raw is None:
        raise MissingField(f"{name} is required", field=name)
    namespace, value = (raw.namespace, raw.value) if isinstance(raw, Identity) else raw
    try:
        return parse_identity(namespace, value)
    except InvalidIdentity as error:
        where = f"{name}.{error.field}" if error.field else name
        raise InvalidIdentity(error.message, field=where) from None


def _time(item: EventItem, now: datetime) -> datetime:
    at = item.occurred_at
    if at.tzinfo is None:
        raise InvalidTime("occurredAt needs a time zone offset", field="occurredAt")
    if at > now + MAX_FUTURE_SKEW:
        raise InvalidTime("occurredAt is in the future", field="occurredAt")
    if at < EARLIEST:
        raise InvalidTime("occurredAt is before 2000-01-01", field="occurredAt")
    return at.astimezone(UTC)


def _order_items(item: EventItem) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for n, line in enumerate(item.items):
        if not line.sku or len(line.sku) > MAX_TEXT:
            raise InvalidInput("sku must be 1-128 characters", field=f"items[{n}].sku")
        if line.quantity <= 0:
            raise InvalidInput("quantity must be positive", field=f"items[{n}].quantity")
        if line.price_fen < 0:
            raise InvalidAmount("priceFen must not be negative", field=f"items[{n}].priceFen")
        rows.append({"sku": line.sku, "quantity": line.quantity, "price_fen": line.price_fen})
    return rows


def parse_item(item: EventItem, now: datetime) -> Command:
    """Validate an item into a command, or raise a :class:`~domain.errors.DomainError`."""
    event_id = item.event_id
    if not isinstance(event_id, str) or not 1 <= len(event_id) <= MAX_TEXT:
        raise InvalidInput("eventId must be 1-128 characters", field="eventId")
    builder = _BUILDERS.get(item.type)
    if builder is None:
        raise UnknownEventType(
            f"unknown event type {item.type!r}; expected one of {sorted(_BUILDERS)}",
            field="type",
        )
    identity = _identity(item.identity, "customer")
    occurred_at = _time(item, now)
    channel = _text(item, "channel", required=False) or "unknown"
    command = Command(event_id=event_id, identity=identity, occurred_at=occurred_at,
                      channel=channel, apply=lambda customer, by: None)
    builder(item, command)
    return command


def _registered(item: EventItem, command: Command) -> None:
    pass  # first sight creates the customer; nothing more to do


def _identity_linked(item: EventItem, command: Command) -> None:
    command.link = _identity(item.link, "link")


def _profile_updated(item: EventItem, command: Command) -> None:
    nickname = _text(item, "nickname", required=False)
    if nickname is None:
        raise MissingField("nickname is required for PROFILE_UPDATED", field="nickname")
    command.personal["nickname"] = nickname

    def apply(customer: Customer, by: str) -> None:
        customer.record_personal_data(["nickname"], by, command.occurred_at)

    command.apply = apply


def _friend_added(item: EventItem, command: Command) -> None:
    staff_id = _req(item, "staff_id")
    state = _text(item, "state", required=False)
    welcome_code = _text(item, "welcome_code", required=False)

    def apply(customer: Customer, by: str) -> None:
        customer.add_friend(staff_id, command.channel, state, welcome_code, by,
                            command.occurred_at)

    command.apply = apply


def _friend_deleted(item: EventItem, command: Command) -> None:
    staff_id = _req(item, "staff_id")
    deleted_by = _req(item, "deleted_by").lower()

    def apply(customer: Customer, by: str) -> None:
        customer.delete_friend(staff_id, deleted_by, by, command.occurred_at)

    if deleted_by not in ("customer", "staff"):
        raise InvalidInput("deletedBy must be CUSTOMER or STAFF", field="deletedBy")
    command.apply = apply


def _tag_like(method: str, attr: str) -> Callable[[EventItem, Command], None]:
    def build(item: EventItem, command: Command) -> None:
        value = _req(item, attr)

        def apply(customer: Customer, by: str) -> None:
            getattr(customer, method)(value, by, command.occurred_at)

        command.apply = apply

    return build


def _content_viewed(item: EventItem, command: Command) -> None:
    content_id = _req(item, "content_id")

    def apply(customer: Customer, by: str) -> None:
        customer.view_content(content_id, command.channel, by, command.occurred_at)

    command.apply = apply


def _order_paid(item: EventItem, command: Command) -> None:
    order_id = _req(item, "order_id")
    amount = _amount(item)
    lines = _order_items(item)

    def apply(customer: Customer, by: str) -> None:
        customer.pay_order(order_id, amount, lines, command.channel, by, command.occurred_at)

    command.apply = apply


def _order_refunded(item: EventItem, command: Command) -> None:
    order_id = _req(item, "order_id")
    amount = _amount(item)
    if amount == 0:
        raise InvalidAmount("amountFen of a refund must be positive", field="amountFen")

    def apply(customer: Customer, by: str) -> None:
        customer.refund_order(order_id, amount, by, command.occurred_at)

    command.apply = apply


_BUILDERS: dict[str, Callable[[EventItem, Command], None]] = {
    "REGISTERED": _registered,
    "IDENTITY_LINKED": _identity_linked,
    "PROFILE_UPDATED": _profile_updated,
    "FRIEND_ADDED": _friend_added,
    "FRIEND_DELETED": _friend_deleted,
    "TAGGED": _tag_like("tag", "tag"),
    "UNTAGGED": _tag_like("untag", "tag"),
    "GROUP_JOINED": _tag_like("join_group", "group_id"),
    "GROUP_LEFT": _tag_like("leave_group", "group_id"),
    "CONTENT_VIEWED": _content_viewed,
    "ORDER_PAID": _order_paid,
    "ORDER_REFUNDED": _order_refunded,
}

EVENT_TYPES = tuple(sorted(_BUILDERS))
