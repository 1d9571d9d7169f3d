"""Scale-out on existing engines: 2 API processes (``siyu serve --workers 2``), 2
``siyu projections`` and 2 ``siyu worker`` on a fresh database of the test's own and
RabbitMQ, all started at the same moment; orders and new friends ingested through the API
while one process of each kind is killed with kill -9 (the projections process that leads
the customer profile): the other projections process takes the lead within 5 s, every
acknowledged event is stored once, every acknowledged new friend gets exactly one welcome,
and ``siyu verify`` finds every read model equal to a rebuild.

Slow-ish: six processes start on two cores (5 minutes with the machine at load 29, most
of it waiting for them to be ready).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql

from adapters.tokens import ensure_token_table, issue_token
from bench.main_job import INGEST, Load, PeakConnections, free_port, stored_event_ids
from fakes.wecom import FAKE_CORP_ID, FAKE_CORP_SECRET, RunningFakeWeCom
from projections.leases import lock_key
from tests.conftest import SECRET
from tests.integration.workers.support import AMQP_URL, rabbitmq_reachable, unreachable

pytestmark = pytest.mark.integration

STAFF = "0a6f0000-0000-4000-8000-0000000000b1"
#: docs/operations.md, *Connections*: 7 per API process, 6 per `siyu projections` (two
#: processes of 3), 7 per worker on RabbitMQ (11 less the PostgreSQL broker's 4), plus one
#: start-up connection per process and the short-lived ones (token checks, auto-tag and
#: channel-code polls).
CONNECTIONS = 2 * 7 + 2 * 6 + 2 * 7 + 8 + 6


@pytest.fixture
def database(pg_url: str) -> str:
    name = "siyu_topology"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return pg_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def broker() -> str:
    problem = rabbitmq_reachable(AMQP_URL)
    if problem:
        unreachable(problem)
    return AMQP_URL


def environment(url: str, broker: str, fake: RunningFakeWeCom, data: Path,
                port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIYU_", "WECOM_"))}
    env.update(DATABASE_URL=url, BROKER_URL=broker, SIYU_SECRET=SECRET.decode(),
               SIYU_DATA_DIR=str(data), SIYU_PORT=str(port), WECOM_API_BASE=fake.url,
               WECOM_CORP_ID=FAKE_CORP_ID, WECOM_CORP_SECRET=FAKE_CORP_SECRET,
               SIYU_WORKER_METRICS_PORT="", SIYU_PROJECTIONS_METRICS_PORT="",
               SIYU_LOG_FORMAT="text")
    return env


@pytest.fixture
def topology(database: str, broker: str, fake_wecom: RunningFakeWeCom, tmp_path: Path
             ) -> Iterator[dict[str, Any]]:
    port = free_port()
    env = environment(database, broker, fake_wecom, tmp_path, port)
    parts = (["serve", "--workers", "2"], ["projections"], ["projections"], ["worker"],
             ["worker"])
    logs = [(tmp_path / f"{n}.log").open("wb") for n in range(len(parts))]
    # All at the same moment, on a database where nothing is created yet
    processes = [subprocess.Popen([sys.executable, "-m", "siyu", *part], env=env,
                                  stdout=log, stderr=subprocess.STDOUT)
                 for part, log in zip(parts, logs, strict=True)]
    try:
        yield {"url": database, "api": f"http://127.0.0.1:{port}", "env": env,
               "serve": processes[0], "projections": processes[1:3],
               "workers": processes[3:5], "logs": tmp_path}
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in logs:
            log.close()


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def leader_of(url: str, read_model: str) -> int | None:
    """The pid of the process whose lease connection holds ``read_model``'s lock (only a
    lease connection's hold counts: any other session the key shows up for is not the
    leader, and must not hide it)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a "
            "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
            "AND l.objsubid = 1 AND ((l.classid::bigint << 32) | l.objid::bigint) = %s "
            "AND a.application_name LIKE 'siyu-leases-%%' ORDER BY a.pid LIMIT 1",
            (lock_key(read_model),)).fetchone()
    return None if row is None else int(str(row[0]).rsplit("-", 1)[1])


def wait_for(check: Any, seconds: float, what: str) -> float:
    started = time.monotonic()
    while True:
        try:
            if check():
                return time.monotonic() - started
        except (psycopg.Error, httpx.HTTPError):
            pass
        assert time.monotonic() - started < seconds, f"{what}: not within {seconds} s"
        time.sleep(0.1)


def friend(n: int) -> dict[str, Any]:
    return {"eventId": f"topology-friend-{n}", "type": "FRIEND_ADDED",
            "occurredAt": datetime.now(UTC).isoformat(),
            "customer": {"namespace": f"wecom_external:{FAKE_CORP_ID}", "value": f"wmTop{n}"},
            "staffId": STAFF, "welcomeCode": f"topology-code-{n}"}


def ingest_friends(api: str, token: str, count: int) -> list[str]:
    """New friends, one request each; the welcome codes acknowledged."""
    acknowledged = []
    with httpx.Client(base_url=api, timeout=15,
                      headers={"Authorization": f"Bearer {token}"}) as http:
        for n in range(count):
            try:
                response = http.post("/graphql", json={"query": INGEST,
                                                       "variables": {"events": [friend(n)]}})
            except httpx.HTTPError:
                continue
            if response.status_code == 200 and "errors" not in response.json():
                acknowledged.append(f"topology-code-{n}")
    return acknowledged


def logs_of(topology: dict[str, Any], tail: int = 4000) -> str:
    """The processes' logs (their last characters each), for a failure's message."""
    return "\n".join(f"--- {path.name}\n{path.read_text(errors='replace')[-tail:]}"
                     for path in sorted(Path(topology["logs"]).glob("*.log")))


def positions(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {name: int(position) for name, position in conn.execute(
            "SELECT application_name, max(notification_id) FROM siyu_projection_tracking "
            "GROUP BY 1").fetchall()}


def head(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT coalesce(max(notification_id), 0) FROM siyu_events"
                           ).fetchone()
    return int(row[0]) if row else 0


@pytest.mark.timeout(600)  # six processes starting on a loaded 2-core machine
def test_two_of_each_started_at_once_survive_a_kill_9_of_one_of_each(
        topology: dict[str, Any], fake_wecom: RunningFakeWeCom) -> None:
    url, api = topology["url"], topology["api"]
    # Given the six processes started at once: the API answers, one projections process
    # leads the customer profile
    peak = PeakConnections(url).__enter__()
    wait_for(lambda: httpx.get(f"{api}/readyz", timeout=2).status_code == 200, 240, "ready")
    wait_for(lambda: leader_of(url, "customer_profile") is not None, 60, "a leader")
    ensure_token_table(url)
    token = issue_token(url, "service", f"topology-{uuid.uuid4().hex[:6]}", None, "test")
    assert all(p.poll() is None for p in [topology["serve"], *topology["projections"],
                                          *topology["workers"]]), "a process died at start"
    # When orders and new friends are ingested through the API from several clients
    with Load(api, token, "topology", clients=6) as load:
        time.sleep(3)
        welcomed = ingest_friends(api, token, 20)
        # and one API process, the customer profile's leader and one worker are killed
        api_children = children(topology["serve"].pid)
        assert len(api_children) >= 2, api_children
        os.kill(api_children[0], signal.SIGKILL)
        # (each `siyu projections` runs its groups as child processes: the default split;
        # a leader's lease connection may be opened again under load, so the lead may be
        # vacant for a moment — but no part may have exited so far)
        exits = [line for line in logs_of(topology, tail=10**7).splitlines()
                 if "exited with code" in line and "api worker" not in line]  # the one killed
        assert not exits, logs_of(topology)
        found: list[int] = []

        def led_by_a_part() -> bool:
            leader = leader_of(url, "customer_profile")
            found[:] = [] if leader is None else [leader]
            return leader in [c for p in topology["projections"] for c in children(p.pid)]

        wait_for(led_by_a_part, 15, "the leader")
        leader = found[0]  # the leader seen just now (read again, it could be vacant)
        os.kill(leader, signal.SIGKILL)
        killed_at = time.monotonic()
        os.kill(topology["workers"][0].pid, signal.SIGKILL)
        # Then the other projections process leads the customer profile within 5 s
        wait_for(lambda: leader_of(url, "customer_profile") not in (None, leader), 30,
                 "failover")
        assert time.monotonic() - killed_at < 5 + 1  # + the polling of this test
        welcomed += ingest_friends(api, token, 40)[20:]
        time.sleep(3)
    peak.__exit__()
    assert load.statuses.get("ok", 0) > 0, load.statuses
    # (two of each held 91-93 connections before the pools were bounded)
    assert 0 < peak.peak <= CONNECTIONS, peak.peak
    assert not any("INTERNAL" in outcome for outcome in load.statuses), load.statuses
    # And every acknowledged order is stored once, every read model catches up
    stored = stored_event_ids(url, "topology")
    assert set(load.acknowledged) <= set(stored)
    assert len(stored) == len(set(stored))
    wait_for(lambda: min(positions(url).get(n, 0) for n in ("customer_profile",
                                                              "welcome_outbox"))
             >= head(url), 60, "catch-up")
    # And every acknowledged new friend got exactly one welcome, none twice
    wait_for(lambda: set(welcomed) <= set(fake_wecom.state.sent_codes()), 90, "welcomes")
    sent = [c for c in fake_wecom.state.sent_codes() if c.startswith("topology-code-")]
    assert len(sent) == len(set(sent))
    with psycopg.connect(url) as conn:
        statuses: dict[str, int] = dict(conn.execute("SELECT status, count(*) FROM welcome_outbox GROUP BY 1"
                                     ).fetchall())
    assert set(statuses) == {"sent"}, statuses
    # And once stopped, every read model equals a rebuild from the log
    for process in [topology["serve"], *topology["projections"], *topology["workers"]]:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(60)
    # And no process met a deadlock starting beside the others' writes (a restarted
    # projections process used to: adapters/event_store_schema.py)
    assert "DeadlockDetected" not in logs_of(topology, tail=10**7), logs_of(topology)
    verify = subprocess.run([sys.executable, "-m", "siyu", "verify"], env=topology["env"],
                            capture_output=True, text=True, timeout=300)
    assert verify.returncode == 0, verify.stdout[-3000:] + verify.stderr[-3000:]
