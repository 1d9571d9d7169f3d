"""The event store's DDL runs once per shape: a process starting beside a writer that is
mid-transaction neither waits for it nor deadlocks with it (a restarted projections process
exited with ``DeadlockDetected`` in the topology test)."""

from __future__ import annotations

import functools
import threading
import time
from datetime import datetime

import psycopg
import pytest
from eventsourcing.postgres import PostgresApplicationRecorder

from adapters import event_store_schema
from adapters.recorders import SiyuPostgresRecorder
from application.app import Siyu
from domain.ingestion import EventItem
from siyu.bootstrap import build_application
from tests.conftest import SECRET

pytestmark = pytest.mark.integration


def build_in_thread(url: str) -> tuple[threading.Thread, list[object]]:
    built: list[object] = []

    def build() -> None:
        try:
            app = build_application(url, SECRET)
            built.append(app)
            app.close()
        except Exception as error:  # reported by the test
            built.append(error)

    thread = threading.Thread(target=build, daemon=True)
    thread.start()
    return thread, built


def test_a_start_beside_an_open_write_runs_no_ddl_and_does_not_wait(
        pg_app: Siyu, pg_url: str, now: datetime) -> None:
    # Given a store in use, and a writer holding a side table mid-transaction (its side rows
    # are written before it takes the events table's lock)
    pg_app.ingestion.record_batch(
        [EventItem("e1", "TAGGED", ("phone", "13700137001"), now, tag="a")], "s:t")
    with psycopg.connect(pg_url) as writer:
        writer.execute("INSERT INTO siyu_identity (blind_index, namespace, customer_id) "
                       "VALUES ('held-by-a-writer', 'phone', gen_random_uuid())")
        # When another process builds its application meanwhile
        started = time.monotonic()
        thread, built = build_in_thread(pg_url)
        thread.join(10)
        # Then it is built at once: no CREATE INDEX waited for the writer's lock
        assert built and not isinstance(built[0], Exception), built
        assert time.monotonic() - started < 10
        writer.rollback()


def test_a_new_shape_runs_the_ddl_again_and_records_it(pg_app: Siyu, pg_url: str) -> None:
    recorder = pg_app.recorder
    assert isinstance(recorder, SiyuPostgresRecorder)
    statements = recorder.sql_create_statements
    table = recorder.events_table_name
    assert event_store_schema.is_current(recorder.datastore, statements, table)
    ran: list[int] = []
    # A current store: nothing runs
    assert not event_store_schema.create_once(recorder.datastore, statements, table,
                                              lambda: ran.append(1))
    # A store recorded with another shape (an upgrade): the DDL runs, then it is current
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE siyu_event_store_schema SET fingerprint = 'an older shape'")
    assert not event_store_schema.is_current(recorder.datastore, statements, table)
    library_ddl = functools.partial(PostgresApplicationRecorder.create_table, recorder)
    assert event_store_schema.create_once(recorder.datastore, statements, table, library_ddl)
    assert event_store_schema.is_current(recorder.datastore, statements, table)


def test_a_deadlock_with_a_writer_is_retried(pg_app: Siyu, pg_url: str) -> None:
    recorder = pg_app.recorder
    assert isinstance(recorder, SiyuPostgresRecorder)
    calls: list[int] = []

    def create() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise psycopg.errors.DeadlockDetected("deadlock detected")

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DELETE FROM siyu_event_store_schema")
    assert event_store_schema.create_once(recorder.datastore, recorder.sql_create_statements,
                                          recorder.events_table_name, create)
    assert len(calls) == 2
