"""A new read-model version, or ``siyu rebuild``, is built beside the live tables and
switched in with one transaction: readers never see an empty or missing read model, the
BI role reads the new tables, and the rows equal what the old ones held."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from application.app import Siyu
from bench import workload
from projections import bluegreen, topic_pages
from projections.runner import Tracker
from projections.shared_pages import SharedPageRunner
from siyu.bi_role import grant_bi_role
from siyu.processes import (
    catch_up,
    prepare_read_models,
    read_model_views,
    rebuild,
    views_of,
)
from siyu.settings import Settings
from tests.conftest import SECRET
from tests.integration.projections.test_quarantine_on_postgres import record
from tests.support.log_reads import counted, forget_statistics

# A database with no schema: these tests build old versions and switch in new ones.
pytestmark = [pytest.mark.integration, pytest.mark.fresh_database]

ROLE = "siyu_test_bluegreen_bi"
POLLED = ("customer_profile", "customer_profile_view", "tag_usage")


def rows(url: str, table: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return sorted(str(r) for r in conn.execute(f"SELECT * FROM {table}"))


class Reader(threading.Thread):
    """Polls the read models as a client would, noting every empty or missing answer."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.stopping, self.polls = url, threading.Event(), 0
        self.bad: list[str] = []

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stopping.is_set():
                for table in POLLED:
                    try:
                        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
                        if not row or row[0] == 0:
                            self.bad.append(f"{table} empty")
                    except psycopg.Error as error:
                        self.bad.append(f"{table}: {type(error).__name__}")
                self.polls += 1


def test_a_version_bump_switches_while_a_reader_polls_and_the_bi_role_reads_after(
        pg_app: Siyu, pg_url: str) -> None:
    # Given read models built, a BI role, and the customer profile recorded at an old version
    record(pg_app, 60)
    catch_up(pg_app)
    grant_bi_role(pg_url, ROLE)
    before = {t: rows(pg_url, t) for t in ("customer_profile", "tag_usage")}
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE siyu_read_model_version SET version = version - 1 "
                     "WHERE name IN ('customer_profile', 'tag_group')")
    reader = Reader(pg_url)
    reader.start()
    while reader.polls < 3:
        time.sleep(0.01)
    # When a process starts with the new versions
    datastore = pg_app.factory.datastore  # type: ignore[attr-defined]
    switched = bluegreen.upgrade(pg_app, read_model_views(), datastore)
    polls_during = reader.polls
    reader.stopping.set()
    reader.join(10)
    # Then both were built beside the live ones and switched, never empty nor missing
    assert sorted(switched) == ["customer_profile", "tag_group"]
    assert reader.bad == [] and polls_during > 3
    assert {t: rows(pg_url, t) for t in before} == before
    with psycopg.connect(pg_url) as conn:
        versions: dict[str, int] = dict(conn.execute("SELECT name, version FROM siyu_read_model_version"))
        leftovers = conn.execute("SELECT nspname FROM pg_namespace "
                                 "WHERE nspname LIKE 'siyu_bg_%'").fetchall()
    assert {v.name: versions[v.name] for v in read_model_views()} == {
        v.name: v.version for v in read_model_views()}
    assert leftovers == []
    # And the new tables have their statistics the moment they serve (no autovacuum wait)
    with psycopg.connect(pg_url) as conn:
        analyzed = conn.execute("SELECT count(*) FROM pg_stats WHERE schemaname = 'public' "
                                "AND tablename = 'customer_profile'").fetchone()
    assert analyzed is not None and analyzed[0] > 0
    # And the BI role reads the new tables and the views created again over them
    with psycopg.connect(make_conninfo(pg_url, user=ROLE)) as conn:
        for table in POLLED:
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] > 0  # type: ignore[index]
    # And a second start has nothing to build
    assert bluegreen.upgrade(pg_app, read_model_views(), datastore) == []


def test_siyu_rebuild_runs_beside_a_running_projection_and_says_how_far_it_is(
        pg_app: Siyu, pg_url: str, tmp_path: Path) -> None:
    # Given the engagement and profile read models tailed by a running process
    record(pg_app, 40)
    catch_up(pg_app)
    datastore = pg_app.factory.datastore  # type: ignore[attr-defined]
    live = SharedPageRunner(pg_app, views_of(["profile", "engagement"]), Tracker(datastore),
                            poll_interval=0.05)
    thread = threading.Thread(target=live.run_forever, daemon=True)
    thread.start()
    try:
        before = rows(pg_url, "tag_usage")
        reports: list[bluegreen.Progress] = []
        settings = Settings(database_url=pg_url, broker_url=None, data_dir=tmp_path,
                            secret=SECRET)
        # When siyu rebuild runs meanwhile (the running process holds the read models' locks)
        started = time.monotonic()
        counts = rebuild(settings, ["tag_group", "customer_profile"], report=reports.append)
        # Then it neither waits for the process nor changes what the read models hold
        assert time.monotonic() - started < 120
        assert counts["customer_profile"] > 0 and rows(pg_url, "tag_usage") == before
        assert reports and reports[-1].done == reports[-1].total > 0
        assert "events" in reports[-1].line() and "ETA" in reports[-1].line()
        # And the running process goes on into the new tables from where they stand
        record(pg_app, 20, start=40)
        position = pg_app.recorder.max_notification_id() or 0
        assert live.tracker.wait("tag_group", position, timeout=60)
        assert len(rows(pg_url, "tag_usage")) > len(before)
    finally:
        live.stop()
        thread.join(30)


def test_the_api_serves_the_old_version_while_the_projections_process_builds_the_new(
        pg_app: Siyu, pg_url: str) -> None:
    # Given the customer profile built, and recorded at an older version than the code's
    record(pg_app, 30)
    catch_up(pg_app)
    before = rows(pg_url, "customer_profile")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE siyu_read_model_version SET version = version - 1 "
                     "WHERE name = 'customer_profile'")
        old = conn.execute("SELECT version FROM siyu_read_model_version "
                           "WHERE name = 'customer_profile'").fetchone()
    # When an API process starts
    prepare_read_models(pg_app, build_new_versions=False)
    # Then it left the live read model as it was: the old version serves, nothing built
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT version FROM siyu_read_model_version "
                            "WHERE name = 'customer_profile'").fetchone() == old
        assert conn.execute("SELECT nspname FROM pg_namespace "
                            "WHERE nspname LIKE 'siyu_bg_%'").fetchall() == []
    assert rows(pg_url, "customer_profile") == before
    # When the projections process starts, it builds the new version and switches it in
    datastore = pg_app.factory.datastore  # type: ignore[attr-defined]
    assert bluegreen.upgrade(pg_app, views_of(["profile"]), datastore) == ["customer_profile"]
    assert rows(pg_url, "customer_profile") == before


def test_one_pass_in_small_pages_builds_read_models_standing_at_different_positions(
        pg_app: Siyu, pg_url: str) -> None:
    # Given the profile up to the log's head and the as-of read model 20 events behind
    record(pg_app, 30)
    catch_up(pg_app)
    record(pg_app, 20, start=30)
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    SharedPageRunner(pg_app, views_of(["profile"]), tracker).catch_up()
    assert tracker.position("siyu_customer_as_of") < tracker.position("customer_profile")
    before = {t: rows(pg_url, t) for t in ("customer_profile", "siyu_customer_as_of")}
    assert all(before.values())
    # When both are built from one pass over the log in pages of 7 notifications
    views = [v for v in read_model_views()
             if v.name in ("customer_profile", "siyu_customer_as_of")]
    bluegreen.BuildSet(pg_app, views, tracker.datastore, read_model_views(),
                       page_size=7).run(version_bump=False)
    # Then each holds exactly what it held, up to its own position
    assert {t: rows(pg_url, t) for t in before} == before


def indexes(url: str, schema: str, table: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute(
            "SELECT regexp_replace(indexdef, ' ON \\S+ ', ' ON ') FROM pg_indexes "
            "WHERE schemaname = %s AND tablename = %s ORDER BY indexname", (schema, table))]


def test_a_build_fills_its_tables_before_it_creates_the_indexes_no_fold_reads(
        pg_app: Siyu, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a segment whose ledger the profile wrote, with their secondary indexes
    pg_app.segments.define("tagged", "", {"tagIn": [f"VIP{n}" for n in range(30)]},
                           "staff:m", datetime.now(UTC))
    record(pg_app, 30)
    catch_up(pg_app)
    tables = ("segment_ledger", "customer_profile", "segment_check")
    before = {t: rows(pg_url, t) for t in tables}
    defined = {t: indexes(pg_url, "public", t) for t in tables}
    assert before["segment_ledger"] and all(len(d) > 1 for d in defined.values())
    # When the profile is built again in pages of 7, the build's indexes seen at each page
    monkeypatch.setattr(bluegreen, "REPORT_EVERY", 0.0)
    seen: list[dict[str, list[str]]] = []
    build = bluegreen.BuildSet(pg_app, views_of(["profile"]), pg_app.factory.datastore,  # type: ignore[attr-defined]
                               read_model_views(), page_size=7,
                               report=lambda p: seen.append({t: indexes(
                                   pg_url, "siyu_bg_customer_profile", t) for t in tables}))
    build.run(version_bump=False)
    # Then the ledger and the profile were filled with their primary keys alone, the checks
    # kept the index the fold reads them by, and all serve as before: same indexes, rows
    assert len(seen) > 2
    assert seen[0]["segment_ledger"] == [i for i in defined["segment_ledger"] if "_pkey " in i]
    assert seen[0]["customer_profile"] == [
        i for i in defined["customer_profile"] if "_pkey " in i]
    assert any("(customer_id)" in i for i in seen[0]["segment_check"])
    assert {t: indexes(pg_url, "public", t) for t in tables} == defined
    assert {t: rows(pg_url, t) for t in tables} == before


def test_a_rebuild_s_pages_read_no_more_of_a_never_analyzed_log_than_they_hold(
        pg_app: Siyu, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the as-of read model up to the head of a log the planner has no statistics of
    # (just loaded or restored)
    pg_app.ingestion.record_batch(workload.items(600, customers=60, seed=8), "service:test")
    views = [v for v in read_model_views() if v.name == "siyu_customer_as_of"]
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    SharedPageRunner(pg_app, views, tracker).catch_up()
    before = rows(pg_url, "siyu_customer_as_of")
    forget_statistics(pg_url)
    # When it is built again in pages of 50 notifications
    reads: list[tuple[int, int]] = []
    monkeypatch.setattr(topic_pages, "fetch", counted(topic_pages.fetch, reads))
    bluegreen.BuildSet(pg_app, views, tracker.datastore, read_model_views(),
                       page_size=50).run(version_bump=False)
    # Then each page read the log in order up to its 50th notification, not the rest of
    # the log sorted (work per page that grew with the log), and the model is the same
    pages = [read for given, read in reads if given]
    assert len(pages) >= 10
    assert max(pages) <= 2 * 50
    assert rows(pg_url, "siyu_customer_as_of") == before
