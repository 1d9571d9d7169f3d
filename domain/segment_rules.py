"""The segment rule language: a tree of AND / OR / NOT over customer predicates.

A rule is plain JSON-shaped data (it is stored in ``Segment.Defined`` events),
with exactly one key per node, camelCase as in the GraphQL input:

``all`` / ``any`` (a list of rules), ``not`` (a rule), and the predicates

| predicate | value | true when the customer … |
|---|---|---|
| ``tagIn`` | list of tags | holds at least one of the tags |
| ``hasAllTags`` | list of tags | holds every one of the tags |
| ``lifecycle`` | ``NEW`` · ``ACTIVE`` · ``SILENT`` · ``CHURNED`` | is at that lifecycle stage |
| ``ordered`` | ``{atLeast, withinDays?}`` | paid ≥ atLeast orders (in the last withinDays days) |
| ``gmv`` | ``{atLeastFen, withinDays?}`` | paid ≥ atLeastFen in total (in the window) |
| ``inactiveDays`` | days | has not interacted for at least that many days |
| ``activeWithinDays`` | days | interacted within that many days |
| ``referralsAtLeast`` | count | brought at least that many referrals (spreading power) |
| ``friendOf`` | staff id | is currently a friend of that staff member |
| ``isFriend`` | boolean | is (true) / is not (false) currently a friend of any staff member |
| ``joinedVia`` | channel | first seen or added a staff member through that channel or one under it |
| ``inGroup`` | group id | is in that customer group |
| ``rfm`` | ``{recencyAtLeast?, frequencyAtLeast?, monetaryAtLeast?}`` | has RFM scores ≥ each given one |
| ``positioning`` | quadrant | is in that frequency x ticket quadrant |
| ``memberLevel`` | level | holds that membership level |
| ``boughtSku`` | ``{sku, atLeast}`` | bought at least that quantity of the SKU (paid orders) |
| ``boughtCategory`` | ``{category, atLeast}`` | paid at least that many orders with the category |
| ``viewedTopic`` | ``{topic, atLeast}`` | viewed content of the topic at least that many times |
| ``boughtFromCategory`` | ``{category, atLeast?, atLeastFen?, withinDays?}`` | see below |
| ``boughtProduct`` | ``{sku, atLeast?, atLeastFen?, withinDays?}`` | see below |

``boughtFromCategory``: paid ≥ atLeast (default 1) orders with a line whose SKU the product
library files under the category (or a category under it), and spent ≥ atLeastFen on those
lines, counting the orders paid in the last withinDays days if given. ``boughtProduct``:
the same for the lines of one SKU.

:func:`parse_rule` validates a rule and returns its canonical form; every
refusal names the offending place (``rule.all[1].ordered.withinDays``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain.errors import InvalidInput
from domain.product import check_category, check_sku

Rule = dict[str, Any]

LIFECYCLES = ("NEW", "ACTIVE", "SILENT", "CHURNED")
POSITIONINGS = ("TRANSACTION_HUB", "INFORMATION_HUB", "SERVICE_HUB", "MERCHANT_ALLIANCE_HUB")
MAX_DEPTH = 6
MAX_NODES = 64
MAX_DAYS = 3660
MAX_LIST = 50
MAX_TEXT = 128
MAX_FEN = 10**12
MAX_COUNT = 10**6


class InvalidRule(InvalidInput):
    code = "INVALID_SEGMENT_RULE"


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
        raise InvalidRule(f"{where} must be a non-empty string of at most {MAX_TEXT} characters",
                          field=where)
    if any(ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise InvalidRule(f"{where} has control characters", field=where)
    return value.strip()


def _int(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidRule(f"{where} must be a whole number from {low} to {high}", field=where)
    return value


def _texts(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_LIST:
        raise InvalidRule(f"{where} must list 1 to {MAX_LIST} values", field=where)
    return sorted({_text(v, f"{where}[{i}]") for i, v in enumerate(value)})


def _choice(choices: tuple[str, ...]) -> Callable[[Any, str], str]:
    def check(value: Any, where: str) -> str:
        if value not in choices:
            raise InvalidRule(f"{where} must be one of {', '.join(choices)}", field=where)
        return str(value)
    return check


def _fields(value: Any, where: str, spec: dict[str, tuple[int, int] | None],
            required: tuple[str, ...]) -> dict[str, int | None]:
    """An object of whole-number fields; ``None`` bounds mean "optional, may be null"."""
    if not isinstance(value, dict):
        raise InvalidRule(f"{where} must be an object", field=where)
    unknown = sorted(set(value) - set(spec))
    if unknown:
        raise InvalidRule(f"{where} has unknown field {unknown[0]!r}", field=f"{where}.{unknown[0]}")
    out: dict[str, int | None] = {}
    for name, bounds in spec.items():
        given = value.get(name)
        if given is None:
            if name in required:
                raise InvalidRule(f"{where}.{name} is required", field=f"{where}.{name}")
            out[name] = None
            continue
        low, high = bounds or (1, MAX_DAYS)
        out[name] = _int(given, f"{where}.{name}", low, high)
    return out


def _ordered(value: Any, where: str) -> dict[str, int | None]:
    return _fields(value, where, {"atLeast": (1, MAX_COUNT), "withinDays": None}, ("atLeast",))


def _gmv(value: Any, where: str) -> dict[str, int | None]:
    return _fields(value, where, {"atLeastFen": (1, MAX_FEN), "withinDays": None},
                   ("atLeastFen",))


def _rfm(value: Any, where: str) -> dict[str, int | None]:
    scores = {"recencyAtLeast": (0, 5), "frequencyAtLeast": (0, 5), "monetaryAtLeast": (0, 5)}
    out = _fields(value, where, dict(scores), ())
    if all(v is None for v in out.values()):
        raise InvalidRule(f"{where} needs at least one score", field=where)
    return out


def _counted(key: str) -> Callable[[Any, str], dict[str, Any]]:
    """An object ``{<key>: text, atLeast: count}``."""
    def check(value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise InvalidRule(f"{where} must be an object", field=where)
        unknown = sorted(set(value) - {key, "atLeast"})
        if unknown:
            raise InvalidRule(f"{where} has unknown field {unknown[0]!r}",
                              field=f"{where}.{unknown[0]}")
        if value.get(key) is None:
            raise InvalidRule(f"{where}.{key} is required", field=f"{where}.{key}")
        if value.get("atLeast") is None:
            raise InvalidRule(f"{where}.atLeast is required", field=f"{where}.atLeast")
        return {key: _text(value[key], f"{where}.{key}"),
                "atLeast": _int(value["atLeast"], f"{where}.atLeast", 1, MAX_COUNT)}
    return check


def _bought(key: str, check: Callable[[str, str], str]) -> Callable[[Any, str], dict[str, Any]]:
    """``{<key>: code, atLeast?, atLeastFen?, withinDays?}``: orders (default 1) and spend on
    the matching lines, optionally within a window (``boughtFromCategory``, ``boughtProduct``)."""
    def parse(value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise InvalidRule(f"{where} must be an object", field=where)
        rest = {k: v for k, v in value.items() if k != key}
        out: dict[str, Any] = dict(_fields(
            rest, where, {"atLeast": (1, MAX_COUNT), "atLeastFen": (1, MAX_FEN),
                          "withinDays": None}, ()))
        if value.get(key) is None:
            raise InvalidRule(f"{where}.{key} is required", field=f"{where}.{key}")
        _text(value[key], f"{where}.{key}")  # a string without control characters
        try:
            out[key] = check(value[key], f"{where}.{key}")  # a SKU is matched exactly
        except InvalidInput as error:
            raise InvalidRule(error.message, field=f"{where}.{key}") from None
        if out["atLeast"] is None:
            out["atLeast"] = 1
        return out
    return parse


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidRule(f"{where} must be true or false", field=where)
    return value


def _days(value: Any, where: str) -> int:
    return _int(value, where, 1, MAX_DAYS)


def _count(value: Any, where: str) -> int:
    return _int(value, where, 1, MAX_COUNT)


#: Predicate name -> validator of its value (returns the canonical value).
PREDICATES: dict[str, Callable[[Any, str], Any]] = {
    "tagIn": _texts,
    "hasAllTags": _texts,
    "lifecycle": _choice(LIFECYCLES),
    "ordered": _ordered,
    "gmv": _gmv,
    "inactiveDays": _days,
    "activeWithinDays": _days,
    "referralsAtLeast": _count,
    "friendOf": _text,
    "isFriend": _flag,
    "joinedVia": _text,
    "inGroup": _text,
    "rfm": _rfm,
    "positioning": _choice(POSITIONINGS),
    "memberLevel": _text,
    "boughtSku": _counted("sku"),
    "boughtCategory": _counted("category"),
    "viewedTopic": _counted("topic"),
    "boughtFromCategory": _bought("category", check_category),
    "boughtProduct": _bought("sku", check_sku),
}

#: Predicates over order lines, with an optional window (``withinDays``).
BOUGHT = ("boughtFromCategory", "boughtProduct")

#: Predicates whose truth changes as time passes, without any new event.
TIME_DEPENDENT = frozenset({"lifecycle", "inactiveDays", "activeWithinDays", "rfm"})


def parse_rule(rule: Any, where: str = "rule") -> Rule:
    """Validate ``rule`` and return its canonical form (sorted lists, explicit nulls)."""
    nodes = [0]
    return _parse(rule, where, 1, nodes)


def _parse(rule: Any, where: str, depth: int, nodes: list[int]) -> Rule:
    nodes[0] += 1
    if nodes[0] > MAX_NODES:
        raise InvalidRule(f"a rule may have at most {MAX_NODES} nodes", field=where)
    if depth > MAX_DEPTH:
        raise InvalidRule(f"a rule may nest at most {MAX_DEPTH} levels", field=where)
    if not isinstance(rule, dict) or len(rule) != 1:
        raise InvalidRule(f"{where} must have exactly one of all, any, not or a predicate",
                          field=where)
    (name, value), = rule.items()
    if name in ("all", "any"):
        if not isinstance(value, list) or not 1 <= len(value) <= MAX_LIST:
            raise InvalidRule(f"{where}.{name} must list 1 to {MAX_LIST} rules",
                              field=f"{where}.{name}")
        return {name: [_parse(r, f"{where}.{name}[{i}]", depth + 1, nodes)
                       for i, r in enumerate(value)]}
    if name == "not":
        return {"not": _parse(value, f"{where}.not", depth + 1, nodes)}
    check = PREDICATES.get(name)
    if check is None:
        raise InvalidRule(f"{where} has unknown predicate {name!r}", field=f"{where}.{name}")
    return {name: check(value, f"{where}.{name}")}


def predicates(rule: Rule) -> list[tuple[str, Any]]:
    """Every predicate of a (canonical) rule, depth first."""
    (name, value), = rule.items()
    if name in ("all", "any"):
        return [p for r in value for p in predicates(r)]
    if name == "not":
        return predicates(value)
    return [(name, value)]


def is_time_dependent(rule: Rule) -> bool:
    """True if the rule can change truth as time passes (re-evaluated by clock ticks)."""
    for name, value in predicates(rule):
        if name in TIME_DEPENDENT:
            return True
        if name in ("ordered", "gmv", *BOUGHT) and value["withinDays"] is not None:
            return True
    return False
