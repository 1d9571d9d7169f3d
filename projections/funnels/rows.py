"""The pure row logic of the funnel read models (docs/funnels.md).

:func:`fold` turns one customer's ``funnel_customer`` row and an event into the next row;
:func:`contributions` says what a row adds to the ``funnel_daily`` and ``cohort_daily``
rollups. The view subtracts a row's old contributions and adds its new ones, so a fact
that arrives late (imported history) moves the customer to the right acquisition day,
channel and checkpoints.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from domain.customer import Customer
from domain.referral import InviteCode

Row = dict[str, Any]
Key = tuple[str, ...]
ZONE = ZoneInfo("Asia/Shanghai")
#: Activation: a customer-initiated fact within this long of acquisition.
ACTIVATION = timedelta(days=7)
#: Retention: a customer-initiated fact this long or more after acquisition.
RETENTION = timedelta(days=7)
UNKNOWN = "unknown"
TOUCHPOINTS = ("wecom_friend", "personal_wechat", "group", "mini_program")
#: Checkpoints after the join day: (column, days, months).
CHECKPOINTS = (("d1", 1, 0), ("d7", 7, 0), ("d30", 30, 0), ("m1", 0, 1), ("m2", 0, 2),
               ("m3", 0, 3), ("m4", 0, 4), ("m5", 0, 5), ("m6", 0, 6))
FUNNEL_COUNTS = ("acquired", "activated", "retained", "paying", "repeat_buyers", "paid_orders",
                 "net_fen", "sharers", "invite_codes", "referrers", "invitees")
COHORT_COUNTS = ("joined", *(c for c, _, _ in CHECKPOINTS))

#: Facts the customer initiates: they activate, retain and keep mini-program members.
ENGAGING: tuple[type[Any], ...] = (
    Customer.ActivityJoined, Customer.ProductViewed, Customer.ContentViewed,
    Customer.LiveStreamWatched, Customer.CampaignLinkClicked, Customer.AddedToCart,
    Customer.OrderPlaced, Customer.OrderPaid, Customer.MessageReceived,
    Customer.ContentForwarded, Customer.ContentCommented, Customer.StoreVisited,
    Customer.SurveyAnswered)
#: Facts that acquire a customer (besides the engaging ones).
ACQUIRING: tuple[type[Any], ...] = (
    Customer.Registered, Customer.FriendAdded, Customer.ChannelCodeScanned,
    Customer.PersonalWeChatFriendAdded, Customer.GroupJoined, Customer.MemberRegistered)
#: Touchpoint joins and leaves: event -> (touchpoint, joins, key attribute).
MEMBERSHIP: dict[type[Any], tuple[str, bool, str | None]] = {
    Customer.FriendAdded: ("wecom_friend", True, "staff_id"),
    Customer.FriendDeleted: ("wecom_friend", False, "staff_id"),
    Customer.PersonalWeChatFriendAdded: ("personal_wechat", True, "staff_id"),
    Customer.PersonalWeChatFriendDeleted: ("personal_wechat", False, "staff_id"),
    Customer.GroupJoined: ("group", True, "group_id"),
    Customer.GroupLeft: ("group", False, "group_id"),
    Customer.MemberRegistered: ("mini_program", True, None),
}
COUNTED: tuple[type[Any], ...] = (
    *ENGAGING, *ACQUIRING, *MEMBERSHIP, Customer.OrderRefunded, Customer.ReferralBrought)
#: Facts that say who the customer is credited to: their owner, and OneID merges.
CREDITING: tuple[type[Any], ...] = (
    Customer.OwnerChanged, Customer.MergedInto, Customer.UnmergedFrom)
_ACQUIRES = frozenset((*ACQUIRING, *ENGAGING))
_ENGAGES = frozenset(ENGAGING)


def subject_of(event: Any) -> Any:
    """The customer whose row ``event`` changes (an invite code: its inviter)."""
    if isinstance(event, InviteCode.Issued):
        return event.inviter_id
    return event.originator_id


def empty(customer_id: Any) -> Row:
    return {"customer_id": customer_id, "acquired_at": None, "channel": None,
            "channel_at": None, "first_engaged_at": None, "last_engaged_at": None,
            "paid_orders": 0, "paid_fen": 0, "refunded_fen": 0, "invite_codes": 0,
            "invitees": 0, "touchpoints": {}, "last_position": 0, "owners": [],
            "merged_into": None, "root_id": customer_id}


def _at(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return _parse(value)


@lru_cache(maxsize=65536)
def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _earlier(current: Any, at: datetime) -> bool:
    known = _at(current)
    return known is None or at < known


def fold(row: Row, position: int, event: Any) -> Row:
    """``row`` after ``event`` (at log ``position``; an event seen before changes nothing)."""
    if position <= row["last_position"]:
        return row
    row = own_copy(row)
    fold_into(row, position, event)
    return row


def own_copy(row: Row) -> Row:
    """A copy of ``row`` that :func:`fold_into` may change without touching ``row``: its
    touchpoints mapping copied too (the entries in it, the owners list and the values are
    replaced, never changed, by a fold)."""
    copy = row.copy()
    copy["touchpoints"] = row["touchpoints"].copy()
    return copy


def fold_into(row: Row, position: int, event: Any) -> None:
    """:func:`fold` in place, into a row of the caller's own (:func:`own_copy`), for an event
    after its ``last_position`` — a page folds each of its rows' events into one copy.

    Written for the page's hot loop: the kind looked up once in tables (most facts only
    move times), the times compared inline (a row's are datetimes, or ISO text when it
    comes from JSON: :func:`_at`)."""
    row["last_position"] = position
    at: datetime = event.occurred_at
    kind = type(event)
    if kind in _ACQUIRES:
        known = row["acquired_at"]
        if known is None or at < (known if type(known) is datetime else _parse(known)):
            row["acquired_at"] = at
        channel = (event.first_channel if kind is Customer.Registered
                   else getattr(event, "channel", None))
        if isinstance(channel, str) and channel and channel != UNKNOWN:
            known = row["channel_at"]
            if known is None or at < (known if type(known) is datetime else _parse(known)):
                row["channel"], row["channel_at"] = channel, at
    if kind in _ENGAGES:
        known = row["first_engaged_at"]
        if known is None or at < (known if type(known) is datetime else _parse(known)):
            row["first_engaged_at"] = at
        known = row["last_engaged_at"]
        if known is None or at > (known if type(known) is datetime else _parse(known)):
            row["last_engaged_at"] = at
    effect = _EFFECTS.get(kind)
    if effect is not None:
        effect(row, at, event)
    member = MEMBERSHIP.get(kind)
    if member is not None:
        touchpoint, joins, attr = member
        key = "member" if attr is None else str(getattr(event, attr))
        row["touchpoints"][touchpoint] = _membership(
            row["touchpoints"].get(touchpoint), joins, key, at)


def _paid(row: Row, at: datetime, event: Any) -> None:
    row["paid_orders"] += 1
    row["paid_fen"] += event.amount_fen


def _refunded(row: Row, at: datetime, event: Any) -> None:
    row["refunded_fen"] += event.amount_fen


def _code_issued(row: Row, at: datetime, event: Any) -> None:
    row["invite_codes"] += 1


def _brought(row: Row, at: datetime, event: Any) -> None:
    row["invitees"] += 1


def _owner(row: Row, at: datetime, event: Any) -> None:
    row["owners"] = [*row["owners"], [at.isoformat(), event.staff_id]]


def _merged(row: Row, at: datetime, event: Any) -> None:
    row["merged_into"] = event.survivor_id


def _unmerged(row: Row, at: datetime, event: Any) -> None:
    row["merged_into"] = None


#: What a fact changes besides the times and touchpoints, by its exact class (as the view
#: selects the events it folds).
_EFFECTS: dict[type[Any], Callable[[Row, datetime, Any], None]] = {
    Customer.OrderPaid: _paid, Customer.OrderRefunded: _refunded, InviteCode.Issued: _code_issued,
    Customer.ReferralBrought: _brought, Customer.OwnerChanged: _owner,
    Customer.MergedInto: _merged, Customer.UnmergedFrom: _unmerged}


def _membership(entry: Row | None, joins: bool, key: str, at: datetime) -> Row | None:
    """A touchpoint membership: first join, the keys held (staff, groups), when it ended."""
    if entry is None:
        if not joins:
            return None  # a leave without a join: nothing to retain
        return {"joined_at": at.isoformat(), "keys": [key], "left_at": None}
    keys = set(entry["keys"])
    entry = dict(entry)
    if _earlier(entry["joined_at"], at) and joins:
        entry["joined_at"] = at.isoformat()
    if joins:
        keys.add(key)
        entry["left_at"] = None
    elif key in keys:
        keys.discard(key)
        if not keys:
            entry["left_at"] = at.isoformat()
    entry["keys"] = sorted(keys)
    return entry


def business_day(at: datetime) -> date:
    return at.astimezone(ZONE).date()


def add_months(day: date, months: int) -> date:
    """``day`` plus calendar months, clamped to the month's end (as PostgreSQL does)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def checkpoint(join_day: date, days: int, months: int) -> date:
    """The business day a checkpoint falls on; the member is judged at its start."""
    return add_months(join_day, months) + timedelta(days=days)


class Checkpoints(NamedTuple):
    """A join day's checkpoints: when each starts (Asia/Shanghai midnight), in time order,
    and for each count ``k`` of them started, who is kept at each checkpoint (in the order
    of :data:`CHECKPOINTS`, which is not always time order: a month can be shorter than
    30 days) when kept until after the ``k`` first."""

    starts: tuple[datetime, ...]
    kept: tuple[tuple[int, ...], ...]

    def kept_until(self, at: datetime | None) -> tuple[int, ...]:
        """Kept at each checkpoint that started at or before ``at`` (None: all)."""
        return self.kept[-1] if at is None else self.kept[bisect_right(self.starts, at)]


@lru_cache(maxsize=4096)
def _starts(join_day: date) -> Checkpoints:
    starts = [datetime.combine(checkpoint(join_day, days, months), time(0), ZONE)
              for _, days, months in CHECKPOINTS]
    ordered = sorted(starts)
    return Checkpoints(tuple(ordered), tuple(
        tuple(int(s <= ordered[k - 1]) if k else 0 for s in starts)
        for k in range(len(starts) + 1)))


@lru_cache(maxsize=65536)
def _day_of(at: datetime) -> str:
    """The business day of ``at``, as its rollup key (the same instants recur page after
    page: each customer's acquisition is taken out and put back whenever it changes)."""
    return business_day(at).isoformat()


@lru_cache(maxsize=65536)
def _joined(joined_at: Any) -> tuple[str, Checkpoints]:
    """A membership's join day (its rollup key) and its checkpoints."""
    day = business_day(_at(joined_at))  # type: ignore[arg-type]
    return day.isoformat(), _starts(day)


def contributions(row: Row, owner: str | None = None
                  ) -> dict[tuple[str, Key], tuple[int, ...]]:
    """What ``row`` (a customer, merged streams combined: :mod:`.merges`) adds to each rollup
    row: ``{(table, key): counts}``, the counts in the order of :data:`FUNNEL_COUNTS` or
    :data:`COHORT_COUNTS`; ``owner``: their owner at the end of the acquisition day."""
    out: dict[tuple[str, Key], tuple[int, ...]] = {}
    acquired = row["acquired_at"]
    if acquired is None:
        return out
    if type(acquired) is not datetime:  # the times inline, as in fold_into
        acquired = _parse(acquired)
    channel = row["channel"] or UNKNOWN
    first, last = row["first_engaged_at"], row["last_engaged_at"]
    if first is not None and type(first) is not datetime:
        first = _parse(first)
    if last is not None and type(last) is not datetime:
        last = _parse(last)
    paid, codes, brought = row["paid_orders"], row["invite_codes"], row["invitees"]
    day = _day_of(acquired)
    funnel = (
        1, int(first is not None and first < acquired + ACTIVATION),
        int(last is not None and last >= acquired + RETENTION),
        int(paid >= 1), int(paid >= 2), paid, row["paid_fen"] - row["refunded_fen"],
        int(codes > 0), codes, int(brought > 0), brought)
    out[("funnel_daily", (day, channel))] = funnel
    if owner is not None:
        out[("funnel_owner_daily", (day, owner))] = funnel
    for touchpoint, entry in row["touchpoints"].items():
        if entry is None:
            continue
        joined, checkpoints = _joined(entry["joined_at"])
        if touchpoint == "mini_program":  # kept while active: a fact at or after it
            kept = checkpoints.kept[0] if last is None else checkpoints.kept_until(last)
        else:  # kept while a member: not left before it
            left = entry["left_at"]
            kept = (checkpoints.kept[-1] if left is None else checkpoints.kept[bisect_right(
                checkpoints.starts, left if type(left) is datetime else _parse(left))])
        out[("cohort_daily", (touchpoint, joined, channel))] = (1, *kept)
    return out
