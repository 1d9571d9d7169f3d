"""Every read model holds the same rows whatever the size of the pages it folded.

Live, a runner's pages are as long as what arrived since its last look (often a few
events); a rebuild reads thousands at a time. The workload's business times run against
the log's order (30 days at random, as late callbacks and imports give), so a fold that
took a page's last event for its latest, or a first for its earliest, differs between
the two. Found once this way: ``customer_group.updated_at``.
"""

from __future__ import annotations

import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from application.app import Siyu
from bench import segments, workload
from projections.groups import GROUPS
from projections.runner import Tracker
from projections.shared_pages import SharedPageRunner
from siyu.processes import read_model_views, views_of

pytestmark = pytest.mark.integration


def digests(url: str) -> dict[str, str]:
    """md5 of every table of the read models, rows in a fixed order."""
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> ALL(%s) ORDER BY tablename", (list(_STORE),)).fetchall()
            if not r[0].startswith("siyu_")]
        return {table: conn.execute(SQL(
            "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {} t"
        ).format(Identifier(table))).fetchone()[0] for table in tables}  # type: ignore[index]


#: The event store's own tables and the runners' bookkeeping: not read models.
_STORE = ("stored_events", "stored_snapshots", "tracking", "projection_tracking")


def fold_all(app: Siyu, page_size: int) -> None:
    tracker = Tracker(app.factory.datastore)  # type: ignore[attr-defined]
    for group in GROUPS:
        SharedPageRunner(app, views_of([group]), tracker, page_size=page_size).catch_up()


def clear_all(app: Siyu) -> None:
    tracker = Tracker(app.factory.datastore)  # type: ignore[attr-defined]
    with tracker.datastore.transaction(commit=True) as curs:
        for view in read_model_views():
            view.clear(curs)
            tracker.reset(curs, view.name)


def test_every_read_model_is_the_same_in_pages_of_seven_and_of_five_thousand(
        pg_app: Siyu, pg_url: str) -> None:
    # Given segments and 1,500 events over 150 customers, their times out of log order
    segments._define(pg_app, segments.segment_rules()[:8])
    segments._record(pg_app, workload.items(1500, customers=150, seed=3))
    # When every read model follows the log seven events a page
    fold_all(pg_app, page_size=7)
    live = digests(pg_url)
    # And is then built again from nothing in pages of 5,000
    clear_all(pg_app)
    fold_all(pg_app, page_size=5000)
    # Then every table holds the same rows
    rebuilt = digests(pg_url)
    assert len(live) > 30, sorted(live)
    assert {t for t in live if live[t] != rebuilt[t]} == set()
