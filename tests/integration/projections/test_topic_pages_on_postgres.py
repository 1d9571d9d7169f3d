"""A group reads only the topics its views read, and every view still moves to the head.

Fails if the server-side topic filter hands a view fewer events than it folds from the
whole log, or leaves a view behind when the log's last events are of topics no view of
the group reads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
import pytest
from eventsourcing.application import Application
from psycopg import Cursor
from psycopg.rows import DictRow

from application.app import Siyu
from bench import workload
from domain.customer import Customer
from projections import quarantine, topic_pages
from projections.groups import GROUPS
from projections.runner import BatchRunner, Tracker
from projections.shared_pages import SharedPageRunner
from projections.topic_pages import select
from siyu.processes import read_model_views, views_of
from tests.integration.projections.test_quarantine_on_postgres import record
from tests.support.log_reads import counted, forget_statistics

pytestmark = pytest.mark.integration


class TopicView:
    """Records the positions of the events of ``events`` it applied."""

    version = 1

    def __init__(self, name: str, *events: type[Any]) -> None:
        self.name = name
        self.events = events

    def bind(self, app: Application[Any]) -> None:
        pass

    def create(self, curs: Cursor[DictRow]) -> None:
        curs.execute(f"CREATE TABLE IF NOT EXISTS {self.name} (id bigint PRIMARY KEY)")

    def drop(self, curs: Cursor[DictRow]) -> None:
        curs.execute(f"DROP TABLE IF EXISTS {self.name}")

    def clear(self, curs: Cursor[DictRow]) -> None:
        curs.execute(f"DELETE FROM {self.name}")

    def apply_page(self, curs: Cursor[DictRow], events: Sequence[tuple[int, Any]]) -> None:
        for position, event in events:
            assert isinstance(event, self.events), event
            curs.execute(f"INSERT INTO {self.name} VALUES (%s)", (position,))


def applied(url: str, table: str) -> list[int]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute(f"SELECT id FROM {table} ORDER BY id")]


def test_each_view_gets_its_topics_and_every_view_reaches_the_head(
        pg_app: Siyu, pg_url: str) -> None:
    # Given customers created and tagged, then only tags (a topic no view below reads)
    record(pg_app, 14)
    everything = record(pg_app, 30, start=14)
    log = pg_app.recorder.select_notifications(start=1, limit=10_000)
    registered = [n.id for n in log if n.topic.endswith("Customer.Registered")]
    tagged = [n.id for n in log if n.topic.endswith("Customer.Tagged")]
    assert registered and everything[-1] in tagged
    # When a group of a view of creations, one of tags and one of friends catches up in
    # pages of 3 events of their topics
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    views = [TopicView("test_registered", Customer.Registered),
             TopicView("test_tagged", Customer.Tagged),
             TopicView("test_friends", Customer.FriendAdded)]
    SharedPageRunner(pg_app, views, tracker, page_size=3).catch_up()
    # Then each applied every event of its topics once, and all stand at the head
    assert applied(pg_url, "test_registered") == registered
    assert applied(pg_url, "test_tagged") == tagged
    assert applied(pg_url, "test_friends") == []
    assert {v.name: tracker.position(v.name) for v in views} == dict.fromkeys(
        ("test_registered", "test_tagged", "test_friends"), everything[-1])
    # And a group reading none of the last events still reaches the head
    alone = SharedPageRunner(pg_app, [TopicView("test_registered_2", Customer.Registered)],
                             tracker, page_size=3)
    alone.catch_up()
    assert alone.positions() == {"test_registered_2": everything[-1]}
    assert applied(pg_url, "test_registered_2") == registered
    # And new events of no topic it reads move it too
    later = record(pg_app, 3, start=44)
    alone.catch_up()
    assert alone.positions() == {"test_registered_2": later[-1]}
    assert applied(pg_url, "test_registered_2") == registered


def tables(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every read model's rows (the log, its side tables and tracking aside)."""
    with psycopg.connect(url) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename NOT LIKE 'siyu_%' ORDER BY 1")]
        return {t: conn.execute(f'SELECT x::text FROM "{t}" x ORDER BY 1').fetchall()
                for t in names}


def test_every_group_folds_with_the_filter_what_its_views_fold_from_every_event(
        pg_app: Siyu, pg_url: str) -> None:
    # Given a varied log, every group caught up from reads of its topics only
    pg_app.ingestion.record_batch(workload.items(150, customers=20, seed=5), "service:test")
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    for group in GROUPS:
        SharedPageRunner(pg_app, views_of([group]), tracker, page_size=10_000).catch_up()
    filtered = tables(pg_url)
    # When every read model is built again, each view handed every event of the log
    for view in read_model_views():
        runner = BatchRunner(pg_app, view, tracker, page_size=10_000)
        with tracker.datastore.transaction(commit=True) as curs:
            view.clear(curs)
            tracker.reset(curs, view.name)
        runner.topics = None  # no topic filter: a view whose list missed one folds it here
        runner.catch_up()
    # Then every table is the same (an event a view folds was never filtered out), and
    # no event was set aside
    assert tables(pg_url) == filtered
    assert sum(len(rows) for rows in filtered.values()) > 500
    with tracker.datastore.transaction(commit=False) as curs:
        assert all(not quarantine.open_entries(curs, v.name) for v in read_model_views())


def test_the_binary_read_gives_the_library_s_notifications(pg_app: Siyu) -> None:
    # Given a varied log
    pg_app.ingestion.record_batch(workload.items(60, customers=9, seed=2), "service:test")
    recorder = pg_app.recorder
    head = recorder.max_notification_id() or 0
    topics = sorted({n.topic for n in recorder.select_notifications(start=1, limit=100)})[:2]
    # Then every slice the runner reads is the library's, field for field
    for start, limit, stop, wanted in [(0, 1000, None, ()), (5, 7, None, ()),
                                       (3, 1000, head - 4, topics), (0, 4, head, topics)]:
        assert select(recorder, start, limit, stop, wanted) == recorder.select_notifications(
            start=start, limit=limit, stop=stop, topics=list(wanted), inclusive_of_start=False)



def first_page_read(app: Siyu, url: str, limit: int, topics: list[str],
                    monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    """(events, rows read) of a catch-up's first page of ``topics``, its span the whole log,
    the log's statistics forgotten (as just loaded or restored: never analyzed)."""
    forget_statistics(url)
    reads: list[tuple[int, int]] = []
    monkeypatch.setattr(topic_pages, "fetch", counted(topic_pages.fetch, reads))
    monkeypatch.setattr(topic_pages, "SPAN", 10_000)
    notifications, _ = topic_pages.read_page(app.recorder, 0, limit, topics)
    monkeypatch.undo()
    assert len(reads) == 1 and reads[0][0] == len(notifications)
    return reads[0]


def test_a_page_s_read_does_not_grow_with_the_log_after_it_when_the_log_was_never_analyzed(
        pg_app: Siyu, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a log whose first 20 events of two topics are among its first 300
    pg_app.ingestion.record_batch(workload.items(300, customers=30, seed=3), "service:test")
    topics = ["domain.customer:Customer.Registered", "domain.customer:Customer.Tagged"]
    small = first_page_read(pg_app, pg_url, 20, topics, monkeypatch)
    # When the log grows five times after them
    pg_app.ingestion.record_batch(workload.items(1_500, customers=150, seed=4), "service:test")
    large = first_page_read(pg_app, pg_url, 20, topics, monkeypatch)
    # Then the first page reads the same rows (the log in order up to its 20th event),
    # not every event of the span, sorted (the plan a table without statistics got)
    assert small[0] == large[0] == 20
    assert small[1] == large[1] < 300


def test_a_page_s_read_plans_its_own_statement_only(pg_app: Siyu, pg_url: str) -> None:
    # Given a pooled connection as the runner gets it (autocommit)
    pg_app.ingestion.record_batch(workload.items(30, customers=5, seed=1), "service:test")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        statement, params = topic_pages._statement(
            pg_app.recorder, 0, 5, None, ())  # type: ignore[arg-type]
        # When a page is read through it
        rows = topic_pages.fetch(conn, statement, params)
        # Then the page's settings ended with it: the next statement plans as configured
        assert len(rows) == 5
        settings = conn.execute("SELECT current_setting('enable_sort'), "
                                "current_setting('enable_bitmapscan'), "
                                "current_setting('enable_seqscan')").fetchone()
        assert settings == ("on", "on", "on")
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
