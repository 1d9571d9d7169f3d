"""A build folds into unlogged tables, which crash recovery empties: a build that lost
them midway finds out and builds again from the first event — it never switches in a
read model missing what it folded before the crash (projections.build_tracking)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from application.app import Siyu
from projections import bluegreen
from projections.build_schema import base_tables, owned_tables, schema_of
from siyu.bootstrap import build_application
from siyu.processes import catch_up, read_model_views, views_of
from tests.conftest import SECRET
from tests.integration.projections.test_quarantine_on_postgres import record
from tests.support.throwaway_pg import ThrowawayCluster, started_cluster

pytestmark = pytest.mark.integration

AGAIN = "building again from the first event"


def tables_of_the_profile(url: str) -> dict[str, list[str]]:
    """Every row of every live table the customer profile owns."""
    with psycopg.connect(url, autocommit=True) as conn:
        owned = owned_tables(conn, views_of(["profile"])[0])
        return {t: sorted(str(r) for r in conn.execute(SQL("SELECT * FROM {}").format(
            Identifier(t)))) for t in sorted(owned)}


def rebuild_the_profile(app: Siyu, after_page: Callable[[int], None]) -> None:
    """The profile built again in pages of 7, ``after_page`` called with the pages
    folded so far after each."""
    pages = iter(range(1, 10_000))
    bluegreen.BuildSet(app, views_of(["profile"]), app.factory.datastore,  # type: ignore[attr-defined]
                       read_model_views(), page_size=7,
                       report=lambda _progress: after_page(next(pages))).run(version_bump=False)


def test_a_build_whose_unlogged_tables_were_emptied_midway_builds_again_from_the_start(
        pg_app: Siyu, pg_url: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    # Given the customer profile built from a log of a few dozen customers
    record(pg_app, 60)
    catch_up(pg_app)
    before = tables_of_the_profile(pg_url)
    assert before["customer_profile"]
    monkeypatch.setattr(bluegreen, "REPORT_EVERY", 0.0)
    schema = schema_of("customer_profile")
    emptied: list[int] = []

    def empty_the_build_once(page: int) -> None:
        # crash recovery empties every unlogged table, the build's tracking among them
        if page == 3 and not emptied:
            with psycopg.connect(pg_url, autocommit=True) as conn:
                for table in sorted(base_tables(conn, schema)):
                    conn.execute(SQL("TRUNCATE {}.{}").format(Identifier(schema),
                                                              Identifier(table)))
            emptied.append(page)

    # When it is built again and its build tables are emptied after the third page
    caplog.set_level("WARNING", logger="projections.bluegreen")
    rebuild_the_profile(pg_app, empty_the_build_once)
    # Then the build found out, started again, and switched in everything the log holds
    assert emptied == [3]
    assert tables_of_the_profile(pg_url) == before
    assert AGAIN in caplog.text


@pytest.fixture
def cluster() -> Iterator[ThrowawayCluster]:
    with started_cluster() as throwaway:
        yield throwaway


@pytest.mark.timeout(300)
def test_a_server_crash_mid_build_is_found_and_the_build_runs_again_on_the_restarted_server(
        cluster: ThrowawayCluster, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    # Given every read model built from a log, on a cluster of the test's own
    app = build_application(cluster.url, SECRET)
    try:
        record(app, 60)
        catch_up(app)
        before = tables_of_the_profile(cluster.url)
        monkeypatch.setattr(bluegreen, "REPORT_EVERY", 0.0)
        crashed: list[int] = []

        def crash_once(page: int) -> None:
            if page == 3 and not crashed:
                cluster.stop("immediate")  # no shutdown checkpoint: crash recovery at start
                cluster.start()
                crashed.append(page)

        # When the profile is built again and the server crashes after the third page
        caplog.set_level("WARNING", logger="projections.bluegreen")
        rebuild_the_profile(app, crash_once)
    finally:
        app.close()
    # Then the build started again once the server was back, and switched in what the
    # log holds, no row missing
    assert crashed == [3]
    assert AGAIN in caplog.text
    assert tables_of_the_profile(cluster.url) == before
    with psycopg.connect(cluster.url) as conn:
        assert conn.execute("SELECT nspname FROM pg_namespace "
                            "WHERE nspname LIKE 'siyu_bg_%'").fetchall() == []
