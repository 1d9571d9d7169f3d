"""The main job (``siyu run`` / ``siyu demo``) as a process tree, driven from outside.

Shared by the operations benchmarks and the tests that check the same bounds: start the
job on a database, ingest through its API from several clients, count its PostgreSQL
connections from ``pg_stat_activity``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg.conninfo import conninfo_to_dict

INGEST = """mutation($events: [CustomerEventInput!]!) {
  recordCustomerEvents(input: {events: $events}) { accepted duplicates rejected } }"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Job:
    process: subprocess.Popen[bytes]
    url: str
    api: str
    data_dir: Path
    log: Path

    def tokens(self) -> dict[str, str]:
        return dict(json.loads((self.data_dir / "demo-tokens.json").read_text()))

    def wait_ready(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the job exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.api}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"the job was not ready in {seconds} s")


@contextmanager
def main_job(url: str, data_dir: Path, *args: str, env: dict[str, str] | None = None
             ) -> Iterator[Job]:
    """``python -m siyu <args>`` on ``url`` with ports of its own; stopped with SIGINT."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if k != "BROKER_URL"}
    environment.update(DATABASE_URL=url, SIYU_DATA_DIR=str(data_dir), SIYU_PORT=str(port),
                       SIYU_FAKE_GATEWAY_PORT=str(free_port()),
                       SIYU_WORKER_METRICS_PORT=str(free_port()),
                       SIYU_PROJECTIONS_METRICS_PORT=str(free_port()),
                       SIYU_PG_PORT=str(free_port()), **(env or {}))
    log = data_dir / "job.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "siyu", *args], env=environment,
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        yield Job(process, url, f"http://127.0.0.1:{port}", data_dir, log)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def connections(url: str) -> int:
    """Connections to ``url``'s database, the asking one excluded."""
    return sum(connections_by_application(url).values())


def connections_by_application(url: str) -> dict[str, int]:
    """Connections to ``url``'s database by ``application_name``, the asking one excluded."""
    name = conninfo_to_dict(url).get("dbname")
    with psycopg.connect(url, connect_timeout=3) as conn:
        rows = conn.execute("SELECT application_name, count(*) FROM pg_stat_activity "
                            "WHERE datname = %s AND pid <> pg_backend_pid() "
                            "GROUP BY application_name", (name,)).fetchall()
    return {str(app): int(n) for app, n in rows}


class PeakConnections:
    """Samples the connections every ``every`` seconds in a thread; keeps the peak and,
    in ``at_peak``, who held them then (by ``application_name``)."""

    def __init__(self, url: str, every: float = 0.1) -> None:
        self.url = url
        self.every = every
        self.peak = 0
        self.at_peak: dict[str, int] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                held = connections_by_application(self.url)
                if sum(held.values()) > self.peak:
                    self.peak, self.at_peak = sum(held.values()), held
                self.samples += 1
            except psycopg.OperationalError:
                pass
            self._stop.wait(self.every)

    def __enter__(self) -> PeakConnections:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)


def order(n: int, prefix: str) -> dict[str, Any]:
    return {"eventId": f"{prefix}-{n}", "type": "ORDER_PAID",
            "occurredAt": "2026-11-21T20:13:00+08:00",
            "customer": {"namespace": "phone", "value": f"1380000{n % 5000:04d}"},
            "orderId": f"{prefix}-{n}", "amountFen": 100 + n % 900}


@dataclass
class Load:
    """Clients ingesting orders through the API until stopped; what was acknowledged."""

    api: str
    token: str
    prefix: str
    clients: int = 8
    batch: int = 10
    acknowledged: list[str] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    last_ok: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next: int = 0

    def _ids(self) -> list[int]:
        with self._lock:
            first = self._next
            self._next += self.batch
        return list(range(first, first + self.batch))

    def _client(self) -> None:
        with httpx.Client(base_url=self.api, timeout=15,
                          headers={"Authorization": f"Bearer {self.token}"}) as http:
            while not self._stop.is_set():
                events = [order(n, self.prefix) for n in self._ids()]
                try:
                    response = http.post("/graphql", json={"query": INGEST,
                                                           "variables": {"events": events}})
                except httpx.HTTPError as error:
                    self._count(type(error).__name__)
                    time.sleep(0.2)
                    continue
                codes = [e.get("extensions", {}).get("code", "?")
                         for e in response.json().get("errors", [])] if response.content else []
                if response.status_code == 200 and not codes:
                    with self._lock:
                        self.acknowledged += [e["eventId"] for e in events]
                        self.last_ok = time.monotonic()
                    self._count("ok")
                else:
                    self._count(",".join(sorted(set(codes))) or str(response.status_code))
                    time.sleep(0.2)

    def _count(self, outcome: str) -> None:
        with self._lock:
            self.statuses[outcome] = self.statuses.get(outcome, 0) + 1

    def __enter__(self) -> Load:
        self._threads = [threading.Thread(target=self._client, daemon=True)
                         for _ in range(self.clients)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)


def stored_event_ids(url: str, prefix: str) -> list[str]:
    """Event ids of the orders ingested under ``prefix`` that the log holds (a repeat
    would be listed twice)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT convert_from(state, 'UTF8')::jsonb ->> 'order_id' "
                            "FROM siyu_events WHERE topic LIKE '%%OrderPaid%%'").fetchall()
    return [r[0] for r in rows if r[0] and r[0].startswith(prefix + "-")]
