"""The fields of an ingestion item, each checked on its own (no customer state needed).

:mod:`domain.ingestion` maps each item type to the fields it needs; the checks here are
the ones every type shares: texts (length, control characters), counts, amounts in fen,
identities, the business time (time zone, clock skew) and the lines of an order. Each
raises a :class:`~domain.errors.DomainError` naming the field in the client's camelCase.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from domain.errors import InvalidAmount, InvalidIdentity, InvalidInput, InvalidTime, MissingField
from domain.identity import Identity, parse_identity
from domain.items import EventItem, IdentityValue

#: How far in the future a business time may lie (clock skew of devices).
MAX_FUTURE_SKEW = timedelta(minutes=10)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_AMOUNT_FEN = 10**12
MAX_COUNT = 10**9
MAX_TEXT = 128
MAX_MESSAGE_TEXT = 4096
MESSAGE_KINDS = frozenset({"text", "image", "voice", "video", "file", "link", "mini_program",
                           "emotion", "location", "other"})


#: Control characters and lone surrogates: JSON can carry them, text columns cannot.
_UNSAFE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


def safe_text(value: str, field: str) -> str:
    if _UNSAFE.search(value):
        raise InvalidInput(f"{field} has control characters or unpaired surrogates", field=field)
    return value


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def text_field(item: EventItem, name: str, *, required: bool = True) -> str | None:
    value = getattr(item, name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise MissingField(f"{camel(name)} is required for {item.type}", field=camel(name))
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise InvalidInput(f"{camel(name)} must be a string of at most {MAX_TEXT} characters",
                           field=camel(name))
    value = value.strip()
    if _UNSAFE.search(value):  # the field's client name is only spelled out on a refusal
        return safe_text(value, camel(name))
    return value


def required_text(item: EventItem, name: str) -> str:
    value = text_field(item, name)
    assert value is not None
    return value


#: A staff member as events name them: the staff record's id, or ``wecom_user:<UserID>``
#: for a WeCom member without a staff record (WeCom UserIDs: 1-64 letters, digits, ``_-.@``).
_WECOM_STAFF = re.compile(r"wecom_user:[A-Za-z0-9_.@-]{1,64}")


def staff_field(item: EventItem, name: str = "staff_id") -> str:
    """A required staff id: a UUID or ``wecom_user:<UserID>``; anything else names no staff
    member, and a friendship or message recorded against it would be lost to every KPI."""
    value = required_text(item, name)
    if _WECOM_STAFF.fullmatch(value):
        return value
    try:
        return str(UUID(value))
    except ValueError:
        raise InvalidInput(f"{camel(name)} must be a staff id (a UUID, or wecom_user:<UserID>)",
                           field=camel(name)) from None


def count_field(item: EventItem, name: str, *, required: bool = True, minimum: int = 0
           ) -> int | None:
    value = getattr(item, name)
    if value is None:
        if required:
            raise MissingField(f"{camel(name)} is required for {item.type}", field=camel(name))
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_COUNT:
        raise InvalidInput(f"{camel(name)} must be an integer from {minimum} to {MAX_COUNT}",
                           field=camel(name))
    return value


def amount_field(item: EventItem, *, positive: bool = False) -> int:
    if item.amount_fen is None:
        raise MissingField(f"amountFen is required for {item.type}", field="amountFen")
    if isinstance(item.amount_fen, bool) or not isinstance(item.amount_fen, int):
        raise InvalidAmount("amountFen must be an integer number of fen", field="amountFen")
    if item.amount_fen < (1 if positive else 0):
        raise InvalidAmount("amountFen must be positive" if positive
                            else "amountFen must not be negative", field="amountFen")
    if item.amount_fen > MAX_AMOUNT_FEN:
        raise InvalidAmount("amountFen is implausibly large", field="amountFen")
    return item.amount_fen


def identity_field(raw: IdentityValue | None, name: str) -> Identity:
    if raw is None:
        raise MissingField(f"{name} is required", field=name)
    namespace, value = (raw.namespace, raw.value) if isinstance(raw, Identity) else raw
    try:
        return parse_identity(namespace, value)
    except InvalidIdentity as error:
        where = f"{name}.{error.field}" if error.field else name
        raise InvalidIdentity(error.message, field=where) from None


def business_time(item: EventItem, now: datetime) -> datetime:
    at = item.occurred_at
    if not isinstance(at, datetime) or at.tzinfo is None:
        raise InvalidTime("occurredAt needs a time zone offset", field="occurredAt")
    if at > now + MAX_FUTURE_SKEW:
        raise InvalidTime("occurredAt is in the future", field="occurredAt")
    if at < EARLIEST:
        raise InvalidTime("occurredAt is before 2000-01-01", field="occurredAt")
    return at.astimezone(UTC)


def order_lines(item: EventItem) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for n, line in enumerate(item.items):
        if not line.sku or len(line.sku) > MAX_TEXT:
            raise InvalidInput("sku must be 1-128 characters", field=f"items[{n}].sku")
        safe_text(line.sku, f"items[{n}].sku")
        if line.quantity <= 0:
            raise InvalidInput("quantity must be positive", field=f"items[{n}].quantity")
        if line.price_fen < 0:
            raise InvalidAmount("priceFen must not be negative", field=f"items[{n}].priceFen")
        row: dict[str, Any] = {"sku": line.sku, "quantity": line.quantity,
                               "price_fen": line.price_fen}
        if line.category is not None:
            if not line.category.strip() or len(line.category) > MAX_TEXT:
                raise InvalidInput("category must be 1-128 characters",
                                   field=f"items[{n}].category")
            row["category"] = safe_text(line.category.strip(), f"items[{n}].category")
        rows.append(row)
    return rows
