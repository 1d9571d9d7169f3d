"""The fast event encoder writes exactly the bytes the library's encoder writes."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from application.event_encoding import FastStorableTranscoder
from application.unit_of_work import EventStore
from bench import workload
from domain.storable import StorableTranscoder, UnstorableText
from siyu.bootstrap import build_application
from tests.support.determinism import fixed_clock_and_ids

FIXTURE = Path(__file__).parents[2] / "fixtures" / "stored_events.json.gz"


def _pair() -> tuple[FastStorableTranscoder, StorableTranscoder]:
    """The application's transcoder, and the library's with the same transcodings."""
    app = build_application(None, b"s" * 32)
    fast = app.mapper.transcoder
    assert isinstance(fast, FastStorableTranscoder)
    library = StorableTranscoder()
    app.register_transcodings(library)
    return fast, library


FAST, LIBRARY = _pair()


def _both(value: Any) -> tuple[bytes | type[Exception], bytes | type[Exception]]:
    results: list[bytes | type[Exception]] = []
    for transcoder in (FAST, LIBRARY):
        try:
            results.append(transcoder.encode(value))
        except Exception as error:  # the same refusal from both
            results.append(type(error))
    return results[0], results[1]


def test_every_stored_event_and_snapshot_of_the_fixture_is_encoded_to_its_stored_bytes() -> None:
    # Given every event class and snapshot as the code of an earlier main stored them
    with gzip.open(FIXTURE) as raw:
        fixture = json.load(raw)
    rows = fixture["events"] + fixture["snapshots"]
    assert len(rows) > 500
    for row in rows:
        state = row["state"].encode()
        # When the decoded state is encoded again by the fast encoder
        decoded = LIBRARY.decode(state)
        # Then it is byte for byte what the library writes, and what was stored
        assert FAST.encode(decoded) == LIBRARY.encode(decoded) == state, row["topic"]


def test_every_character_but_a_surrogate_is_written_as_the_library_writes_it() -> None:
    # Given one text with every code point of the basic plane, and some beyond it
    text = "".join(chr(c) for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF)
    text += "😀𠀀\U0010ffff"
    # Then both encoders write the same bytes, and refuse NUL and lone surrogates alike
    assert FAST.encode({"t": text[1:]}) == LIBRARY.encode({"t": text[1:]})
    assert _both({"t": text}) == (UnstorableText, UnstorableText)
    assert _both({"t": ["\ud800"]}) == (UnstorableText, UnstorableText)


AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
atoms = st.one_of(
    st.text(), st.integers(), st.booleans(), st.none(), st.floats(allow_nan=True),
    st.integers(min_value=2**63 - 3, max_value=2**64 + 3),
    st.datetimes(timezones=st.sampled_from([UTC, None, timezone(timedelta(hours=8)),
                                            timezone(timedelta(seconds=-3601))])),
    st.sampled_from([AT, AT.replace(microsecond=1), UUID(int=7), Decimal("1.10"),
                     frozenset(), {"b", "a"}]),
)
states = st.recursive(
    atoms,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.tuples(children, children),
                               st.dictionaries(st.text(max_size=5), children, max_size=4),
                               st.dictionaries(st.integers(), children, max_size=2)),
    max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=8), states, max_size=6))
def test_any_state_is_written_as_the_library_writes_it_or_refused_alike(
        state: dict[str, Any]) -> None:
    fast, library = _both(state)
    assert fast == library


@pytest.mark.parametrize("value", [1.0, 1e16, float("inf"), 2**64, UUID(int=1), {"a"},
                                   True, -(2**63)])
def test_values_orjson_spells_otherwise_go_through_the_library(value: Any) -> None:
    assert FAST.encode({"v": value, "at": AT}) == LIBRARY.encode({"v": value, "at": AT})


def _ingested_rows(monkeypatch: pytest.MonkeyPatch, items: list[Any], *, library: bool
                   ) -> list[tuple[Any, ...]]:
    """Every stored row after ingesting ``items`` in batches, with recording times and
    new ids drawn from the same sequences whichever encoder is used."""
    with monkeypatch.context() as patch:
        fixed_clock_and_ids(patch, AT)
        if library:
            patch.setattr(EventStore, "construct_transcoder", _library_transcoder)
        app = build_application(None, b"s" * 32)
        assert isinstance(app.mapper.transcoder, FastStorableTranscoder) is not library
        for start in range(0, len(items), 250):
            app.ingestion.record_batch(items[start:start + 250], "service:tests")
    return [(n.id, n.originator_id, n.originator_version, n.topic, n.state)
            for n in app.recorder.select_notifications(start=1, limit=10**6)]


def _library_transcoder(store: EventStore) -> StorableTranscoder:
    transcoder = StorableTranscoder()
    store.register_transcodings(transcoder)
    return transcoder


def test_a_workload_ingested_through_either_encoder_stores_the_same_rows(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a month-like mix of customer actions (views, tags, friends, orders, messages …)
    items = workload.items(1500, customers=120, seed=5)
    # When it is ingested once through the library's encoder and once through the fast one
    before = _ingested_rows(monkeypatch, items, library=True)
    after = _ingested_rows(monkeypatch, items, library=False)
    # Then every stored row is the same, byte for byte
    assert len(before) > 1500
    assert after == before
