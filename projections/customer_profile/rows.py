"""``customer_profile``: one row per customer, the answer to "who is this customer?".

The row logic is a pure function of the previous row and one event, so it is
tested without a database and the PostgreSQL view only loads, applies and
upserts. Lifecycle depends on the current time and is computed at read time
by the SQL function ``siyu_lifecycle`` (see ``docs/bi.md``).

A merged customer's row folds the events of every stream in its group (the
survivor and the customers it absorbed), in log order: ``row_id`` is the
group's root, and idempotency is kept per stream (``stream_versions``).

Bump :data:`VERSION` when the row shape changes: the runner then drops the
table and rebuilds it from the event log.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache, lru_cache
from typing import Any, NamedTuple
from uuid import UUID

from domain.customer import Customer

VERSION = 13  # v7: order times (windows); v8: categories, topics; v9: consents withdrawn;
#  v10: personal WeChat friends; v11: erasure (identities kept as namespaces only);
#  v12: segment_ledger.occurred_at (business time); v13: order lines (segments by product
#  and library category), segment_product

Row = dict[str, Any]

#: Events that count as the customer interacting with the brand.
INTERACTIONS: tuple[type[Any], ...] = (
    Customer.Registered, Customer.FriendAdded, Customer.HalfFriendAdded, Customer.GroupJoined,
    Customer.ContentViewed, Customer.ContentForwarded, Customer.ContentCommented,
    Customer.ChannelCodeScanned, Customer.MessageReceived, Customer.ActivityJoined,
    Customer.LiveStreamWatched, Customer.StoreVisited, Customer.ProductViewed,
    Customer.AddedToCart, Customer.OrderPlaced, Customer.OrderPaid, Customer.CouponRedeemed,
    Customer.OfficialAccountFollowed, Customer.MemberRegistered,
)

#: Simple counters: event class -> column incremented.
COUNTERS: dict[type[Any], str] = {
    Customer.ContentViewed: "content_views",
    Customer.ContentForwarded: "content_forwards",
    Customer.ReferralBrought: "referrals_brought",
    Customer.CouponIssued: "coupons_issued",
    Customer.CouponRedeemed: "coupons_redeemed",
    Customer.OrderPlaced: "orders_placed",
    Customer.OrderCancelled: "orders_cancelled",
    Customer.MessageReceived: "messages_received",
    Customer.MessageSent: "messages_sent",
    Customer.ActivityJoined: "activities_joined",
}


def new_row(event: Customer.Registered, position: int, row_id: Any) -> Row:
    return {
        "customer_id": row_id,
        "position": position,
        "first_channel": event.first_channel,
        "first_seen_at": event.occurred_at,
        "identities": [],
        "staff_relations": [],
        "friend_changes": [],
        "current_staff_ids": [],
        "ever_friend": False,
        "muted_staff_ids": [],
        "personal_wechat_staff_ids": [],
        "tags": [],
        "tag_details": {},
        "groups": [],
        "official_accounts": [],
        "member_level": None,
        "referred_by": None,
        "order_count": 0,
        "gmv_fen": 0,
        "refund_count": 0,
        "refunded_fen": 0,
        "points_balance": 0,
        "dnd": False,
        "consents": {},
        "consents_withdrawn": [],
        **dict.fromkeys(COUNTERS.values(), 0),
        "last_interaction_at": None,
        "first_order_at": None,
        "last_order_at": None,
        "order_times": [],
        "order_amounts": [],
        "order_lines": [],
        "last_activity_at": None,
        "sku_quantities": {},
        "category_orders": {},
        "topic_views": {},
        "last_message_at": None,
        "event_count": 0,
        "stream_versions": {},
        "updated_at": event.timestamp,
        "erased_at": None,
    }


def _later(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b > a else a


def _earlier(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b < a else a


def _added(values: list[str], value: str) -> list[str]:
    return sorted({*values, value})


def _removed(values: list[str], value: str) -> list[str]:
    return [v for v in values if v != value]


_MESSAGES = (Customer.MessageReceived, Customer.MessageSent)
_DND = (Customer.DoNotDisturbSet, Customer.DoNotDisturbCleared)
#: The fold's branches in order: an event takes the first its class is a subclass of.
_BRANCHES: tuple[Any, ...] = (
    Customer.IdentityLinked, Customer.FriendAdded, Customer.FriendDeleted, Customer.StaffMuted,
    Customer.PersonalWeChatFriendAdded, Customer.PersonalWeChatFriendDeleted, Customer.Tagged,
    Customer.Untagged, Customer.GroupJoined, Customer.GroupLeft,
    Customer.OfficialAccountFollowed, Customer.OfficialAccountUnfollowed,
    Customer.MemberRegistered, Customer.Referred, _MESSAGES, Customer.OrderPaid,
    Customer.ContentViewed, Customer.ActivityJoined, Customer.OrderRefunded,
    Customer.PointsEarned, Customer.PointsSpent, _DND, Customer.ConsentGiven,
    Customer.ConsentWithdrawn, Customer.Erased,
)


class Traits(NamedTuple):
    registered: bool
    interaction: bool
    counter: str | None
    branch: Any  # the entry of _BRANCHES the fold takes (None: none)


@cache
def traits(kind: type[Any]) -> Traits | None:
    """What the fold does with an event of class ``kind`` (None: not a customer event),
    worked out once per class: ``isinstance`` against these classes costs ~0.15 us each
    (their metaclass), and a fold asked up to fifty of them per event."""
    if not issubclass(kind, (Customer.Event, Customer.Registered)):
        return None
    return Traits(issubclass(kind, Customer.Registered), issubclass(kind, INTERACTIONS),
                  COUNTERS.get(kind), next((b for b in _BRANCHES if issubclass(kind, b)), None))


@lru_cache(maxsize=1 << 16)
def _stream(stream_id: int) -> str:
    """A stream id's text (a key of ``stream_versions``), from its ``UUID.int``: ``str`` of
    a UUID is Python code (~1.5 us here, once per event: 2 % of the profile group's
    Python, profiled), an int is hashed in C; the customers of a busy tail repeat."""
    return str(UUID(int=stream_id))


def apply(row: Row | None, event: Any, position: int, row_id: Any = None) -> Row | None:
    """Fold one event into the row ``row_id`` (default: the event's own customer).

    Idempotent per stream version: an event already folded changes nothing.
    """
    kind = traits(event.__class__)  # (type(event), for a plain object)
    if kind is None:
        return row
    stream = _stream(event.originator_id.int)
    if row is None:
        if not kind.registered:
            return None
        row = new_row(event, position, event.originator_id if row_id is None else row_id)
    if event.originator_version <= row["stream_versions"].get(stream, 0):
        return row  # already applied (replayed batch)
    row = dict(row)
    row["stream_versions"] = {**row["stream_versions"], stream: event.originator_version}
    row["event_count"] += 1
    row["updated_at"] = event.timestamp
    if kind.registered and event.occurred_at < row["first_seen_at"]:
        row["first_seen_at"] = event.occurred_at  # an absorbed customer seen earlier
        row["first_channel"] = event.first_channel
    if kind.interaction:
        row["last_interaction_at"] = _later(row["last_interaction_at"], event.occurred_at)
    if kind.counter is not None:
        row[kind.counter] += 1
    if kind.branch is not None:
        _fold(row, event, kind.branch)
    return row


def _fold(row: Row, event: Any, branch: Any) -> None:
    if branch is Customer.IdentityLinked:
        blind = None if row.get("erased_at") else event.blind_index
        row["identities"] = [*row["identities"],
                             {"namespace": event.namespace, "blind_index": blind,
                              "subject": str(event.originator_id)}]
    elif branch is Customer.FriendAdded:
        _friend_added(row, event)
    elif branch is Customer.FriendDeleted:
        _friend_deleted(row, event)
    elif branch is Customer.StaffMuted:
        row["muted_staff_ids"] = _added(row["muted_staff_ids"], event.staff_id)
    elif branch is Customer.PersonalWeChatFriendAdded:
        row["personal_wechat_staff_ids"] = _added(row["personal_wechat_staff_ids"],
                                                  event.staff_id)
    elif branch is Customer.PersonalWeChatFriendDeleted:
        row["personal_wechat_staff_ids"] = _removed(row["personal_wechat_staff_ids"],
                                                    event.staff_id)
    elif branch is Customer.Tagged:
        row["tags"] = _added(row["tags"], event.tag)
        row["tag_details"] = {**row["tag_details"], event.tag: {
            "by": event.by, "at": event.occurred_at.isoformat(), "reason": event.reason}}
    elif branch is Customer.Untagged:
        row["tags"] = _removed(row["tags"], event.tag)
        row["tag_details"] = {k: v for k, v in row["tag_details"].items() if k != event.tag}
    elif branch is Customer.GroupJoined:
        row["groups"] = _added(row["groups"], event.group_id)
    elif branch is Customer.GroupLeft:
        row["groups"] = _removed(row["groups"], event.group_id)
    elif branch is Customer.OfficialAccountFollowed:
        row["official_accounts"] = _added(row["official_accounts"], event.account_id)
    elif branch is Customer.OfficialAccountUnfollowed:
        row["official_accounts"] = _removed(row["official_accounts"], event.account_id)
    elif branch is Customer.MemberRegistered:
        row["member_level"] = event.member_level
    elif branch is Customer.Referred:
        row["referred_by"] = event.inviter_id
    elif branch is _MESSAGES:
        row["last_message_at"] = _later(row["last_message_at"], event.occurred_at)
    elif branch is Customer.OrderPaid:
        _order_paid(row, event)
    elif branch is Customer.ContentViewed:
        if event.topic:
            row["topic_views"] = {**row["topic_views"],
                                  event.topic: row["topic_views"].get(event.topic, 0) + 1}
    elif branch is Customer.ActivityJoined:
        row["last_activity_at"] = _later(row["last_activity_at"], event.occurred_at)
    elif branch is Customer.OrderRefunded:
        row["refund_count"] += 1
        row["refunded_fen"] += event.amount_fen
    elif branch is Customer.PointsEarned:
        row["points_balance"] += event.points
    elif branch is Customer.PointsSpent:
        row["points_balance"] -= event.points
    elif branch is _DND:
        row["dnd"] = isinstance(event, Customer.DoNotDisturbSet)
    elif branch is Customer.ConsentGiven:
        row["consents"] = {**row["consents"], event.purpose: event.wording_version}
        row["consents_withdrawn"] = _removed(row["consents_withdrawn"], event.purpose)
    elif branch is Customer.ConsentWithdrawn:
        row["consents"] = {k: v for k, v in row["consents"].items() if k != event.purpose}
        row["consents_withdrawn"] = _added(row["consents_withdrawn"], event.purpose)
    elif branch is Customer.Erased:
        _erased(row, event)


def _order_paid(row: Row, event: Customer.OrderPaid) -> None:
    row["order_count"] += 1
    row["gmv_fen"] += event.amount_fen
    row["last_order_at"] = _later(row["last_order_at"], event.occurred_at)
    row["first_order_at"] = _earlier(row["first_order_at"], event.occurred_at)
    _add_paid_order(row, event.occurred_at, event.amount_fen, line_spend(event))
    quantities = dict(row["sku_quantities"])
    for line in event.items:
        quantities[line["sku"]] = quantities.get(line["sku"], 0) + line["quantity"]
    row["sku_quantities"] = quantities
    categories = dict(row["category_orders"])
    for category in {line["category"] for line in event.items if line.get("category")}:
        categories[category] = categories.get(category, 0) + 1
    row["category_orders"] = categories


def _erased(row: Row, event: Customer.Erased) -> None:
    """PIPL erasure: identities keep their namespace (channel KPIs stay true) and lose
    their blind index, now and for every identity folded after it."""
    row["identities"] = [{**i, "blind_index": None} for i in row["identities"]]
    row["erased_at"] = event.occurred_at


def line_spend(event: Customer.OrderPaid) -> dict[str, int]:
    """What the order spent on each SKU, in whole fen: its paid amount shared among its
    lines by line value (quantity * unit price; by quantity when every line is free),
    each share rounded down and the last line taking the remainder, so the shares sum to
    the amount. An order without items spent on no SKU."""
    items = [i for i in event.items if isinstance(i, dict)]
    if not items:
        return {}
    values = [int(i["quantity"]) * int(i["price_fen"]) for i in items]
    weights = values if sum(values) > 0 else [int(i["quantity"]) for i in items]
    total = sum(weights)
    spend: dict[str, int] = {}
    left = event.amount_fen
    for n, (item, weight) in enumerate(zip(items, weights, strict=True)):
        share = left if n == len(items) - 1 else (
            event.amount_fen * weight // total if total else 0)
        left -= share
        sku = str(item["sku"])
        spend[sku] = spend.get(sku, 0) + share
    return spend


def _add_paid_order(row: Row, at: datetime, amount_fen: int, lines: dict[str, int]) -> None:
    """Keep paid orders newest first (business time): windows count from the front.

    The new order goes after every order at or after its time (as a stable sort would put
    it): a binary search, not a sort per order (a customer with thousands of orders is
    folded from checkpoints by ``customer(id, asOf:)``)."""
    times = row["order_times"]
    if times and not (isinstance(times[0], datetime) and isinstance(times[-1], datetime)):
        times = [_as_time(t) for t in times]  # a row read back from JSON
    amounts = row["order_amounts"]
    low, high = 0, len(times)  # the first order older than ``at``
    while low < high:
        middle = (low + high) // 2
        if times[middle] < at:
            high = middle
        else:
            low = middle + 1
    index = low
    row["order_times"] = [*times[:index], at, *times[index:]]
    row["order_amounts"] = [*amounts[:index], amount_fen, *amounts[index:]]
    spent = row["order_lines"]
    row["order_lines"] = [*spent[:index], lines, *spent[index:]]


def _as_time(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _friend_added(row: Row, event: Customer.FriendAdded) -> None:
    _friend_change(row, {"at": event.occurred_at.isoformat(), "staff_id": event.staff_id,
                         "kind": "add", "channel": event.channel, "state": event.state})


def _friend_deleted(row: Row, event: Customer.FriendDeleted) -> None:
    _friend_change(row, {"at": event.occurred_at.isoformat(), "staff_id": event.staff_id,
                         "kind": "delete", "deleted_by": event.deleted_by})


def _friend_change(row: Row, change: dict[str, Any]) -> None:
    """Record an add or delete, then derive the relations in business-time order.

    Callbacks arrive late and out of order (a deletion can arrive before the
    add it ends); ordering by when things happened keeps the relations true.
    """
    change["seq"] = len(row["friend_changes"])
    changes = sorted([*row["friend_changes"], change],
                     key=lambda c: (datetime.fromisoformat(c["at"]), c["seq"]))
    relations: list[dict[str, Any]] = []
    open_by_staff: dict[str, dict[str, Any]] = {}
    for c in changes:
        current = open_by_staff.get(c["staff_id"])
        if c["kind"] == "add" and current is None:
            relation = {"staff_id": c["staff_id"], "since": c["at"], "until": None,
                        "deleted_by": None, "channel": c["channel"], "state": c["state"]}
            relations.append(relation)
            open_by_staff[c["staff_id"]] = relation
        elif c["kind"] == "delete" and current is not None:
            current["until"] = c["at"]
            current["deleted_by"] = c["deleted_by"]
            del open_by_staff[c["staff_id"]]
    row["friend_changes"] = changes
    row["staff_relations"] = relations
    row["current_staff_ids"] = sorted(open_by_staff)
    row["ever_friend"] = bool(relations)
