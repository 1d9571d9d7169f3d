"""Fuzz every mutation over HTTP with arguments generated from the schema's input types.

Values are drawn from each argument's GraphQL type, hostile ones included: NUL, lone
surrogates, very long text, numbers past 2^31 and 2^53, deep nesting, and now and then a
value of the wrong type. Whatever comes, the API answers without an HTTP 5xx, without
``INTERNAL``, with an ``extensions.code`` on every error; and afterwards the read models
still catch up, with nothing quarantined.

The examples are derandomized (the same ones on every run, so CI is stable) and bounded per
mutation (:data:`EXAMPLES`): the test takes about a minute. Raise ``SIYU_FUZZ_EXAMPLES`` to
search further locally.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    get_named_type,
    is_leaf_type,
)
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from api.schema import schema
from application.app import Siyu
from fakes.wecom import RunningFakeWeCom
from projections.runner import Tracker
from siyu.processes import read_model_views
from siyu.settings import Settings
from tests.conftest import SECRET
from tests.integration.api.conftest import STAFF_ID, Api, serving

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("SIYU_FUZZ_EXAMPLES", "6"))
GRAPHQL = schema._schema
MUTATIONS: dict[str, GraphQLField] = dict(sorted(GRAPHQL.mutation_type.fields.items()))  # type: ignore[union-attr]

#: Text no store can hold, text that breaks naive code, and ordinary text.
HOSTILE_TEXT = st.one_of(
    st.sampled_from(["\x00", "a\x00b", "\ud800", "x\udfffy", "", " ", "😀", "{nickname}",
                     "{", "'; DROP TABLE events; --", "\u202e\u200b", "\r\n\t", "a" * 70,
                     "null", "wecom_user:x", STAFF_ID, "0a6f0000-0000-4000-8000-00000000ffff"]),
    st.just("长" * 5000),
    st.text(max_size=20),
)
IDS = st.one_of(st.uuids().map(str), st.sampled_from([STAFF_ID, "", "not-an-id", "\x00",
                                                       "1" * 300]))
INTS = st.one_of(st.integers(-3, 100), st.sampled_from([2**31 - 1, 2**31, -(2**31) - 1]))
LONGS = st.one_of(st.integers(-3, 10**6), st.sampled_from([2**53, -(2**53), 2**53 + 1, 2**60]))
TIMES = st.sampled_from(["2026-11-01T10:00:00+08:00", "2026-11-01T10:00:00Z",
                         "9999-12-31T23:59:59+14:00", "0001-01-01T00:00:00-14:00",
                         "2026-11-01", "yesterday", "", "2026-13-45T99:99:99Z"])
DATES = st.sampled_from(["2026-11-01", "9999-12-31", "0001-01-01", "2026-02-30", "", "x"])
DECIMALS = st.sampled_from(["0", "1.5", "-1", "1e999999", "NaN", "Infinity", "", "x", "0.000001"])
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), HOSTILE_TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=10)


def _deep(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = [value]
    return value


#: A value of no particular type, for the wrong-type case.
WRONG = st.one_of(st.booleans(), st.floats(allow_nan=False, allow_infinity=False),
                  st.integers(2**31, 2**70), st.just({"a": 1}), st.just([1, "x"]),
                  st.just(_deep(200)))
SCALARS: dict[str, st.SearchStrategy[Any]] = {
    "String": HOSTILE_TEXT, "ID": IDS, "Int": INTS, "Long": LONGS, "Float": st.floats(
        allow_nan=False, allow_infinity=False), "Boolean": st.booleans(), "DateTime": TIMES,
    "Date": DATES, "Decimal": DECIMALS, "JSON": st.one_of(JSON_VALUES, st.just(_deep(300))),
}


def value_of(type_: GraphQLInputType, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values of ``type_``, mostly well typed (so they reach the resolvers), sometimes not."""
    if isinstance(type_, GraphQLNonNull):
        return value_of(type_.of_type, depth)
    if depth > 4:
        return st.none()  # recursive input types (segment rules) end here
    if isinstance(type_, GraphQLList):
        return st.lists(value_of(type_.of_type, depth + 1), max_size=3)
    typed: st.SearchStrategy[Any]
    if isinstance(type_, GraphQLEnumType):
        typed = st.sampled_from(sorted(type_.values))
    elif isinstance(type_, GraphQLScalarType):
        typed = SCALARS[type_.name]
    else:
        assert isinstance(type_, GraphQLInputObjectType)
        required = {name: value_of(f.type, depth + 1) for name, f in type_.fields.items()
                    if isinstance(f.type, GraphQLNonNull) and f.default_value is None}
        optional = {name: value_of(f.type, depth + 1) for name, f in type_.fields.items()
                    if name not in required}
        typed = st.fixed_dictionaries(required, optional=optional)
    return st.one_of(typed, typed, typed, typed, typed, typed, typed, typed, typed, WRONG)


def extreme(type_: GraphQLInputType, text: str, number: int, depth: int = 0) -> Any:
    """One value of ``type_`` with every text ``text`` and every number ``number``: the
    explicit examples each mutation is always tried with, whatever hypothesis draws."""
    if isinstance(type_, GraphQLNonNull):
        return extreme(type_.of_type, text, number, depth)
    if depth > 4:
        return None
    if isinstance(type_, GraphQLList):
        return [extreme(type_.of_type, text, number, depth + 1)]
    if isinstance(type_, GraphQLEnumType):
        return sorted(type_.values)[0]
    if isinstance(type_, GraphQLInputObjectType):
        return {name: extreme(f.type, text, number, depth + 1) for name, f in type_.fields.items()}
    assert isinstance(type_, GraphQLScalarType)
    return {"String": text, "ID": text, "Int": number, "Long": number, "Float": float(number),
            "Boolean": True, "DateTime": "9999-12-31T23:59:59+14:00", "Date": "9999-12-31",
            "Decimal": str(number), "JSON": _deep(300)}[type_.name]


#: (text, number) of the explicit examples: text no store can hold with ordinary numbers,
#: ordinary text with numbers past each type's range, and ids that are real UUIDs.
EXTREMES = [("x\x00\ud800", 1), ("文本", 2**31), ("0a6f0000-0000-4000-8000-00000000ffff", 2**60)]


def operation(name: str, field: GraphQLField) -> str:
    arguments: dict[str, GraphQLArgument] = field.args
    declared = ", ".join(f"${a}: {t.type}" for a, t in arguments.items())
    passed = ", ".join(f"{a}: ${a}" for a in arguments)
    selection = "" if is_leaf_type(get_named_type(field.type)) else " { __typename }"
    head = f"mutation Fuzz({declared})" if declared else "mutation Fuzz"
    call = f"{name}({passed})" if passed else name
    return f"{head} {{ {call}{selection} }}"


def arguments_of(field: GraphQLField) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({name: value_of(argument.type)
                                  for name, argument in field.args.items()})


def check(api: Api, query: str, variables: dict[str, Any]) -> list[str]:
    """The codes of the answer's errors (``OK`` when it has none), after the assertions."""
    # Escaped JSON (ensure_ascii): the only way a client can send a lone surrogate.
    response = api.client.post("/graphql", content=json.dumps(
        {"query": query, "variables": variables}).encode(), headers={
        "Authorization": f"Bearer {api.tokens['manager']}", "Content-Type": "application/json"})
    assert response.status_code < 500, (query, response.text[:500])
    assert response.headers["content-type"].startswith("application/json"), response.text[:300]
    body = response.json()
    codes = []
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        assert code, (query, error)
        assert code != "INTERNAL", (query, variables, error)
        codes.append(code)
    return codes or ["OK"]


def fuzzer(api: Api, name: str, field: GraphQLField, seen: dict[str, set[str]]) -> Any:
    """A hypothesis test of one mutation (shrinks to the smallest failing arguments); the
    codes it was answered are added to ``seen[name]``."""
    query = operation(name, field)

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(arguments_of(field))
    def fuzz(variables: dict[str, Any]) -> None:
        seen.setdefault(name, set()).update(check(api, query, variables))

    for text, number in EXTREMES:
        fuzz = example({a: extreme(t.type, text, number) for a, t in field.args.items()})(fuzz)
    return fuzz


@pytest.fixture
def api(pg_url: str, pg_app: Siyu, live_projections: None, tmp_path: Path,
        fake_wecom: RunningFakeWeCom) -> Iterator[Api]:
    """The suite's API with WeChat's code2session at the fake: loginWithWeChat is fuzzed
    too, and without a WeChat to ask it answers UNAVAILABLE (503), an outside outage."""
    config = replace(Settings(database_url=pg_url, broker_url=None, data_dir=tmp_path,
                              secret=SECRET), fake_gateway_port=fake_wecom.port)
    with serving(config, pg_url, pg_app) as served:
        yield served


def test_the_schema_has_mutations_to_fuzz() -> None:
    assert len(MUTATIONS) >= 50 and "recordCustomerEvents" in MUTATIONS


def test_no_mutation_fails_or_stops_the_read_models_whatever_it_is_sent(
        api: Api, pg_app: Siyu) -> None:
    failures: dict[str, str] = {}
    seen: dict[str, set[str]] = {}
    for name, field in MUTATIONS.items():
        try:
            fuzzer(api, name, field, seen)()
        except Exception as failure:
            failures[name] = str(failure)[:800]
    assert failures == {}
    # The inputs reached the resolvers: most mutations were refused by a domain rule (not
    # only by GraphQL's type checks), and the NUL and surrogate guard fired
    codes = set().union(*seen.values())
    assert {"INVALID_INPUT", "NOT_FOUND"} <= codes, codes
    reached = [name for name, found in seen.items() if found - {
        "GRAPHQL_VALIDATION_FAILED", "INVALID_INPUT"}]
    assert len(reached) >= len(MUTATIONS) // 2, seen
    # Then every read model still applies new events, and none set one aside
    recorded = api.gql("""mutation($e: [CustomerEventInput!]!) { recordCustomerEvents(
        input: {events: $e, waitForProjection: true}) { accepted projected } }""", {"e": [{
        "eventId": "after-fuzz", "type": "TAGGED", "occurredAt": "2026-11-01T10:00:00+08:00",
        "customer": {"namespace": "phone", "value": "13800138000"}, "tag": "回访"}]},
        as_="service")  # ingestion is the service's (and the manager spent its rate on the fuzz)
    assert recorded["data"]["recordCustomerEvents"] == {"accepted": 1, "projected": True}
    head = pg_app.recorder.max_notification_id() or 0
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    behind = [view.name for view in read_model_views() if not tracker.wait(view.name, head, 30)]
    assert behind == []
    quarantined = after_rate_limit(lambda: api.gql(
        "{ quarantinedEvents { readModel position errorClass } }", as_="manager"))
    assert quarantined["data"]["quarantinedEvents"] == []


def after_rate_limit(ask: Callable[[], dict[str, Any]], attempts: int = 10) -> dict[str, Any]:
    """``ask()``, waiting as a client told ``RATE_LIMITED`` would (the manager spent its rate
    on the fuzz; the read models caught up with it in less than the bucket takes to refill)."""
    for _ in range(attempts - 1):
        try:
            return ask()
        except AssertionError as refused:
            if "RATE_LIMITED" not in str(refused):
                raise
            time.sleep(1.0)
    return ask()
