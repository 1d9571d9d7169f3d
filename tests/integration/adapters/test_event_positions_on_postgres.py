"""Events written at positions reserved under the table lock: each event id stored once,
positions in commit order, concurrent writers to one stream losing nothing, and a write
that dies between its reservation and its commit leaving nothing behind."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import OperationalError

from adapters import event_chain, event_positions
from application.app import Siyu
from domain.ingestion import EventItem
from siyu.bootstrap import build_application
from tests.conftest import SECRET

pytestmark = pytest.mark.integration

WHO = ("phone", "13900000001")


def _view(event_id: str, now: datetime, who: tuple[str, str] = WHO) -> EventItem:
    return EventItem(event_id, "CONTENT_VIEWED", who, now, content_id="c")


def _log(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT notification_id, originator_id, originator_version, topic "
                            "FROM siyu_events ORDER BY notification_id").fetchall()


def _chain_is_whole(url: str) -> bool:
    with psycopg.connect(url) as conn:
        report = event_chain.verify(conn, "public", "siyu_events")
    return report.checked > 0 and not report.broken


def test_an_event_id_sent_twice_in_one_batch_is_stored_once(pg_app: Siyu, pg_url: str,
                                                            now: datetime) -> None:
    # Given a batch that repeats an event id
    items = [_view("a", now), _view("a", now), _view("b", now)]
    # When it is recorded
    result = pg_app.ingestion.record_batch(items, "service:test")
    # Then the repeat is a duplicate, and the customer's stream holds two views
    assert [o.status for o in result.outcomes] == ["accepted", "duplicate", "accepted"]
    views = [r for r in _log(pg_url) if r[3].endswith("ContentViewed")]
    assert len(views) == 2
    assert result.last_position == _log(pg_url)[-1][0]
    assert _chain_is_whole(pg_url)


def test_a_batch_sent_again_stores_nothing_more(pg_app: Siyu, pg_url: str,
                                                now: datetime) -> None:
    # Given a batch recorded once (a new customer, views of two customers)
    items = [_view(f"e{n}", now, ("phone", f"1390000000{n % 2}")) for n in range(6)]
    first = pg_app.ingestion.record_batch(items, "service:test")
    assert first.count("accepted") == 6
    stored = _log(pg_url)
    # When the same batch is sent again, by this process and by a fresh one (a redelivery)
    again = pg_app.ingestion.record_batch(items, "service:test")
    other = build_application(pg_url, SECRET)
    try:
        redelivered = other.ingestion.record_batch(items, "service:test")
    finally:
        other.close()
    # Then every item is a duplicate and the log is unchanged
    assert again.count("duplicate") == redelivered.count("duplicate") == 6
    assert _log(pg_url) == stored
    # And positions follow one another within the batch
    positions = [r[0] for r in stored]
    assert positions == list(range(positions[0], positions[0] + len(positions)))


@pytest.mark.parametrize("size", [3, 70])
def test_concurrent_writers_to_one_stream_lose_nothing_and_keep_positions_in_commit_order(
        pg_url: str, now: datetime, size: int) -> None:
    # Given two application instances (two processes) and one customer
    apps = [build_application(pg_url, SECRET) for _ in range(2)]
    apps[0].ingestion.record_batch([_view("first", now)], "service:test")
    errors: list[BaseException] = []
    accepted: list[str] = []
    lock = threading.Lock()

    def write(app: Siyu, name: str) -> None:
        try:
            for n in range(8):
                result = app.ingestion.record_batch(
                    [_view(f"{name}-{n}-{k}", now) for k in range(size)], "service:test")
                with lock:
                    accepted.extend(o.event_id for o in result.outcomes
                                    if o.status == "accepted")
        except BaseException as error:
            errors.append(error)

    # When four threads, two per instance, append to that customer at once
    try:
        threads = [threading.Thread(target=write, args=(apps[n % 2], f"t{n}")) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    finally:
        for app in apps:
            app.close()
    # Then every view was stored once, its stream has no gap, and the chain is whole
    assert errors == []
    assert len(accepted) == len(set(accepted)) == 4 * 8 * size
    log = _log(pg_url)
    versions = [r[2] for r in log]
    assert sorted(versions) == list(range(1, len(log) + 1))
    # Positions follow versions: a later commit never has an earlier position
    assert versions == sorted(versions)
    assert _chain_is_whole(pg_url)


@pytest.mark.parametrize("size", [2, 70])
def test_a_write_that_dies_between_its_positions_and_its_commit_leaves_nothing(
        pg_app: Siyu, pg_url: str, now: datetime, monkeypatch: pytest.MonkeyPatch,
        size: int) -> None:
    # Given a customer with one view
    pg_app.ingestion.record_batch([_view("before", now)], "service:test")
    stored = _log(pg_url)
    original = event_positions.chain_links

    def then_die(curs: Any, *args: Any) -> Any:
        done = original(curs, *args)
        with psycopg.connect(pg_url, autocommit=True) as admin:  # the writer's backend dies
            killed = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                "current_database() AND backend_xid IS NOT NULL "
                "AND pid <> pg_backend_pid()").fetchall()  # the writer, inserting or idle
        assert killed == [(True,)]
        return done

    # When the next batch's connection is killed once its positions are reserved and its
    # events sent, while its links are hashed, before they are sent with the commit
    monkeypatch.setattr(event_positions, "chain_links", then_die)
    items = [_view(f"lost-{n}", now, ("phone", f"1390000{n % 2:04d}")) for n in range(size)]
    with pytest.raises(OperationalError):  # the connection is gone
        pg_app.ingestion.record_batch(items, "service:test")
    monkeypatch.undo()
    # Then nothing of it was stored: no event, no link, no event id, no identity
    assert _log(pg_url) == stored
    with psycopg.connect(pg_url) as conn:
        keys = conn.execute("SELECT count(*) FROM siyu_event_key").fetchone()
        identities = conn.execute("SELECT count(*) FROM siyu_identity").fetchone()
    assert keys == (1,) and identities == (1,)
    assert _chain_is_whole(pg_url)
    # And the batch sent again is stored once, after the burnt positions
    result = pg_app.ingestion.record_batch(items, "service:test")
    assert result.count("accepted") == size
    log = _log(pg_url)
    assert len(log) == len(stored) + size + 2  # the views, a new customer and its identity
    assert log[len(stored)][0] > stored[-1][0] + 1
    assert _chain_is_whole(pg_url)
