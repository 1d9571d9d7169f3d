"""Every process may start at the same moment as the others, on a fresh or an existing
database: the schema setup of each (event store, read models and their migrations, the
worker's tables, the broker's schema) waits on one lock instead of failing or deadlocking."""

from __future__ import annotations

import multiprocessing
import threading
import traceback
from pathlib import Path

import psycopg
import pytest
from starlette.testclient import TestClient

from projections.runner import BatchRunner, Tracker
from siyu.api_process import create_app
from siyu.bootstrap import build_application
from siyu.processes import read_model_views
from siyu.settings import Settings
from siyu.worker_process import build_worker
from tests.conftest import SECRET, reset_schema

# A database with no schema: these tests create (and migrate) it from several processes.
pytestmark = [pytest.mark.integration, pytest.mark.fresh_database]

TOPOLOGY = ("api", "api", "projections", "projections", "worker", "worker")


def settings_for(url: str, data_dir: Path) -> Settings:
    return Settings(database_url=url, broker_url=None, data_dir=data_dir, secret=SECRET)


def start_up(kind: str, settings: Settings) -> None:
    """What a ``siyu serve``, ``siyu projections`` or ``siyu worker`` process does
    before it serves: every connection, table and migration of its start."""
    assert settings.database_url is not None
    if kind == "api":
        with TestClient(create_app(settings)):  # the lifespan: application, read models, pool
            pass
    elif kind == "projections":
        app = build_application(settings.database_url, settings.secret)
        try:
            tracker = Tracker(app.factory.datastore)  # type: ignore[attr-defined]
            for view in read_model_views():
                BatchRunner(app, view, tracker)
        finally:
            app.close()
    else:
        build_worker(settings).stop()


def process_main(kind: str, settings: Settings, go: object) -> None:
    go.wait()  # type: ignore[attr-defined]
    start_up(kind, settings)


def bump_a_read_model_version(url: str) -> None:
    """Make every start migrate (drop and rebuild) one read model at once."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE siyu_read_model_version SET version = version - 1 "
                     "WHERE name = 'staff_daily_performance'")


def test_six_processes_started_at_once_on_a_fresh_database_all_start(
        pg_url: str, tmp_path: Path) -> None:
    # Given a fresh database and the 2 API + 2 projections + 2 worker topology
    # (processes forked from a server that imported the code once: a spawned child
    # imports everything again, a minute on a busy 2-core machine)
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    settings = settings_for(pg_url, tmp_path)
    for attempt in range(3):
        reset_schema(pg_url)
        go = context.Barrier(len(TOPOLOGY))
        processes = [context.Process(target=process_main, args=(kind, settings, go),
                                     name=f"{kind}-{n}") for n, kind in enumerate(TOPOLOGY)]
        # When all six start at the same moment
        for process in processes:
            process.start()
        for process in processes:
            process.join(180)
        # Then none dies
        assert [(p.name, p.exitcode) for p in processes] == [
            (p.name, 0) for p in processes], f"attempt {attempt}"


def test_starts_in_threads_each_with_its_own_connections_never_fail(
        pg_url: str, tmp_path: Path) -> None:
    settings = settings_for(pg_url, tmp_path)
    # fresh, fresh, then twice on the existing schema, once with a read model to migrate
    for attempt, prepare in enumerate(("fresh", "fresh", "existing", "migrate")):
        if prepare == "fresh":
            reset_schema(pg_url)
        elif prepare == "migrate":
            bump_a_read_model_version(pg_url)
        go = threading.Barrier(len(TOPOLOGY))
        failures: list[str] = []

        def run(kind: str, go: threading.Barrier = go, failures: list[str] = failures) -> None:
            go.wait()
            try:
                start_up(kind, settings)
            except BaseException:
                failures.append(f"{kind}: {traceback.format_exc()}")

        threads = [threading.Thread(target=run, args=(kind,)) for kind in TOPOLOGY]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(180)
        assert not any(t.is_alive() for t in threads), f"attempt {attempt} ({prepare}) hangs"
        assert failures == [], f"attempt {attempt} ({prepare})"
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT version FROM siyu_read_model_version "
                            "WHERE name = 'staff_daily_performance'").fetchone() == (
            next(v.version for v in read_model_views() if v.name == "staff_daily_performance"),)
