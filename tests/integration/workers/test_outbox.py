"""The welcome outbox: rows from FriendAdded, written with the tracking position; dispatch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import uuid4

import psycopg
import pytest
from eventsourcing.postgres import PostgresDatastore

from application.app import Siyu
from domain.customer import Customer
from projections.runner import BatchRunner, Tracker
from tests.integration.workers.support import add_friend, friend_added_key
from workers.outbox import (
    EXPIRED_BEFORE_DISPATCH,
    Dispatcher,
    OutboxStore,
    WelcomeOutboxView,
    outbox_row,
)


def friend_added(welcome_code: str | None, recorded: datetime) -> Any:
    return Customer.FriendAdded(  # type: ignore[call-arg]
        originator_id=uuid4(), originator_version=3, timestamp=recorded, staff_id="staff-li",
        channel="qr", state=None, welcome_code=welcome_code, by="service:test",
        occurred_at=recorded)


# -- the row function (no database) ---------------------------------------------
def test_a_friend_added_with_a_welcome_code_becomes_one_pending_row(now: datetime) -> None:
    # Given a FriendAdded carrying a welcome code
    event = friend_added("code-1", now)
    # When it is projected
    row = outbox_row(event, now)
    # Then one pending row keyed by customer and version, carrying what the send needs
    assert row is not None
    assert row["outbox_key"] == f"welcome:{event.originator_id}:3"
    assert (row["status"], row["staff_id"], row["channel"], row["welcome_code"]) == (
        "pending", "staff-li", "qr", "code-1")


def test_a_friend_added_without_a_code_and_other_events_ask_for_nothing(now: datetime) -> None:
    # Given / When / Then
    assert outbox_row(friend_added(None, now), now) is None
    assert outbox_row(object(), now) is None


def test_a_friend_added_recorded_long_ago_is_written_as_failed_not_sent(now: datetime) -> None:
    # Given a FriendAdded recorded two days ago (a first run over old history)
    event = friend_added("code-1", now - timedelta(days=2))
    # When it is projected with a one-hour limit
    row = outbox_row(event, now, max_age=timedelta(hours=1))
    # Then the row is already failed: its code expired long ago
    assert row is not None
    assert (row["status"], row["failure"]) == ("failed", EXPIRED_BEFORE_DISPATCH)


# -- on PostgreSQL -----------------------------------------------------------------
def runner_for(app: Siyu, **view_options: Any) -> BatchRunner:
    datastore = cast(PostgresDatastore, app.factory.datastore)  # type: ignore[attr-defined]
    return BatchRunner(app, WelcomeOutboxView(**view_options), Tracker(datastore))


@pytest.fixture
def store(pg_url: str) -> Any:
    outbox = OutboxStore.connect(pg_url)
    yield outbox
    outbox.close()


def rows(pg_url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(pg_url) as conn:
        return conn.execute("SELECT outbox_key, status, attempts, enqueued_at IS NOT NULL "
                            "FROM welcome_outbox ORDER BY outbox_key").fetchall()


def test_the_view_writes_one_row_per_welcome_code_and_a_rebuild_adds_nothing(
        pg_app: Siyu, pg_url: str, now: datetime) -> None:
    # Given two friends added with codes and one without
    with_code = [add_friend(pg_app, now, welcome_code=f"code-{n}") for n in range(2)]
    add_friend(pg_app, now, welcome_code=None)
    runner = runner_for(pg_app)
    # When the outbox catches up
    runner.catch_up()
    # Then there is one pending row per code, and the position is tracked
    keys = sorted(friend_added_key(pg_app, c) for c in with_code)
    assert rows(pg_url) == [(k, "pending", 0, False) for k in keys]
    assert runner.tracker.position("welcome_outbox") == pg_app.recorder.max_notification_id()
    # When the projection is rebuilt from the log after one row was sent
    with psycopg.connect(pg_url) as conn:
        conn.execute("UPDATE welcome_outbox SET status = 'sent' WHERE outbox_key = %s",
                     (keys[0],))
    runner.rebuild()
    # Then nothing is added or reset: the outbox is a ledger, a replay sends nothing again
    assert rows(pg_url) == [(keys[0], "sent", 0, False), (keys[1], "pending", 0, False)]


def test_the_dispatcher_enqueues_each_pending_row_once_then_again_only_when_stale(
        pg_app: Siyu, pg_url: str, store: OutboxStore, now: datetime) -> None:
    # Given two pending rows
    for n in range(2):
        add_friend(pg_app, now, welcome_code=f"code-{n}")
    runner_for(pg_app).catch_up()
    sent: list[str] = []
    dispatcher = Dispatcher(store, sent.append, stale_after=timedelta(minutes=5))
    # When the dispatcher runs twice
    first, second = dispatcher.run_once(), dispatcher.run_once()
    # Then each row's key was enqueued once, and marked
    assert (first, second) == (2, 0)
    assert sorted(sent) == [r[0] for r in rows(pg_url)]
    assert all(r[3] for r in rows(pg_url))
    # When a row has been pending since longer than stale_after
    with psycopg.connect(pg_url) as conn:
        conn.execute("UPDATE welcome_outbox SET enqueued_at = now() - interval '10 minutes' "
                     "WHERE outbox_key = %s", (sent[0],))
    # Then it is enqueued again, and only it
    assert dispatcher.run_once() == 1
    assert sent[2] == sent[0]


def test_rows_done_are_never_enqueued(pg_app: Siyu, pg_url: str,
                                      store: OutboxStore, now: datetime) -> None:
    # Given a row already sent and one recorded as failed before dispatch
    add_friend(pg_app, now, welcome_code="code-1")
    runner_for(pg_app, max_age=timedelta(hours=1),
               clock=lambda: datetime.now(UTC) + timedelta(days=1)).catch_up()
    # When the dispatcher runs / Then nothing is enqueued
    sent: list[str] = []
    assert Dispatcher(store, sent.append).run_once() == 0
    assert [r[1] for r in rows(pg_url)] == ["failed"]


def test_a_failing_enqueue_leaves_its_row_due_and_keeps_the_ones_before(
        pg_app: Siyu, pg_url: str, store: OutboxStore, now: datetime) -> None:
    # Given three pending rows and a broker that fails on the second enqueue
    for n in range(3):
        add_friend(pg_app, now, welcome_code=f"code-{n}")
    runner_for(pg_app).catch_up()
    sent: list[str] = []

    def flaky(key: str) -> None:
        if len(sent) == 1:
            sent.append("boom")
            raise ConnectionError("broker away")
        sent.append(key)

    # When the dispatcher runs
    with pytest.raises(ConnectionError):
        Dispatcher(store, flaky).run_once()
    # Then only the first row is marked enqueued; the next run enqueues the other two
    assert sum(1 for r in rows(pg_url) if r[3]) == 1
    assert Dispatcher(store, sent.append).run_once() == 2
