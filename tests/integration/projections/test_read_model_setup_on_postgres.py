"""Creating the read models a process runs, in one transaction: versions migrated, and a
deadlock with a running page (``CREATE INDEX IF NOT EXISTS`` locks its table even when
the index exists) ended by the server and tried again."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from typing import Any

import psycopg
import pytest
from psycopg import Cursor
from psycopg.rows import DictRow

from application.app import Siyu
from projections import schema_lock
from projections.read_model_setup import create_read_models, fingerprint
from projections.runner import Tracker
from siyu.processes import read_model_views

pytestmark = pytest.mark.integration


class IndexedView:
    """A read model of one table with a secondary index."""

    def __init__(self, name: str, version: int = 1) -> None:
        self.name = name
        self.version = version

    def create(self, curs: Cursor[DictRow]) -> None:
        curs.execute(f"CREATE TABLE IF NOT EXISTS {self.name} (k int PRIMARY KEY, v int)")
        curs.execute(f"CREATE INDEX IF NOT EXISTS {self.name}_v ON {self.name} (v)")

    def drop(self, curs: Cursor[DictRow]) -> None:
        curs.execute(f"DROP TABLE IF EXISTS {self.name}")


def tracker_of(app: Siyu) -> Tracker:
    return Tracker(app.factory.datastore)  # type: ignore[attr-defined]


def test_a_new_version_is_dropped_and_created_again_the_others_kept(pg_app: Siyu,
                                                                   pg_url: str) -> None:
    tracker = tracker_of(pg_app)
    create_read_models(tracker, [IndexedView("test_rm_a"), IndexedView("test_rm_b")])
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO test_rm_a VALUES (1, 1)")
        conn.execute("INSERT INTO test_rm_b VALUES (1, 1)")
    # When b's code is a new version
    create_read_models(tracker, [IndexedView("test_rm_a"), IndexedView("test_rm_b", 2)])
    # Then b was dropped and created again, a kept its rows, and both versions are recorded
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM test_rm_a").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM test_rm_b").fetchone() == (0,)
        assert dict(conn.execute("SELECT name, version FROM siyu_read_model_version "
                                 "WHERE name LIKE 'test_rm_%'").fetchall()) == {
            "test_rm_a": 1, "test_rm_b": 2}


def test_a_deadlock_with_a_running_page_is_tried_again(
        pg_app: Siyu, pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
    tracker = tracker_of(pg_app)
    views: list[Any] = [IndexedView("test_rm_a"), IndexedView("test_rm_b")]
    create_read_models(tracker, views)
    with psycopg.connect(pg_url) as page:
        # Given a page that has written b and will write a
        page.execute("SET deadlock_timeout = '5s'")  # the start's check ends the deadlock
        page.execute("INSERT INTO test_rm_b VALUES (1, 1)")
        errors: list[BaseException] = []

        def start() -> None:
            try:
                create_read_models(tracker, views)
            except BaseException as error:  # reported by the test
                errors.append(error)

        # When a process starts meanwhile: it locks a, then waits for b
        caplog.set_level(logging.WARNING, "projections.read_model_setup")
        starting = threading.Thread(target=start)
        starting.start()
        with psycopg.connect(pg_url, autocommit=True) as watch:
            deadline = time.monotonic() + 10
            while not watch.execute(
                    "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                    "WHERE c.relname = 'test_rm_b' AND NOT l.granted").fetchone()[0]:  # type: ignore[index]
                assert time.monotonic() < deadline, "the start never waited for b"
                time.sleep(0.02)
        page.execute("INSERT INTO test_rm_a VALUES (1, 1)")  # the deadlock: the start ends
        page.commit()
        starting.join(30)
    # Then the start was ended by the server, tried again, and succeeded
    assert not starting.is_alive() and errors == []
    assert "met a deadlock" in caplog.text
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM test_rm_a").fetchone() == (1,)


class ReindexedView(IndexedView):
    """The same read model, version unchanged, with one more index: changed statements."""

    def create(self, curs: Cursor[DictRow]) -> None:
        super().create(curs)
        curs.execute(f"CREATE INDEX IF NOT EXISTS {self.name}_kv ON {self.name} (k, v)")


def _start_under_the_schema_lock(pg_url: str, tracker: Tracker, views: list[Any]) -> bool:
    """Whether a stamped start finishes while another session holds the schema lock
    (one that runs DDL waits for it)."""
    done = threading.Event()

    def start() -> None:
        create_read_models(tracker, views, stamped=True)
        done.set()

    with psycopg.connect(pg_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (schema_lock.SCHEMA_LOCK,))
        starting = threading.Thread(target=start, daemon=True)
        starting.start()
        finished = done.wait(1.5)
    starting.join(10)  # the lock is free again: a start that waited finishes now
    assert done.is_set()
    return finished


def test_a_start_whose_read_models_are_current_runs_no_ddl(pg_app: Siyu, pg_url: str) -> None:
    tracker = tracker_of(pg_app)
    # Given read models created by a start of this code
    create_read_models(tracker, [IndexedView("test_rm_a"), IndexedView("test_rm_b")],
                       stamped=True)
    # Then a second start of the same code runs no DDL (it never waits for the lock)
    assert _start_under_the_schema_lock(
        pg_url, tracker, [IndexedView("test_rm_a"), IndexedView("test_rm_b")])
    # But a start whose statements changed runs them, once
    assert not _start_under_the_schema_lock(
        pg_url, tracker, [ReindexedView("test_rm_a"), IndexedView("test_rm_b")])
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('test_rm_a_kv') IS NOT NULL").fetchone() == (
            True,)
    assert _start_under_the_schema_lock(
        pg_url, tracker, [ReindexedView("test_rm_a"), IndexedView("test_rm_b")])
    # and so does a new version, which is migrated
    assert not _start_under_the_schema_lock(
        pg_url, tracker, [ReindexedView("test_rm_a"), IndexedView("test_rm_b", 2)])
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert conn.execute("SELECT version FROM siyu_read_model_version "
                            "WHERE name = 'test_rm_b'").fetchone() == (2,)


def test_the_statements_of_every_read_model_are_noted_the_same_in_any_process() -> None:
    # Every read model's create only runs statements (none reads the database), and their
    # fingerprint does not depend on the process (no object's address in a parameter)
    views = read_model_views()
    prints = {v.name: fingerprint(v) for v in views}
    assert None not in prints.values()
    assert {v.name: fingerprint(v) for v in read_model_views()} == prints
    other = subprocess.run(
        [sys.executable, "-c", "from siyu.processes import read_model_views; "
         "from projections.read_model_setup import fingerprint; "
         "print(sorted((v.name, fingerprint(v)) for v in read_model_views()))"],
        capture_output=True, text=True, check=True)
    assert other.stdout.strip() == str(sorted(prints.items()))
