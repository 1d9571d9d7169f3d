"""A batch reads the streams of the customers its process has not cached in its one look-up:
no read per customer, and what another process appended is never lost."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
import pytest

from application.app import Siyu
from domain.ingestion import EventItem
from siyu.bootstrap import build_application
from tests.conftest import SECRET

pytestmark = pytest.mark.integration


def _views(prefix: str, who: list[tuple[str, str]], now: datetime, each: int = 1
           ) -> list[EventItem]:
    return [EventItem(f"{prefix}-{n}-{k}", "CONTENT_VIEWED", w, now, content_id="c")
            for n, w in enumerate(who) for k in range(each)]


def test_a_fresh_process_reads_the_customers_of_a_batch_with_its_look_up(
        pg_app: Siyu, pg_url: str, now: datetime, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given three customers recorded by one process, one with a long history (snapshots)
    who = [("phone", f"1390000000{n}") for n in range(3)]
    pg_app.ingestion.record_batch(_views("a", who, now), "service:test")
    pg_app.ingestion.record_batch(_views("long", who[:1], now, each=150), "service:test")
    # When a fresh process records a batch for all three, never reading a stream on its own
    fresh = build_application(pg_url, SECRET)

    def no_read(*args: Any) -> Any:
        raise AssertionError("a stream was read outside the batch's look-up")

    monkeypatch.setattr(fresh.recorder, "stream_tail", no_read)
    try:
        result = fresh.ingestion.record_batch(_views("b", who, now), "service:test")
    finally:
        fresh.close()
    # Then every item was accepted on the customers' stored streams
    assert result.count("accepted") == 3
    with psycopg.connect(pg_url) as conn:
        streams = conn.execute("SELECT originator_id, count(*), max(originator_version) "
                               "FROM siyu_events GROUP BY originator_id").fetchall()
    assert sorted(n for _, n, _ in streams) == [4, 4, 154]
    assert all(n == last for _, n, last in streams)


def test_a_process_whose_cached_customers_were_appended_elsewhere_loses_nothing(
        pg_app: Siyu, pg_url: str, now: datetime) -> None:
    # Given two processes that have both recorded the same customers
    who = [("phone", f"1390000001{n}") for n in range(4)]
    other = build_application(pg_url, SECRET)
    try:
        pg_app.ingestion.record_batch(_views("a", who, now), "service:test")
        other.ingestion.record_batch(_views("b", who, now), "service:test")
        # When each appends again, its cache now behind the other's appends
        first = pg_app.ingestion.record_batch(_views("c", who, now, each=2), "service:test")
        second = other.ingestion.record_batch(_views("d", who, now), "service:test")
    finally:
        other.close()
    # Then everything was accepted, and every stream is whole
    assert first.count("accepted") == 8 and second.count("accepted") == 4
    with psycopg.connect(pg_url) as conn:
        streams = conn.execute("SELECT count(*), max(originator_version) FROM siyu_events "
                               "GROUP BY originator_id").fetchall()
    assert streams == [(7, 7)] * 4  # registered, identity, views a, b, c twice and d


def test_a_customer_first_seen_by_this_process_is_not_read_back_by_its_next_batch(
        pg_app: Siyu, now: datetime, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given customers this process registered (and caches)
    who = [("phone", f"1390000002{n}") for n in range(3)]
    pg_app.ingestion.record_batch(_views("a", who, now), "service:test")
    # When its next batch for them is looked up
    asked: list[list[str]] = []
    lookup = pg_app.recorder.batch_lookup  # type: ignore[attr-defined]

    def spy(keys: Any, blinds: Any, tails_of: Any = ()) -> Any:
        asked.append(list(tails_of))
        return lookup(keys, blinds, tails_of)

    monkeypatch.setattr(pg_app.recorder, "batch_lookup", spy)
    result = pg_app.ingestion.record_batch(_views("b", who, now), "service:test")
    # Then no stream was read back, and the items were recorded on the same customers
    assert asked == [[]]
    assert result.count("accepted") == 3
    assert len({o.customer_id for o in result.outcomes}) == 3
