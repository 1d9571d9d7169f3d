"""The fast event decoder — and the state loader a page's decoder uses — give exactly the
values the library's decoder gives."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.unit.application.test_event_encoding import FAST, FIXTURE, LIBRARY, states


def typed(value: Any) -> Any:
    """``value`` with the type of every part (1, 1.0 and True differ; NaN equals itself)."""
    if isinstance(value, dict):
        return ("dict", [(typed(k), typed(v)) for k, v in value.items()])
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [typed(v) for v in value])
    if isinstance(value, (set, frozenset)):
        return (type(value).__name__, sorted(repr(typed(v)) for v in value))
    return (type(value).__name__, repr(value))


LOAD_STATE = FAST.state_loader()


def _loaded(data: bytes) -> Any:
    """The page decoder's way: the state loader, or the transcoder when it says None."""
    state = LOAD_STATE(data)
    return FAST.decode(data) if state is None else state


def _both(data: bytes) -> tuple[Any, Any]:
    """The fast decoders' value (both must give the same) and the library's."""
    results = []
    for decode in (FAST.decode, _loaded, LIBRARY.decode):
        try:
            results.append(typed(decode(data)))
        except Exception as error:  # the same refusal from each
            results.append(type(error))
    assert results[0] == results[1]
    return results[1], results[2]


def test_every_stored_event_and_snapshot_of_the_fixture_decodes_to_the_library_s_values(
        ) -> None:
    with gzip.open(FIXTURE) as raw:
        fixture = json.load(raw)
    rows = fixture["events"] + fixture["snapshots"]
    assert len(rows) > 500
    for row in rows:
        fast, library = _both(row["state"].encode())
        assert fast == library, row["topic"]


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=8), states, max_size=6))
def test_any_stored_state_decodes_to_the_library_s_values(state: dict[str, Any]) -> None:
    try:
        data = LIBRARY.encode(state)
    except Exception:  # not storable: never decoded
        assume(False)
        return
    fast, library = _both(data)
    assert fast == library


@pytest.mark.parametrize("text", [
    '{"n": 18446744073709551616}', '{"n": -9223372036854775809}', '{"n": [1, 2.5]}',
    '{"n": NaN}', '{"n": Infinity}', '{"t": "\\ud800"}', '{"n": 1e400}',
    '{"a": {"_type_": "nope", "_data_": 1}}', '{"a": [{"_type_": "uuid_hex", "_data_": '
    '"00000000000000000000000000000001"}]}', '{"a": {"_type_": "set", "_data_": '
    '[{"_type_": "decimal_str", "_data_": "1.10"}]}}', '{"a": {"_type_": "x"}}',
    '{"a": 1, "a": 2}', '[1, {"b": null}]', '"\\u0000"', '{"a": -0, "b": 1E2}'])
def test_texts_orjson_reads_otherwise_are_decoded_by_the_library(text: str) -> None:
    fast, library = _both(text.encode())
    assert fast == library
