"""Event ids are scoped per source: (source, event id) is the dedupe key.

A second source sending ``order-1`` for another customer used to be answered
``duplicate`` with the first customer's id, and its event was dropped. Keys stored before
the scoping were bare event ids; each still dedupes for the source that recorded it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

import application.ingestion as ingestion_module
from application.app import Siyu
from domain.ingestion import EventItem

AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def order(event_id: str, member: str) -> EventItem:
    return EventItem(event_id=event_id, type="TAGGED", identity=("mall_member", member),
                     occurred_at=AT, tag="buyer")


def outcome(app: Siyu, item: EventItem, source: str) -> tuple[str, object]:
    result = app.ingestion.record_batch([item], source)
    return result.outcomes[0].status, result.outcomes[0].customer_id


def test_two_sources_may_use_the_same_event_id_for_different_customers(pg_app: Siyu) -> None:
    # Given the mall recorded order-1 for one member
    status, alice = outcome(pg_app, order("order-1", "m-alice"), "service:mall")
    assert status == "accepted"
    # When the POS sends its own order-1 for another member
    status, bob = outcome(pg_app, order("order-1", "m-bob"), "service:pos")
    # Then it is recorded for that member, not answered with the mall's customer
    assert status == "accepted" and bob not in (None, alice)
    # And each source's retry is still a duplicate of its own first send
    assert outcome(pg_app, order("order-1", "m-alice"), "service:mall") == ("duplicate", alice)
    assert outcome(pg_app, order("order-1", "m-bob"), "service:pos") == ("duplicate", bob)


def record_the_old_way(app: Siyu, monkeypatch: pytest.MonkeyPatch, item: EventItem,
                       source: str) -> object:
    """Store a bare event id, as versions before the scoping did (same transaction as the
    events, so the key row shares their xmin)."""
    with monkeypatch.context() as patched:
        patched.setattr(ingestion_module, "client_event_key", lambda _source, event_id: event_id)
        status, customer = outcome(app, item, source)
    assert status == "accepted"
    return customer


def test_ids_stored_before_the_scoping_dedupe_for_the_source_that_recorded_them(
        pg_app: Siyu, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given order-7 stored bare by the mall before the upgrade
    alice = record_the_old_way(pg_app, monkeypatch, order("order-7", "m-alice"), "service:mall")
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM siyu_event_key WHERE event_key = 'order-7'"
                            ).fetchone() == (1,)
    # When the mall retries it after the upgrade, it is still a duplicate
    assert outcome(pg_app, order("order-7", "m-alice"), "service:mall") == ("duplicate", alice)
    # And another source's order-7 is its own event
    status, bob = outcome(pg_app, order("order-7", "m-bob"), "service:pos")
    assert status == "accepted" and bob != alice


def test_a_stored_id_whose_source_cannot_be_told_is_never_recorded_twice(
        pg_app: Siyu, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a bare key whose row no longer shares its events' transaction (a restored dump,
    # say: rows are rewritten and their xmin changes)
    alice = record_the_old_way(pg_app, monkeypatch, order("order-8", "m-alice"), "service:mall")
    with psycopg.connect(pg_url) as conn:
        conn.execute("UPDATE siyu_event_key SET recorded_at = recorded_at "
                     "WHERE event_key = 'order-8'")
    # When any source sends order-8, it is answered duplicate (the safe side)
    assert outcome(pg_app, order("order-8", "m-bob"), "service:pos") == ("duplicate", alice)
    assert outcome(pg_app, order("order-8", "m-alice"), "service:mall") == ("duplicate", alice)

