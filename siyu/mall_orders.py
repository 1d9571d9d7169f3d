"""Mapping a mall export's record to an order event: the columns checked one by one.

A valid record becomes an :class:`OrderLine` (its ``ORDER_*`` event item, and the phone
link when both identities are given); anything else becomes a :class:`Rejected` naming
the line, the order, a stable code and the column at fault — never personal data. The
columns are described in :mod:`siyu.mall_import`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from domain.errors import InvalidIdentity
from domain.identity import Identity, parse_identity
from domain.items import EventItem, OrderItem
from siyu.mall_files import LineError, Record

#: Mainland China has kept UTC+08:00 without daylight saving since 1991.
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")
STATUSES = {"placed": "ORDER_PLACED", "paid": "ORDER_PAID", "cancelled": "ORDER_CANCELLED",
            "refunded": "ORDER_REFUNDED"}
MAX_AMOUNT_FEN = 10**12
MAX_QUANTITY = 10**6
MAX_ITEMS = 200
MAX_TEXT = 128

_ID = re.compile(r"^[A-Za-z0-9_\-.]{1,56}$")
_FEN = re.compile(r"^\d{1,13}$")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")
#: Control characters and lone surrogates: PostgreSQL text/jsonb cannot hold NUL, and a lone
#: surrogate (a valid JSON escape) cannot be encoded at all.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class OrderLine:
    """A valid line: its order event, and the phone link when both identities are given."""

    number: int
    order_id: str
    item: EventItem
    link: EventItem | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """A line that stored nothing (or, with ``link`` set, whose phone was not linked)."""

    number: int
    order_id: str | None
    code: str
    field: str | None
    message: str
    link: bool = False

    def describe(self) -> str:
        where = f"line {self.number}" + (f" (order {self.order_id})" if self.order_id else "")
        what = f"{self.code} [{self.field}]" if self.field else self.code
        if self.link:
            return f"{where}: order stored, phone not linked: {what}: {self.message}"
        return f"{where}: {what}: {self.message}"


def _value(record: Mapping[str, Any], name: str) -> Any:
    value = record.get(name)
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _missing(name: str, why: str = "") -> LineError:
    return LineError("MISSING_FIELD", name, f"{name} is required{why}")


def _id(record: Mapping[str, Any], name: str, why: str = "") -> str:
    value = _value(record, name)
    if value is None:
        raise _missing(name, why)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise LineError("INVALID_INPUT", name, f"{name} must be a string")
    text = str(value).strip()
    if not _ID.match(text):
        raise LineError("INVALID_INPUT", name,
                        f"{name} must be 1-56 letters, digits, '_', '-' or '.'")
    return text


def _fen(value: Any, name: str, *, positive: bool = False) -> int:
    if isinstance(value, str) and _FEN.match(value.strip()):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise LineError("INVALID_AMOUNT", name,
                        f"{name} must be a whole number of fen (12900 for ¥129.00)")
    if value < (1 if positive else 0) or value > MAX_AMOUNT_FEN:
        raise LineError("INVALID_AMOUNT", name,
                        f"{name} must be from {1 if positive else 0} to {MAX_AMOUNT_FEN} fen")
    return value


def _quantity(value: Any, name: str) -> int:
    if isinstance(value, str) and value.strip().isdecimal() and len(value.strip()) <= 7:
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_QUANTITY:
        raise LineError("INVALID_INPUT", name, f"{name} must be a whole number from 1 to "
                                               f"{MAX_QUANTITY}")
    return value


def _label(value: Any, name: str, longest: int = MAX_TEXT) -> str:
    """A free-text label (SKU, store, channel): 1 to ``longest`` printable characters."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise LineError("INVALID_INPUT", name, f"{name} must be a string")
    text = str(value).strip()
    if not 1 <= len(text) <= longest or _UNPRINTABLE.search(text):
        raise LineError("INVALID_INPUT", name,
                        f"{name} must be 1-{longest} printable characters")
    return text


def parse_items(value: Any) -> list[OrderItem]:
    """``sku:quantity:price_fen;…``, a JSON array as text, or a list of objects."""
    if value is None:
        return []
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            raise LineError("INVALID_INPUT", "items", "items is not a JSON array") from None
    if isinstance(value, str):
        entries: list[Any] = []
        for n, part in enumerate(p for p in value.split(";") if p.strip()):
            fields = part.strip().rsplit(":", 2)
            if len(fields) != 3:
                raise LineError("INVALID_INPUT", f"items[{n}]",
                                "items are sku:quantity:price_fen separated by ';'")
            entries.append(dict(zip(("sku", "quantity", "price_fen"), fields, strict=True)))
        value = entries
    if not isinstance(value, list):
        raise LineError("INVALID_INPUT", "items", "items must be a list")
    if len(value) > MAX_ITEMS:
        raise LineError("INVALID_INPUT", "items", f"at most {MAX_ITEMS} items per line")
    out: list[OrderItem] = []
    for n, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise LineError("INVALID_INPUT", f"items[{n}]",
                            "an item is an object with sku, quantity and price_fen")
        for name in ("sku", "quantity", "price_fen"):
            if entry.get(name) is None:
                raise _missing(f"items[{n}].{name}")
        out.append(OrderItem(_label(entry["sku"], f"items[{n}].sku"),
                             _quantity(entry["quantity"], f"items[{n}].quantity"),
                             _fen(entry["price_fen"], f"items[{n}].price_fen")))
    return out


def parse_time(value: Any) -> datetime:
    """ISO 8601 with a time of day; without an offset, Asia/Shanghai. Returned in UTC."""
    if value is None:
        raise _missing("occurred_at")
    if not isinstance(value, str) or not _TIME.match(value.strip()):
        raise LineError("INVALID_TIME", "occurred_at",
                        "occurred_at must be ISO 8601 with a time, e.g. 2026-11-20T10:00:00+08:00")
    try:
        at = datetime.fromisoformat(value.strip())
        if at.tzinfo is None:
            at = at.replace(tzinfo=SHANGHAI)
        return at.astimezone(UTC)
    except (ValueError, OverflowError):
        raise LineError("INVALID_TIME", "occurred_at",
                        "occurred_at is not a valid ISO 8601 time") from None


def _identity(record: Mapping[str, Any], name: str, namespace: str) -> Identity | None:
    value = _value(record, name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise LineError("INVALID_IDENTITY", name, f"{name} must be a string")
    try:
        return parse_identity(namespace, str(value))
    except InvalidIdentity:
        hint = ("E.164 (+8613800138000) or an 11-digit mainland mobile" if name == "phone"
                else "1-128 letters, digits or _-@.+=/")
        raise LineError("INVALID_IDENTITY", name, f"{name} must be {hint}") from None


def _channel(record: Mapping[str, Any]) -> str:
    channel = _value(record, "channel")
    if channel is not None:
        return _label(channel, "channel")
    store = _value(record, "store")
    return "mall" if store is None else f"mall:{_label(store, 'store', 64)}"


def order_line(number: int, record: Mapping[str, Any]) -> OrderLine:
    """Map one line to its order event; raise :class:`LineError` if it cannot be one."""
    order_id = _id(record, "order_id")
    status_value = _value(record, "status")
    if status_value is None:
        raise _missing("status")
    status = status_value.strip().lower() if isinstance(status_value, str) else ""
    kind = STATUSES.get(status)
    if kind is None:
        raise LineError("UNKNOWN_STATUS", "status",
                        f"status must be one of {', '.join(STATUSES)}")
    member = _identity(record, "member_id", "mall_member")
    phone = _identity(record, "phone", "phone")
    customer = member or phone
    if customer is None:
        raise LineError("MISSING_FIELD", "member_id", "member_id or phone is required")
    occurred_at = parse_time(_value(record, "occurred_at"))
    channel = _channel(record)
    event_id = f"mall:{order_id}:{status}"
    item = EventItem(event_id, kind, customer, occurred_at, channel=channel, order_id=order_id)
    if status in ("placed", "paid"):
        amount = _value(record, "amount_fen")
        if amount is None:
            raise _missing("amount_fen", f" for {status}")
        item.amount_fen = _fen(amount, "amount_fen")
        item.items = parse_items(_value(record, "items"))
    elif status == "refunded":
        refund_id = _id(record, "refund_id", " for refunded")
        amount = _value(record, "amount_fen")
        if amount is None:
            raise _missing("amount_fen", " for refunded (the refund amount)")
        item.amount_fen = _fen(amount, "amount_fen", positive=True)
        item.event_id = event_id = f"mall:{order_id}:refund:{refund_id}"
    link = None
    if member is not None and phone is not None:
        link = EventItem(f"{event_id}:link", "IDENTITY_LINKED", member, occurred_at,
                         channel=channel, link=phone)
    return OrderLine(number, order_id, item, link)


def parse_line(number: int, record: Record) -> OrderLine | Rejected:
    """:func:`order_line`, with a failure turned into a :class:`Rejected` report."""
    if isinstance(record, LineError):
        return Rejected(number, None, record.code, record.field, record.message)
    try:
        return order_line(number, record)
    except LineError as error:
        order_id = _value(record, "order_id")
        shown = str(order_id).strip() if isinstance(order_id, str | int) and not isinstance(
            order_id, bool) and _ID.match(str(order_id).strip()) else None
        return Rejected(number, shown, error.code, error.field, error.message)


def column(field: str | None, identity: Any) -> str | None:
    """A domain error's field (camelCase, GraphQL-style) named as the file's column."""
    if field is None:
        return None
    if field.startswith("customer"):
        kind = identity.namespace if isinstance(identity, Identity) else ""
        return "member_id" if kind == "mall_member" else "phone"
    if field.startswith("link"):
        return "phone"
    if field == "eventId":
        return "order_id"
    return _CAMEL.sub(lambda m: "_" + m.group(1).lower(), field)
