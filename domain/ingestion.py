"""Ingestion items: one reported customer action, validated into a command.

An item names its customer by any identity, carries a client-supplied
``event_id`` (re-sending the same id records nothing new) and the business
time ``occurred_at``. :func:`parse_item` checks everything that can be checked
without the customer's state and returns a :class:`Command`; the aggregate's own
methods check the rest (e.g. a refund larger than the payment). The checks every item
type shares (texts, counts, amounts, identities, times) are in :mod:`domain.item_fields`.

Event ids are scoped per source (the principal recording the batch, its ``by``): the
dedupe key is ``(source, event id)``, stored as :func:`client_event_key`; two sources
may both send ``order-1``. Keys stored before were the bare event id: each still belongs
to the source that recorded it (see ``legacy_event_keys`` in :mod:`domain.ports`).

``docs/events.md`` documents every type; a test keeps it complete.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.customer import Customer
from domain.errors import InvalidInput, MissingField, UnknownEventType
from domain.identity import Identity
from domain.item_fields import (
    MAX_MESSAGE_TEXT,
    MAX_TEXT,
    MESSAGE_KINDS,
    amount_field,
    business_time,
    camel,
    count_field,
    identity_field,
    order_lines,
    required_text,
    safe_text,
    staff_field,
    text_field,
)
from domain.items import ITEM_FIELDS, Apply, Command, EventItem, OrderItem
from domain.referral import is_invite_code

__all__ = ["EVENT_TYPES", "ITEM_FIELDS", "Command", "EventItem", "OrderItem", "parse_item"]


#: Prefix of the dedupe keys of client event ids (no internal key starts with it).
CLIENT_KEY_PREFIX = "client/"


def client_event_key(source: str, event_id: str) -> str:
    """The dedupe key of ``event_id`` sent by ``source`` (a source names no ``/``)."""
    if "/" in source or not source:
        raise ValueError(f"a source is a non-empty name without '/': {source!r}")
    return f"{CLIENT_KEY_PREFIX}{source}/{event_id}"


def parse_item(item: EventItem, now: datetime, *, identity: Identity | None = None) -> Command:
    """Validate an item into a command, or raise a :class:`~domain.errors.DomainError`.

    ``identity``: the customer is known already (a customer recording their own actions);
    the item's own identity is then not read."""
    event_id = item.event_id
    if not isinstance(event_id, str) or not 1 <= len(event_id) <= MAX_TEXT:
        raise InvalidInput("eventId must be 1-128 characters", field="eventId")
    safe_text(event_id, "eventId")
    builder = _BUILDERS.get(item.type)
    if builder is None:
        raise UnknownEventType(
            f"unknown event type {item.type!r}; expected one of {sorted(_BUILDERS)}",
            field="type",
        )
    if identity is None:
        identity = identity_field(item.identity, "customer")
    occurred_at = business_time(item, now)
    channel = text_field(item, "channel", required=False) or "unknown"
    command = Command(event_id=event_id, identity=identity, occurred_at=occurred_at,
                      channel=channel, apply=lambda customer, by: None)
    command.apply = builder(item, command)
    return command


Builder = Callable[[EventItem, Command], Apply]

# -- facts: validated fields, recorded as they are ------------------------------------------
# type -> (fact class, [(event field, item field, "text" | "count" | "kind", required)])
_FACTS: dict[str, tuple[type[Customer.Fact], list[tuple[str, str, str, bool]]]] = {
    "CHANNEL_CODE_SCANNED": (Customer.ChannelCodeScanned, [("state", "state", "text", True)]),
    "HALF_FRIEND_ADDED": (Customer.HalfFriendAdded, [
        ("staff_id", "staff_id", "text", True), ("state", "state", "text", False),
        ("welcome_code", "welcome_code", "text", False)]),
    "FRIEND_EDITED": (Customer.FriendEdited, [("staff_id", "staff_id", "text", True)]),
    "TRANSFER_FAILED": (Customer.TransferFailed, [
        ("staff_id", "staff_id", "text", True), ("reason", "reason", "text", True)]),
    "STAFF_MUTED": (Customer.StaffMuted, [("staff_id", "staff_id", "text", True)]),
    "PERSONAL_WECHAT_FRIEND_ADDED": (Customer.PersonalWeChatFriendAdded, [
        ("staff_id", "staff_id", "text", True)]),
    "PERSONAL_WECHAT_FRIEND_DELETED": (Customer.PersonalWeChatFriendDeleted, [
        ("staff_id", "staff_id", "text", True)]),
    "HOLIDAY_GREETING_SENT": (Customer.HolidayGreetingSent, [
        ("staff_id", "staff_id", "text", True), ("occasion", "occasion", "text", True)]),
    "FOLLOW_UP_RECORDED": (Customer.FollowUpRecorded, [
        ("staff_id", "staff_id", "text", True),
        ("follow_up_kind", "follow_up_kind", "text", True)]),
    "CONTENT_VIEWED": (Customer.ContentViewed, [
        ("content_id", "content_id", "text", True), ("seconds", "seconds", "count", False),
        ("topic", "topic", "text", False)]),
    "CONTENT_FORWARDED": (Customer.ContentForwarded, [("content_id", "content_id", "text", True)]),
    "CONTENT_COMMENTED": (Customer.ContentCommented, [
        ("content_id", "content_id", "text", True),
        ("text_length", "text_length", "count", False)]),
    "ACTIVITY_JOINED": (Customer.ActivityJoined, [
        ("activity_id", "activity_id", "text", True),
        ("activity_kind", "activity_kind", "text", True)]),
    "LIVE_STREAM_WATCHED": (Customer.LiveStreamWatched, [
        ("stream_id", "stream_id", "text", True),
        ("watch_seconds", "watch_seconds", "count", True)]),
    "STORE_VISITED": (Customer.StoreVisited, [("store_id", "store_id", "text", True)]),
    "CAMPAIGN_MESSAGE_READ": (Customer.CampaignMessageRead, [
        ("campaign_id", "campaign_id", "uuid", True)]),
    "CAMPAIGN_LINK_CLICKED": (Customer.CampaignLinkClicked, [
        ("campaign_id", "campaign_id", "uuid", True)]),
    "SCRIPT_USED": (Customer.ScriptUsed, [
        ("staff_id", "staff_id", "text", True), ("script_id", "script_id", "text", True),
        ("script_version", "script_version", "count", False)]),
    "PRODUCT_VIEWED": (Customer.ProductViewed, [("sku", "sku", "text", True)]),
    "ADDED_TO_CART": (Customer.AddedToCart, [
        ("sku", "sku", "text", True), ("quantity", "quantity", "count", True)]),
}
_CHANNELLED = {"ChannelCodeScanned", "ContentViewed", "ContentForwarded", "ContentCommented",
               "ProductViewed"}
_ZERO_DEFAULT = {"text_length"}


def _fact_builder(kind: type[Customer.Fact], spec: list[tuple[str, str, str, bool]]) -> Builder:
    def build(item: EventItem, command: Command) -> Apply:
        values: dict[str, Any] = {}
        for event_field, item_field, check, required in spec:
            if check == "count":
                value: Any = count_field(item, item_field, required=required,
                                    minimum=1 if item_field == "quantity" else 0)
                if value is None and event_field in _ZERO_DEFAULT:
                    value = 0
            else:
                value = text_field(item, item_field, required=required)
                if check == "uuid" and value is not None:
                    try:
                        value = str(UUID(value))
                    except ValueError:
                        raise InvalidInput(f"{camel(item_field)} must be an id",
                                           field=camel(item_field)) from None
                if check == "kind" and value not in MESSAGE_KINDS:
                    raise InvalidInput(f"messageKind must be one of {sorted(MESSAGE_KINDS)}",
                                       field=camel(item_field))
            values[event_field] = value
        if kind.__name__ in _CHANNELLED:
            values["channel"] = command.channel
        command.fact = (kind, values)

        def apply(customer: Customer, by: str) -> None:
            customer.record_fact(kind, by=by, occurred_at=command.occurred_at, **values)

        return apply

    return build


# -- commands that decide against the customer's state -------------------------------------
def _registered(item: EventItem, command: Command) -> Apply:
    state = text_field(item, "state", required=False)
    if is_invite_code(state):
        command.invite_code = state  # the application attributes the referral
    return lambda customer, by: None  # first sight creates the customer


def _identity_linked(item: EventItem, command: Command) -> Apply:
    command.link = identity_field(item.link, "link")
    return lambda customer, by: None  # the application links it


def _referred(item: EventItem, command: Command) -> Apply:
    command.inviter = identity_field(item.inviter, "inviter")
    command.campaign_id = required_text(item, "campaign_id")
    return lambda customer, by: None  # the application resolves the inviter


def _profile_updated(item: EventItem, command: Command) -> Apply:
    nickname = text_field(item, "nickname", required=False)
    if nickname is None:
        raise MissingField("nickname is required for PROFILE_UPDATED", field="nickname")
    command.personal["nickname"] = nickname
    return lambda c, by: c.record_personal_data(["nickname"], by, command.occurred_at)


def _friend_added(item: EventItem, command: Command) -> Apply:
    staff_id = staff_field(item)
    state = text_field(item, "state", required=False)
    code = text_field(item, "welcome_code", required=False)
    if is_invite_code(state):
        command.invite_code = state  # the application attributes the referral
    return lambda c, by: c.add_friend(staff_id, command.channel, state, code, by,
                                      command.occurred_at)


def _friend_deleted(item: EventItem, command: Command) -> Apply:
    staff_id = staff_field(item)
    deleted_by = required_text(item, "deleted_by").lower()
    if deleted_by not in ("customer", "staff"):
        raise InvalidInput("deletedBy must be CUSTOMER or STAFF", field="deletedBy")
    return lambda c, by: c.delete_friend(staff_id, deleted_by, by, command.occurred_at)


def _one_text(method: str, attr: str) -> Builder:
    def build(item: EventItem, command: Command) -> Apply:
        value = required_text(item, attr)
        return lambda c, by: getattr(c, method)(value, by, command.occurred_at)

    return build


def _tagging(method: str) -> Builder:
    def build(item: EventItem, command: Command) -> Apply:
        tag = required_text(item, "tag")
        reason = text_field(item, "reason", required=False) or "manual"
        return lambda c, by: getattr(c, method)(tag, by, command.occurred_at, reason)

    return build


def _member_registered(item: EventItem, command: Command) -> Apply:
    level = text_field(item, "member_level", required=False) or "member"
    return lambda c, by: c.register_member(level, by, command.occurred_at)


def _dnd(on: bool) -> Builder:
    def build(item: EventItem, command: Command) -> Apply:
        return lambda c, by: c.set_do_not_disturb(on, by, command.occurred_at)

    return build


def _consent_given(item: EventItem, command: Command) -> Apply:
    purpose = required_text(item, "purpose")
    wording = required_text(item, "wording_version")
    return lambda c, by: c.give_consent(purpose, wording, by, command.occurred_at)


def _coupon_issued(item: EventItem, command: Command) -> Apply:
    code = required_text(item, "coupon_code")
    value = amount_field(item)
    return lambda c, by: c.issue_coupon(code, value, by, command.occurred_at)


def _points(method: str) -> Builder:
    def build(item: EventItem, command: Command) -> Apply:
        points = count_field(item, "points", minimum=1)
        reason = text_field(item, "reason", required=False) or ""
        return lambda c, by: getattr(c, method)(points, reason, by, command.occurred_at)

    return build


def _order(method: str) -> Builder:
    def build(item: EventItem, command: Command) -> Apply:
        order_id = required_text(item, "order_id")
        amount = amount_field(item)
        lines = order_lines(item)
        command.pays_order = method == "pay_order"
        return lambda c, by: getattr(c, method)(order_id, amount, lines, command.channel, by,
                                                command.occurred_at)

    return build


def _message(event: type[Customer.Fact], side: str) -> Builder:
    """A chat message (``MESSAGE_SENT`` by the staff member, ``MESSAGE_RECEIVED`` from the
    customer); its optional ``text`` is scanned by the application, never stored in an
    event (a customer's is sealed in the vault, a staff member's only on a hit)."""
    def build(item: EventItem, command: Command) -> Apply:
        staff_id = required_text(item, "staff_id")
        kind = required_text(item, "message_kind")
        if kind not in MESSAGE_KINDS:
            raise InvalidInput(f"messageKind must be one of {sorted(MESSAGE_KINDS)}",
                               field="messageKind")
        length = count_field(item, "text_length", required=False)
        text = item.text
        if text is not None:
            if not isinstance(text, str) or len(text) > MAX_MESSAGE_TEXT:
                raise InvalidInput(f"text must be a string of at most {MAX_MESSAGE_TEXT} "
                                   "characters", field="text")
            safe_text(text.replace("\n", " ").replace("\t", " "), "text")
            command.message_text, command.message_staff_id, command.message_kind = (
                text, staff_id, kind)
            command.message_side = side
            if length is None:
                length = len(text)
        size = length or 0
        return lambda c, by: c.record_fact(event, staff_id=staff_id, message_kind=kind,
                                           text_length=size, by=by,
                                           occurred_at=command.occurred_at)

    return build


def _order_cancelled(item: EventItem, command: Command) -> Apply:
    order_id = required_text(item, "order_id")
    return lambda c, by: c.cancel_order(order_id, by, command.occurred_at)


def _order_refunded(item: EventItem, command: Command) -> Apply:
    order_id = required_text(item, "order_id")
    amount = amount_field(item, positive=True)
    return lambda c, by: c.refund_order(order_id, amount, by, command.occurred_at)


#: Survey kinds and their score ranges (docs/funnels.md, *Satisfaction*).
SURVEY_SCORES = {"csat": (1, 5), "nps": (0, 10)}


def _survey_answered(item: EventItem, command: Command) -> Apply:
    kind = (required_text(item, "survey_kind")).lower()
    if kind not in SURVEY_SCORES:
        raise InvalidInput("surveyKind must be CSAT or NPS", field="surveyKind")
    low, high = SURVEY_SCORES[kind]
    score = count_field(item, "score")
    if score is None or not low <= score <= high:
        raise InvalidInput(f"score must be {low}-{high} for {kind.upper()}", field="score")
    staff_id = None if item.staff_id is None else staff_field(item)
    return lambda c, by: c.record_fact(Customer.SurveyAnswered, survey_kind=kind, score=score,
                                       staff_id=staff_id, by=by,
                                       occurred_at=command.occurred_at)


_BUILDERS: dict[str, Builder] = {
    "REGISTERED": _registered,
    "IDENTITY_LINKED": _identity_linked,
    "PROFILE_UPDATED": _profile_updated,
    "REFERRED": _referred,
    "OFFICIAL_ACCOUNT_FOLLOWED": _one_text("follow_account", "account_id"),
    "OFFICIAL_ACCOUNT_UNFOLLOWED": _one_text("unfollow_account", "account_id"),
    "MEMBER_REGISTERED": _member_registered,
    "FRIEND_ADDED": _friend_added,
    "FRIEND_DELETED": _friend_deleted,
    "DND_SET": _dnd(True),
    "DND_CLEARED": _dnd(False),
    "CONSENT_GIVEN": _consent_given,
    "CONSENT_WITHDRAWN": _one_text("withdraw_consent", "purpose"),
    "TAGGED": _tagging("tag"),
    "UNTAGGED": _tagging("untag"),
    "GROUP_JOINED": _one_text("join_group", "group_id"),
    "GROUP_LEFT": _one_text("leave_group", "group_id"),
    "COUPON_ISSUED": _coupon_issued,
    "COUPON_REDEEMED": _one_text("redeem_coupon", "coupon_code"),
    "POINTS_EARNED": _points("earn_points"),
    "POINTS_SPENT": _points("spend_points"),
    "ORDER_PLACED": _order("place_order"),
    "ORDER_PAID": _order("pay_order"),
    "ORDER_CANCELLED": _order_cancelled,
    "MESSAGE_SENT": _message(Customer.MessageSent, "staff"),
    "MESSAGE_RECEIVED": _message(Customer.MessageReceived, "customer"),
    "ORDER_REFUNDED": _order_refunded,
    "SURVEY_ANSWERED": _survey_answered,
    **{name: _fact_builder(kind, spec) for name, (kind, spec) in _FACTS.items()},
}

EVENT_TYPES = tuple(sorted(_BUILDERS))
