"""Shared fixtures, and the tiers.

``tests/unit`` runs without I/O (in-memory persistence; its conftest refuses network
connections), ``tests/integration`` against real PostgreSQL, brokers and HTTP servers:
every test collected there is marked ``integration`` (``-m "not integration"`` runs the
unit tier and the static checks alone). ``tests/support`` holds helpers both use.

Integration tests use the PostgreSQL at ``SIYU_TEST_DATABASE_URL`` (default:
the loopback server's ``test`` database). Each test that asks for ``pg_url``
gets the application's schema, empty (built once per database, emptied per test:
``tests/support/clean_database.py``); a test marked ``fresh_database`` gets an empty
``public`` schema instead.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from application.app import Siyu
from fakes.wecom import RunningFakeWeCom, run_fake_wecom
from siyu.bootstrap import build_application
from tests.support.clean_database import CleanDatabase, build_schema, drop_everything


def _per_worker(url: str) -> str:
    """Under pytest-xdist each worker gets a database of its own (``test_gw0``, …):
    tests reset the ``public`` schema, so two workers must never share one."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    parts = urlsplit(url)
    name = parts.path.lstrip("/") or "postgres"
    return urlunsplit(parts._replace(path=f"/{name}_{worker}"))


TEST_DATABASE_URL = _per_worker(os.environ.get(
    "SIYU_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
))
SECRET = b"test-secret-0123456789abcdef0123456789"


def _ensure_database(url: str) -> None:
    info = conninfo_to_dict(url)
    name = str(info.get("dbname") or "postgres")
    admin = make_conninfo(url, dbname="postgres")
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            # A test's commits need not survive a crash of the server: without the WAL
            # flush each commit waited for, a run spends less time waiting. (Tests that stop
            # or kill a server do it to a throwaway cluster of their own, never to this.)
            conn.execute(sql.SQL("ALTER DATABASE {} SET synchronous_commit = off").format(
                sql.Identifier(name)))
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL at {admin} is not reachable: {error}")


def reset_schema(url: str) -> None:
    """No schema at all: every schema of the database dropped, ``public`` created empty."""
    with psycopg.connect(url, autocommit=True) as conn:
        drop_everything(conn)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "full_rebuild: rebuilds every read model (about 27 connections): such "
        "tests take turns across the xdist workers")
    config.addinivalue_line(
        "markers", "fresh_database: pg_url is a database with no schema at all (an empty "
        "public), not the application's schema emptied: for tests of creating, migrating "
        "or upgrading it")


@pytest.fixture(scope="session")
def pg_server() -> str:
    _ensure_database(TEST_DATABASE_URL)
    return TEST_DATABASE_URL


#: Held by a test that rebuilds every read model (marked ``full_rebuild``).
FULL_REBUILD_LOCK = Path(tempfile.gettempdir()) / f"siyu-tests-full-rebuild-{os.getuid()}.lock"


@pytest.fixture(autouse=True)
def one_full_rebuild_at_a_time(request: pytest.FixtureRequest) -> Iterator[None]:
    """A rebuild of every read model holds a connection per read model's build (about
    27): two at once in two workers, beside the rest of the suite, ran the server out of
    its 100 connections, and each waited for the other's. Such tests take turns."""
    if not request.node.get_closest_marker("full_rebuild"):
        yield
        return
    with FULL_REBUILD_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def test_database(pg_server: str) -> Iterator[CleanDatabase]:
    database = CleanDatabase(pg_server, lambda url: build_schema(url, SECRET))
    yield database
    database.close()


@pytest.fixture
def pg_url(test_database: CleanDatabase, request: pytest.FixtureRequest) -> str:
    """The worker's database with the application's schema and no rows but those
    its creation writes; with no schema at all for a test marked ``fresh_database``."""
    if request.node.get_closest_marker("fresh_database"):
        test_database.fresh()
    else:
        test_database.empty()
    return test_database.url


@pytest.fixture
def pg_app(pg_url: str) -> Iterator[Siyu]:
    app = build_application(pg_url, SECRET)
    yield app
    app.close()


@pytest.fixture
def fake_wecom() -> Iterator[RunningFakeWeCom]:
    """The local fake WeCom (with its campaign and SMS APIs) on a free loopback port."""
    with run_fake_wecom() as fake:
        yield fake


@pytest.fixture
def memory_app() -> Siyu:
    return build_application(None, SECRET)


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC)


def count_stored_events_read(app: Siyu) -> list[int]:
    """Make ``app`` record how many stored events each read of a stream returns."""
    read: list[int] = []
    original = app.recorder.select_events

    def counting(*args: object, **kwargs: object) -> object:
        rows = original(*args, **kwargs)  # type: ignore[arg-type]
        read.append(len(rows))
        return rows

    app.recorder.select_events = counting  # type: ignore[method-assign,assignment]
    return read


INTEGRATION = Path(__file__).parent / "integration"
#: The files that take longest (seconds of a quiet 2-core run, 2026-12-07), dearest first:
#: collected first, so that ``-n auto --dist loadfile`` (with ``--no-loadscope-reorder``,
#: see pyproject.toml) starts them at once instead of leaving the single long tests — which
#: xdist's default order, by number of tests per file, puts last — as the run's tail.
SLOWEST_FIRST = tuple(INTEGRATION / f for f in (
    "siyu/test_main_job.py",                              # 64
    "projections/test_staff_kpis_truth_on_postgres.py",   # 52
    "siyu/test_topology.py",                              # 50
    "api/test_hardening_http.py",                         # 49
    "siyu/test_outage_recovery.py",                       # 48
    "workers/test_campaign_kill9.py",                     # 46
    "api/test_access_http.py",                            # 44
    "workers/test_pipeline.py",                           # 30
    "siyu/test_connection_bound.py",                      # 28
    "api/test_segments_http.py",                          # 27
    "projections/test_segments_on_postgres.py",           # 26
    "api/test_graphql_http.py",                           # 25
    "api/test_database_outage_http.py",                   # 23
    "workers/test_sop_sends_on_postgres.py",              # 20
    "siyu/test_concurrent_starts.py",                     # 19
    "api/test_manager_console_http.py",                   # 19
    "workers/test_mass_send_kill9.py",                    # 19
))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of the integration tier (it touches a server), and collect the
    slowest files first (:data:`SLOWEST_FIRST`), the rest in their own order."""
    for item in items:
        if INTEGRATION in item.path.parents:
            item.add_marker(pytest.mark.integration)
    rank = {path: n for n, path in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path, len(rank)))  # stable: order kept within
