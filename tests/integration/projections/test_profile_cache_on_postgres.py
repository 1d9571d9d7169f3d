"""The customer profile's rows kept in memory between pages never outrun the database.

The profile writer keeps the rows, roots and memberships of its last committed pages
(projections/customer_profile/cache.py). Rows carry the stream versions already folded,
so a cache that kept a rolled-back page's rows would make the page's events look applied
when the runner retries it: they would be skipped, and the counts come out short.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from psycopg import Cursor
from psycopg.rows import DictRow

from application.app import Siyu
from domain.ingestion import EventItem
from projections.leases import Lease
from projections.postgres_views import CustomerProfileView
from projections.reads import TRANSIENT
from projections.runner import BatchRunner, Tracker
from tests.integration.projections.test_profile_on_postgres import generate, snapshot

pytestmark = pytest.mark.integration


def total_events(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT coalesce(sum(event_count), 0) FROM customer_profile").fetchone()
    return int(row[0]) if row else 0


def activity(app: Siyu, now: datetime, prefix: str, customers: int, events: int) -> None:
    """Views and orders of ``customers`` customers (event ids starting with ``prefix``)."""
    items = [EventItem(f"{prefix}{n}", "CONTENT_VIEWED", ("wx_unionid", f"u{n % customers}"),
                       now, content_id=f"c{n % 5}") if n % 3 else
             EventItem(f"{prefix}{n}", "ORDER_PAID", ("wx_unionid", f"u{n % customers}"), now,
                       order_id=f"{prefix}o{n}", amount_fen=100 + n)
             for n in range(events)]
    assert app.ingestion.record_batch(items, "service:test").count("accepted") == events


class FailingOnce(Tracker):
    """Loses the connection at the end of the transaction of the page ending at ``at``:
    after the view folded and wrote the page, before the commit."""

    at = 0

    @contextlib.contextmanager
    def page(self, name: str, first_id: int, last_id: int
             ) -> Iterator[tuple[Cursor[DictRow], int]]:
        with super().page(name, first_id, last_id) as begun:
            yield begun
            if last_id == self.at:
                self.at = 0
                raise psycopg.OperationalError("connection lost before the commit")


def test_a_page_rolled_back_after_its_rows_were_folded_is_applied_again_in_full(
        pg_app: Siyu, pg_url: str, now: datetime) -> None:
    # Given a profile runner that has cached two pages' customers
    generate(pg_app, now, customers=60, events=600)
    tracker = FailingOnce(pg_app.factory.datastore)  # type: ignore[attr-defined]
    view = CustomerProfileView()
    runner = BatchRunner(pg_app, view, tracker, page_size=100)
    runner.run_once()
    runner.run_once()
    assert view.cache.rows, "the runner keeps rows between pages"
    # When the third page is folded and written, and its transaction then rolls back
    notifications = pg_app.recorder.select_notifications(
        start=tracker.position(view.name), limit=100, inclusive_of_start=False)
    tracker.at = notifications[-1].id
    with pytest.raises(TRANSIENT):
        runner.run_once()
    # Then nothing of it is kept: retried, every event of it counts
    runner.catch_up()
    last = pg_app.recorder.max_notification_id()
    assert total_events(pg_url) == last
    live = snapshot(pg_url)
    runner.rebuild()
    assert snapshot(pg_url) == live


def test_a_quarantined_event_leaves_the_rest_of_its_page_counted_once(
        pg_app: Siyu, pg_url: str, now: datetime) -> None:
    # Given a view that fails on one event after folding its page (the runner then splits
    # the page, trying and rolling back parts of it, and quarantines the event)
    generate(pg_app, now, customers=40, events=400)
    poisoned = pg_app.recorder.select_notifications(start=150, limit=1)[0].id

    class Poisoned(CustomerProfileView):
        def apply_page(self, curs: Cursor[DictRow],
                       events: Sequence[tuple[int, Any]]) -> None:
            super().apply_page(curs, events)
            if any(position == poisoned for position, _ in events):
                raise ValueError("cannot apply")

    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    runner = BatchRunner(pg_app, Poisoned(), tracker, page_size=64)
    # When it catches up page by page
    runner.catch_up()
    # Then every other event counts once, and a rebuild agrees
    assert total_events(pg_url) == (pg_app.recorder.max_notification_id() or 0) - 1
    live = snapshot(pg_url)
    runner.rebuild()
    assert snapshot(pg_url) == live


def test_a_cache_is_dropped_when_another_writer_moved_the_read_model_on(
        pg_app: Siyu, pg_url: str, now: datetime) -> None:
    # Given a runner that cached every customer
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    first = BatchRunner(pg_app, CustomerProfileView(), tracker, page_size=150)
    activity(pg_app, now, "a", customers=30, events=300)
    first.catch_up()
    # When another process (after a failover) applies the next events
    activity(pg_app, now, "b", customers=30, events=300)
    second = BatchRunner(pg_app, CustomerProfileView(), tracker, page_size=150)
    assert second.run_once()
    # and the first runner takes over again
    activity(pg_app, now, "c", customers=30, events=300)
    first.catch_up()
    # Then it folded onto the rows the other one wrote, not onto its own older ones
    assert total_events(pg_url) == pg_app.recorder.max_notification_id()
    live = snapshot(pg_url)
    first.rebuild()
    assert snapshot(pg_url) == live


def test_a_cache_is_kept_only_while_the_lease_is_held_in_the_same_term(
        pg_app: Siyu, now: datetime) -> None:
    lease = Lease("profile")
    lease.term = 1
    lease.held.set()
    view = CustomerProfileView()
    runner = BatchRunner(pg_app, view, Tracker(pg_app.factory.datastore),  # type: ignore[attr-defined]
                         page_size=100, lease=lease)
    marker = uuid4()  # a row only the cache holds: gone when the cache is dropped

    def page_after(seed: int) -> None:
        tags = [EventItem(f"t{seed}-{n}", "TAGGED", ("wx_unionid", f"u{n}"), now, tag=f"t{seed}")
                for n in range(10)]
        assert pg_app.ingestion.record_batch(tags, "service:test").count("accepted") == 10
        view.cache.rows[marker] = None
        assert runner.run_once()

    # Given pages written in one term: the cache is kept from one to the next
    page_after(1)
    page_after(2)
    assert marker in view.cache.rows
    # When leadership was lost and taken again meanwhile: dropped
    lease.term += 1
    page_after(3)
    assert marker not in view.cache.rows and view.cache.rows
    # When this process does not lead now: nothing is used nor kept
    lease.held.clear()
    page_after(4)
    assert not view.cache.rows
