"""OneID in the funnel: a customer and the customers merged into it count as one.

Every stream keeps its own ``funnel_customer`` row (its own facts, and ``merged_into``
while absorbed); ``root_id`` names the survivor at the top of its merge tree. What a tree
adds to the rollups is the :func:`combine`-d row of all its streams, so an absorbed
customer's facts count for the survivor, once, and an unmerge gives them back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from projections.funnels import rows
from projections.funnels.rows import Key, Row, business_day

Contributions = dict[tuple[str, Key], tuple[int, ...]]
_NEVER = datetime.min.replace(tzinfo=UTC)
_SUMS = ("paid_orders", "paid_fen", "refunded_fen", "invite_codes", "invitees")


def roots(loaded: Mapping[Any, Row]) -> dict[Any, str]:
    """Each stream's survivor (as text): ``merged_into`` followed to a stream not merged
    (or not loaded, which a page never leaves out: it loads whole trees)."""
    parents = {str(k): str(r["merged_into"]) for k, r in loaded.items()
               if r["merged_into"] is not None}
    out: dict[Any, str] = {}
    for customer_id in loaded:
        at = str(customer_id)
        seen = {at}
        while (parent := parents.get(at)) is not None and parent not in seen:
            seen.add(parent)
            at = parent
        out[customer_id] = at
    return out


def _when(value: Any) -> datetime:
    at = rows._at(value)
    return _NEVER if at is None else at


def _earliest(values: Iterable[Any]) -> Any:
    known = [v for v in values if v is not None]
    return min(known, key=_when) if known else None


def _latest(values: Iterable[Any]) -> Any:
    known = [v for v in values if v is not None]
    return max(known, key=_when) if known else None


def _touchpoint(entries: list[Row]) -> Row:
    """A merged customer holds a touchpoint while any of its streams does."""
    keys = sorted({k for e in entries for k in e["keys"]})
    return {"joined_at": _earliest(e["joined_at"] for e in entries), "keys": keys,
            "left_at": None if keys else _latest(e["left_at"] for e in entries)}


def combine(tree: Sequence[Row]) -> Row:
    """One customer's row from its streams' rows (the survivor first)."""
    if len(tree) == 1:
        return tree[0]
    out = dict(tree[0])
    out["acquired_at"] = _earliest(r["acquired_at"] for r in tree)
    channelled = [r for r in tree if r["channel_at"] is not None]
    first = min(channelled, key=lambda r: _when(r["channel_at"])) if channelled else None
    out["channel"] = None if first is None else first["channel"]
    out["channel_at"] = None if first is None else first["channel_at"]
    out["first_engaged_at"] = _earliest(r["first_engaged_at"] for r in tree)
    out["last_engaged_at"] = _latest(r["last_engaged_at"] for r in tree)
    for column in _SUMS:
        out[column] = sum(r[column] for r in tree)
    names = sorted({t for r in tree for t, e in r["touchpoints"].items() if e is not None})
    out["touchpoints"] = {t: _touchpoint([r["touchpoints"][t] for r in tree
                                          if r["touchpoints"].get(t) is not None])
                          for t in names}
    return out


def owner_then(row: Row, until: datetime) -> str | None:
    """The stream's owner just before ``until``: its last owner change before it (log order
    on a tie)."""
    owner, latest = None, _NEVER
    for at, staff in row["owners"]:
        when = rows._parse(at) if type(at) is str else _when(at)  # stored as ISO text
        if latest <= when < until:
            owner, latest = staff, when
    return owner


@lru_cache(maxsize=65536)
def _day_end(acquired: datetime) -> datetime:
    """The end of ``acquired``'s business day (the next one's midnight in Shanghai)."""
    return datetime.combine(business_day(acquired) + timedelta(days=1), time(0), rows.ZONE)


def credited_owner(tree: Sequence[Row], acquired: datetime) -> str | None:
    """Who a customer is credited to: the owner at the end of its acquisition day
    (Asia/Shanghai) — the survivor's, or else that of the stream acquired first."""
    if len(tree) == 1 and not tree[0]["owners"]:
        return None  # most customers: never given an owner
    end = _day_end(acquired)
    owner = owner_then(tree[0], end)
    if owner is not None or len(tree) == 1:
        return owner
    for stream in sorted(tree[1:], key=lambda r: (
            r["acquired_at"] is None, _when(r["acquired_at"]), str(r["customer_id"]))):
        owner = owner_then(stream, end)
        if owner is not None:
            return owner
    return None


def tree_contributions(tree: Sequence[Row]) -> Contributions:
    if len(tree) == 1 and not tree[0]["owners"]:  # most: one stream, never owned
        return rows.contributions(tree[0])
    customer = combine(tree)
    acquired = rows._at(customer["acquired_at"])
    owner = None if acquired is None else credited_owner(tree, acquired)
    return rows.contributions(customer, owner)


def trees(loaded: Mapping[Any, Row]) -> list[list[Row]]:
    """The loaded rows grouped by ``root_id``, the survivor first."""
    out: dict[str, list[Row]] = {}
    for row in loaded.values():
        out.setdefault(str(row["root_id"]), []).append(row)
    return [group if len(group) == 1 else sorted(
        group, key=lambda r: (str(r["customer_id"]) != root, str(r["customer_id"])))
        for root, group in out.items()]
