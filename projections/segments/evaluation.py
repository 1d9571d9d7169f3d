"""Evaluate a segment rule against one ``customer_profile`` row at a given time.

Three answers per rule, all pure functions of ``(rule, row, at)``:

* :func:`evaluate` — is the customer in?
* :func:`explain` — the rule tree with each node's truth and what was observed
  ("why is this customer in / not in this segment?");
* :func:`horizon` — the earliest later time at which the answer could change
  with no new event (``None``: only an event can change it). The membership
  projection re-evaluates a customer at the first clock tick past it.

:mod:`projections.segments.rule_sql` compiles the same rules to SQL for whole-table
evaluation; a test holds the two to the same answers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from domain.channels import within
from domain.segment_rules import Rule

Row = dict[str, Any]

LIFECYCLE_DAYS = timedelta(days=30)
RECENCY_DAYS = (7, 30, 90, 180)  # recency score 5, 4, 3, 2 while within; else 1


def _time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def _last_interaction(row: Row) -> datetime:
    last = _time(row["last_interaction_at"])
    first = _time(row["first_seen_at"])
    assert first is not None
    return last if last is not None else first


def lifecycle(row: Row, at: datetime) -> str:
    """As the SQL function ``siyu_lifecycle`` (first match wins)."""
    if row["ever_friend"] and not row["current_staff_ids"]:
        return "CHURNED"
    if _last_interaction(row) <= at - LIFECYCLE_DAYS:
        return "SILENT"
    first = _time(row["first_seen_at"])
    assert first is not None
    if first > at - LIFECYCLE_DAYS and row["order_count"] == 0:
        return "NEW"
    return "ACTIVE"


def recency_score(row: Row, at: datetime) -> int:
    last = _time(row["last_order_at"])
    if last is None:
        return 0
    for score, days in zip((5, 4, 3, 2), RECENCY_DAYS, strict=True):
        if last > at - timedelta(days=days):
            return score
    return 1


def frequency_score(row: Row) -> int:
    count = int(row["order_count"])
    return 5 if count >= 10 else 4 if count >= 5 else 3 if count >= 3 else max(count, 0)


def monetary_score(row: Row) -> int:
    net = int(row["gmv_fen"]) - int(row["refunded_fen"])
    for score, floor in ((5, 500000), (4, 100000), (3, 30000), (2, 10000)):
        if net >= floor:
            return score
    return 1 if net > 0 else 0


def positioning(row: Row) -> str | None:
    count, gmv = int(row["order_count"]), int(row["gmv_fen"])
    if count == 0:
        return None
    high_ticket = gmv // count >= 20000
    if count >= 3:
        return "TRANSACTION_HUB" if high_ticket else "INFORMATION_HUB"
    return "SERVICE_HUB" if high_ticket else "MERCHANT_ALLIANCE_HUB"


def _orders_in(row: Row, at: datetime, days: int | None) -> list[tuple[datetime, int]]:
    """Paid orders (newest first), those within the last ``days`` days if given."""
    times = row["order_times"]
    if not times:
        return []
    if not isinstance(times[0], datetime):
        times = [_time(t) for t in times]
    orders = list(zip(times, row["order_amounts"], strict=True))
    if days is None:
        return orders
    cutoff = at - timedelta(days=days)
    inside = 0
    while inside < len(orders) and orders[inside][0] > cutoff:  # newest first: a prefix
        inside += 1
    return orders[:inside]


# Each predicate: (row, value, at) -> (truth, observed, horizon)
Outcome = tuple[bool, Any, datetime | None]


def _later(candidates: Iterable[datetime | None], at: datetime) -> datetime | None:
    future = [c for c in candidates if c is not None and c > at]
    return min(future) if future else None


def _tag_in(row: Row, value: list[str], at: datetime) -> Outcome:
    held = sorted(set(row["tags"]) & set(value))
    return bool(held), held, None


def _has_all_tags(row: Row, value: list[str], at: datetime) -> Outcome:
    missing = sorted(set(value) - set(row["tags"]))
    return not missing, {"missing": missing}, None


def lifecycle_and_horizon(row: Row, at: datetime) -> tuple[str, datetime | None]:
    """The stage at ``at`` and the earliest later time it could change without an event."""
    first = _time(row["first_seen_at"])
    assert first is not None
    edges = [_last_interaction(row) + LIFECYCLE_DAYS, first + LIFECYCLE_DAYS]
    return lifecycle(row, at), _later(edges, at)


def _lifecycle(row: Row, value: str, at: datetime) -> Outcome:
    stage, edge = lifecycle_and_horizon(row, at)
    return stage == value, stage, edge


def _ordered(row: Row, value: dict[str, Any], at: datetime) -> Outcome:
    days = value["withinDays"]
    orders = _orders_in(row, at, days)
    truth = len(orders) >= value["atLeast"]
    edge = None
    if truth and days is not None:
        edge = orders[value["atLeast"] - 1][0] + timedelta(days=days)
    return truth, len(orders), edge


def _gmv(row: Row, value: dict[str, Any], at: datetime) -> Outcome:
    days = value["withinDays"]
    orders = _orders_in(row, at, days)
    total = sum(a for _, a in orders)
    truth = total >= value["atLeastFen"]
    edge = None
    if truth and days is not None:
        running = 0
        for t, a in orders:  # newest first: the order that makes the sum leaves first
            running += a
            if running >= value["atLeastFen"]:
                edge = t + timedelta(days=days)
                break
    return truth, total, edge


def _inactive(row: Row, value: int, at: datetime) -> Outcome:
    last = _last_interaction(row)
    edge = last + timedelta(days=value)
    truth = at >= edge
    return truth, last.isoformat(), None if truth else edge


def _active(row: Row, value: int, at: datetime) -> Outcome:
    last = _last_interaction(row)
    edge = last + timedelta(days=value)
    truth = at < edge
    return truth, last.isoformat(), edge if truth else None


def _referrals(row: Row, value: int, at: datetime) -> Outcome:
    count = int(row["referrals_brought"])
    return count >= value, count, None


def _friend_of(row: Row, value: str, at: datetime) -> Outcome:
    return value in row["current_staff_ids"], len(row["current_staff_ids"]), None


def _is_friend(row: Row, value: bool, at: datetime) -> Outcome:
    friends = bool(row["current_staff_ids"])
    return friends == value, friends, None


def _joined_via(row: Row, value: str, at: datetime) -> Outcome:
    """Hierarchical (:mod:`domain.channels`): ``qr`` matches ``qr:store-shanghai-01``."""
    channels = {row["first_channel"]} | {r.get("channel") for r in row["staff_relations"]}
    return (any(within(c, value) for c in channels), sorted(c for c in channels if c), None)


def _in_group(row: Row, value: str, at: datetime) -> Outcome:
    return value in row["groups"], len(row["groups"]), None


def _rfm(row: Row, value: dict[str, Any], at: datetime) -> Outcome:
    scores = {"recencyAtLeast": recency_score(row, at), "frequencyAtLeast": frequency_score(row),
              "monetaryAtLeast": monetary_score(row)}
    truth = all(scores[k] >= v for k, v in value.items() if v is not None)
    edge = None
    last = _time(row["last_order_at"])
    if last is not None and value.get("recencyAtLeast") is not None:
        edge = _later((last + timedelta(days=d) for d in RECENCY_DAYS), at)
    observed = {"recency": scores["recencyAtLeast"], "frequency": scores["frequencyAtLeast"],
                "monetary": scores["monetaryAtLeast"]}
    return truth, observed, edge


def _positioning(row: Row, value: str, at: datetime) -> Outcome:
    quadrant = positioning(row)
    return quadrant == value, quadrant, None


def _member_level(row: Row, value: str, at: datetime) -> Outcome:
    return row["member_level"] == value, row["member_level"], None


def _counter(column: str, key: str) -> Callable[[Row, dict[str, Any], datetime], Outcome]:
    def check(row: Row, value: dict[str, Any], at: datetime) -> Outcome:
        count = int(row[column].get(value[key], 0))
        return count >= value["atLeast"], count, None
    return check


def bought_skus(name: str, value: dict[str, Any]) -> frozenset[str]:
    """The SKUs a ``boughtProduct`` / ``boughtFromCategory`` value counts: its own SKU, or
    those the library filed under the category when the rule was resolved
    (:func:`projections.segments.library.resolved`)."""
    if name == "boughtProduct":
        return frozenset((value["sku"],))
    skus = value.get("skus")
    if skus is None:
        raise ValueError("boughtFromCategory is evaluated on a rule resolved against the "
                         "product library (projections.segments.library.resolved)")
    return frozenset(skus)


def _bought(name: str) -> Callable[[Row, dict[str, Any], datetime], Outcome]:
    def check(row: Row, value: dict[str, Any], at: datetime) -> Outcome:
        skus = bought_skus(name, value)
        days = value["withinDays"]
        orders = _orders_in(row, at, days)
        matching: list[tuple[datetime, int]] = []  # newest first
        for (time, _), lines in zip(orders, row["order_lines"], strict=False):
            if not skus.isdisjoint(lines):
                matching.append((time, sum(int(f) for s, f in lines.items() if s in skus)))
        spent = sum(f for _, f in matching)
        floor = value["atLeastFen"]
        truth = len(matching) >= value["atLeast"] and (floor is None or spent >= floor)
        edge = None
        if truth and days is not None:  # the first order whose leaving breaks the rule
            edge = matching[value["atLeast"] - 1][0] + timedelta(days=days)
            running = 0
            for time, fen in matching if floor is not None else ():
                running += fen
                if running >= floor:
                    edge = min(edge, time + timedelta(days=days))
                    break
        return truth, {"orders": len(matching), "spentFen": spent}, edge
    return check


PREDICATES: dict[str, Callable[[Row, Any, datetime], Outcome]] = {
    "tagIn": _tag_in,
    "hasAllTags": _has_all_tags,
    "lifecycle": _lifecycle,
    "ordered": _ordered,
    "gmv": _gmv,
    "inactiveDays": _inactive,
    "activeWithinDays": _active,
    "referralsAtLeast": _referrals,
    "friendOf": _friend_of,
    "isFriend": _is_friend,
    "joinedVia": _joined_via,
    "inGroup": _in_group,
    "rfm": _rfm,
    "positioning": _positioning,
    "memberLevel": _member_level,
    "boughtSku": _counter("sku_quantities", "sku"),
    "boughtCategory": _counter("category_orders", "category"),
    "viewedTopic": _counter("topic_views", "topic"),
    "boughtFromCategory": _bought("boughtFromCategory"),
    "boughtProduct": _bought("boughtProduct"),
}

#: The profile columns each predicate reads: a customer is re-evaluated only when one changes.
COLUMNS: dict[str, tuple[str, ...]] = {
    "tagIn": ("tags",),
    "hasAllTags": ("tags",),
    "lifecycle": ("ever_friend", "current_staff_ids", "last_interaction_at", "first_seen_at",
                  "order_count"),
    "ordered": ("order_times",),
    "gmv": ("order_times", "order_amounts"),
    "inactiveDays": ("last_interaction_at", "first_seen_at"),
    "activeWithinDays": ("last_interaction_at", "first_seen_at"),
    "referralsAtLeast": ("referrals_brought",),
    "friendOf": ("current_staff_ids",),
    "isFriend": ("current_staff_ids",),
    "joinedVia": ("first_channel", "staff_relations"),
    "inGroup": ("groups",),
    "rfm": ("last_order_at", "order_count", "gmv_fen", "refunded_fen"),
    "positioning": ("order_count", "gmv_fen"),
    "memberLevel": ("member_level",),
    "boughtSku": ("sku_quantities",),
    "boughtCategory": ("category_orders",),
    "viewedTopic": ("topic_views",),
    "boughtFromCategory": ("order_times", "order_lines"),
    "boughtProduct": ("order_times", "order_lines"),
}


def columns(rule: Rule) -> frozenset[str]:
    (name, value), = rule.items()
    if name in ("all", "any"):
        return frozenset().union(*(columns(r) for r in value))
    if name == "not":
        return columns(value)
    return frozenset(COLUMNS[name])


#: The predicates that read ``last_interaction_at``, each through one window: whether the
#: last interaction (first sight when none) is less than this span before the instant.
WINDOWS: dict[str, Callable[[Any], timedelta]] = {
    "inactiveDays": lambda days: timedelta(days=days),
    "activeWithinDays": lambda days: timedelta(days=days),
    "lifecycle": lambda stage: LIFECYCLE_DAYS,
}


def windows(rule: Rule) -> frozenset[timedelta]:
    """The spans through which the rule reads the last interaction: its truth at an instant
    ``at`` depends on ``last_interaction_at`` only through ``last + span > at`` for these."""
    (name, value), = rule.items()
    if name in ("all", "any"):
        return frozenset().union(*(windows(r) for r in value))
    if name == "not":
        return windows(value)
    window = WINDOWS.get(name)
    return frozenset() if window is None else frozenset({window(value)})


def last_interaction(row: Row) -> datetime:
    """The instant the windows count from: the last interaction, else first sight."""
    return _last_interaction(row)


def explain(rule: Rule, row: Row, at: datetime) -> dict[str, Any]:
    """The rule tree annotated: ``{"node", "value", "result", "observed", "children"}``."""
    (name, value), = rule.items()
    if name in ("all", "any", "not"):
        children = [explain(r, row, at) for r in (value if name != "not" else [value])]
        results = [c["result"] for c in children]
        result = all(results) if name == "all" else any(results) if name == "any" \
            else not results[0]
        edges = [c["horizon"] for c in children]
        return {"node": name, "value": None, "result": result, "observed": None,
                "horizon": _later(edges, at), "children": children}
    truth, observed, edge = PREDICATES[name](row, value, at)
    return {"node": name, "value": value, "result": truth, "observed": observed,
            "horizon": edge if edge is not None and edge > at else None, "children": []}


def evaluate(rule: Rule, row: Row, at: datetime) -> tuple[bool, datetime | None]:
    """Truth and horizon (the earliest time the truth could change without an event)."""
    (name, value), = rule.items()
    if name in ("all", "any"):
        truths: list[bool] = []
        edges: list[datetime | None] = []
        for child in value:
            truth, edge = evaluate(child, row, at)
            truths.append(truth)
            edges.append(edge)
        return (all(truths) if name == "all" else any(truths)), _later(edges, at)
    if name == "not":
        truth, edge = evaluate(value, row, at)
        return not truth, edge
    truth, _, edge = PREDICATES[name](row, value, at)
    return truth, edge if edge is not None and edge > at else None
