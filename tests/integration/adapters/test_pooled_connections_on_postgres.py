"""The event store's pool: a connection that may be stale is pinged before it is lent; one
used a moment ago is lent as it is."""

from __future__ import annotations

import contextlib
import time
from datetime import datetime
from typing import Any

import psycopg
import pytest

from adapters import pooled_connections
from adapters.recorders import SiyuPostgresRecorder
from application.app import Siyu
from domain.ingestion import EventItem

pytestmark = pytest.mark.integration


def _count_pings(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    pings: list[bool] = []
    real = pooled_connections.alive

    def counted(conn: psycopg.Connection[Any]) -> bool:
        pings.append(result := real(conn))
        return result

    monkeypatch.setattr(pooled_connections, "alive", counted)
    return pings


def _recorder(app: Siyu) -> SiyuPostgresRecorder:
    assert isinstance(app.recorder, SiyuPostgresRecorder)
    return app.recorder


def test_a_connection_used_a_moment_ago_is_lent_without_a_ping(
    pg_app: Siyu, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a pool whose connections have all been used lately (it lends them in turn)
    for n in range(10):
        pg_app.ingestion.record_batch([EventItem(f"w{n}", "TAGGED", ("phone", "13800138000"),
                                                 now, tag="vip")], "s:t")
    pings = _count_pings(monkeypatch)
    # When batches follow one another
    for n in range(1, 6):
        result = pg_app.ingestion.record_batch(
            [EventItem(f"e{n}", "TAGGED", ("phone", "13800138000"), now, tag=f"t{n}")], "s:t")
        assert result.count("accepted") == 1
    # Then no borrow paid a round trip for a ping
    assert pings == []


def test_a_connection_whose_backend_was_ended_is_replaced_before_it_is_lent(
    pg_app: Siyu, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = _recorder(pg_app)
    # Given pooled connections all used a moment ago, whose backends the server then ended
    # (as a restart does)
    with contextlib.ExitStack() as borrowed:
        for _ in range(recorder.datastore.pool.min_size):
            borrowed.enter_context(recorder.datastore.get_connection())
    pings = _count_pings(monkeypatch)
    with psycopg.connect(pg_url, autocommit=True) as admin:
        backends = {row[0] for row in admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")}
        for backend in backends:
            admin.execute("SELECT pg_terminate_backend(%s, 5000)", (backend,))
    # When the store borrows a connection at once (no idle time has passed)
    with recorder.datastore.get_connection() as conn:
        answer = conn.execute("SELECT 1 AS one").fetchone()
        replacement = conn.info.backend_pid
    # Then it heard the server's goodbye, pinged, and lent a live connection instead
    assert answer == {"one": 1}
    assert replacement not in backends
    assert False in pings


def test_a_connection_never_lent_is_judged_by_its_socket_and_a_long_idle_one_is_pinged(
    pg_url: str
) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert not pooled_connections.may_be_stale(conn, None)
        assert not pooled_connections.may_be_stale(conn, time.monotonic())
        assert pooled_connections.may_be_stale(
            conn, time.monotonic() - 2 * pooled_connections.CHECK_AFTER_IDLE)
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s, 5000)", (conn.info.backend_pid,))
        assert pooled_connections.may_be_stale(conn, None)
