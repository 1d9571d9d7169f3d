"""A group of read models fed from one shared read of the log folds what each view alone
folds, each view from its own position, and quarantines per view."""

from __future__ import annotations

import psycopg
import pytest

from application.app import Siyu
from projections.groups import GROUPS
from projections.runner import BatchRunner, Tracker
from projections.shared_pages import SharedPageRunner
from projections.tag_groups.view import TagGroupView
from siyu.processes import read_model_views, views_of
from tests.integration.projections.test_quarantine_on_postgres import (
    SeenView,
    open_quarantine,
    record,
    seen,
)

pytestmark = pytest.mark.integration


def test_every_read_model_is_in_exactly_one_group() -> None:
    grouped = sorted(name for names in GROUPS.values() for name in names)
    assert grouped == sorted(v.name for v in read_model_views())
    assert [v.name for v in views_of(["profile"])] == list(GROUPS["profile"])
    with pytest.raises(ValueError, match="unknown read-model group"):
        views_of(["nope"])


def test_views_at_different_positions_each_get_what_they_have_not_applied(
        pg_app: Siyu, pg_url: str) -> None:
    # Given 40 events, a view that applied the first 15 alone, and one poisoned event
    positions = record(pg_app, 40)
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    ahead = SeenView({positions[30]})
    BatchRunner(pg_app, ahead, tracker, page_size=15).run_once()
    assert seen(pg_url) == positions[:15]
    # When it and a fresh read model run from one shared read, in pages of 12
    shared = SharedPageRunner(pg_app, [ahead, TagGroupView()], tracker, page_size=12)
    shared.catch_up()
    # Then each is at the head, nothing applied twice (the table's key would refuse it),
    # the poisoned event set aside for its view only
    assert shared.positions() == {"test_seen": positions[-1], "tag_group": positions[-1]}
    assert seen(pg_url) == [p for p in positions if p != positions[30]]
    assert [e.notification_id for e in open_quarantine(pg_app, "test_seen")] == [positions[30]]
    assert open_quarantine(pg_app, "tag_group") == []


def test_a_group_builds_the_same_rows_as_one_runner_per_view(pg_app: Siyu, pg_url: str) -> None:
    # Given the engagement read models built by one runner each
    record(pg_app, 60)
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    for view in views_of(["engagement"]):
        BatchRunner(pg_app, view, tracker, page_size=7).catch_up()
    with psycopg.connect(pg_url) as conn:
        alone = conn.execute("SELECT * FROM customer_journey ORDER BY 1, 2").fetchall()
    # When the activity read model is emptied and the group catches up from a shared read
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("TRUNCATE customer_journey")
        conn.execute("DELETE FROM siyu_projection_tracking WHERE application_name = 'activity'")
    SharedPageRunner(pg_app, views_of(["engagement"]), tracker, page_size=9).catch_up()
    # Then its rows are the same
    with psycopg.connect(pg_url) as conn:
        shared = conn.execute("SELECT * FROM customer_journey ORDER BY 1, 2").fetchall()
    assert alone and shared == alone


def test_an_event_that_no_longer_decodes_is_quarantined_for_each_view_reading_it(
        pg_app: Siyu, pg_url: str) -> None:
    # Given 20 events, one of which no longer decodes (garbled by hand)
    positions = record(pg_app, 20)
    table = pg_app.recorder.events_table_name  # type: ignore[attr-defined]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"UPDATE {table} SET state = %s WHERE notification_id = %s",
                     (b'{"not": "what the class takes"', positions[9]))
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    # When two views catch up from one shared read, in pages of 8
    shared = SharedPageRunner(pg_app, [SeenView(set()), TagGroupView()], tracker, page_size=8)
    shared.catch_up()
    # Then the garbled event is set aside for the view that reads it, every other applied
    assert seen(pg_url) == [p for p in positions if p != positions[9]]
    assert [e.notification_id for e in open_quarantine(pg_app, "test_seen")] == [positions[9]]
    assert shared.positions() == {"test_seen": positions[-1], "tag_group": positions[-1]}
