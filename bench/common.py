"""Shared benchmark plumbing: the database, measures, a minimal keep-alive HTTP client."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from siyu.api_workers import BALANCED, listening
from siyu.garbage import settle_garbage_collector

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/siyu_bench"
SECRET = b"bench-secret-0123456789abcdef0123456789"


@dataclass(frozen=True)
class Measure:
    name: str
    value: float
    unit: str
    baseline: float | None
    ratio: float | None

    def line(self) -> str:
        return json.dumps({"name": self.name, "value": round(self.value, 3), "unit": self.unit,
                           "baseline": None if self.baseline is None else round(self.baseline, 3),
                           "ratio": None if self.ratio is None else round(self.ratio, 4)})


def measure(name: str, value: float, unit: str, baseline: float | None = None) -> Measure:
    """``ratio`` is always value ÷ baseline (a throughput share, or a cost multiple)."""
    return Measure(name, value, unit, baseline, value / baseline if baseline else None)


def fresh_database() -> str:
    """An empty ``public`` schema in BENCH_DATABASE_URL (default: loopback siyu_bench)."""
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    name = str(conninfo_to_dict(url).get("dbname") or "postgres")
    with psycopg.connect(make_conninfo(url, dbname="postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("DROP SCHEMA IF EXISTS dramatiq CASCADE")
        conn.execute("CREATE SCHEMA public")
    return url


def copy_baseline(url: str, events_table: str = "siyu_events") -> float:
    """Rows/s of a raw binary COPY of the stored events into an identical empty table."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            f"SELECT originator_id, originator_version, topic, state FROM {events_table}"
        ).fetchall()
        conn.execute("DROP TABLE IF EXISTS bench_copy_target")
        conn.execute("CREATE TABLE bench_copy_target (LIKE siyu_events INCLUDING ALL)")
        start = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur, cur.copy(
            "COPY bench_copy_target (originator_id, originator_version, topic, state) "
            "FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["uuid", "int8", "text", "bytea"])
            for row in rows:
                copy.write_row(row)
        elapsed = time.perf_counter() - start
        conn.execute("DROP TABLE bench_copy_target")
    return len(rows) / elapsed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(url: str, port: int, extra_env: dict[str, str] | None = None, *, workers: int = 1
           ) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``bench.server`` (the API plus a plain baseline endpoint) in its own process, or
    as ``workers`` processes sharing the port (see :func:`serving_processes`)."""
    # Load generators are one principal each: per-principal rate limits (api.rate_limit)
    # would measure the limiter, not the server. BENCH_RATE_LIMITS sets limits anyway (high
    # ones: to measure what the limiter costs), BENCH_RATE_LIMIT_SHARED where they live.
    env = {**os.environ, "DATABASE_URL": url, "SIYU_SECRET": SECRET.decode(),
           "SIYU_PORT": str(port),
           "SIYU_RATE_LIMITS": os.environ.get("BENCH_RATE_LIMITS",
                                              "default=0,customer=0,service=0"),
           "SIYU_RATE_LIMIT_SHARED": os.environ.get("BENCH_RATE_LIMIT_SHARED", "1"),
           **(extra_env or {})}
    env["BENCH_API_WORKERS"] = str(workers)
    proc = subprocess.Popen([sys.executable, "-m", "bench.server"], env=env)
    try:
        # Until it answers, and with several workers until each listens (each starts
        # serving on its own socket, siyu.api_workers); starting takes long on a loaded
        # machine.
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if (httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
                        and (workers == 1 or not BALANCED or listening(port) == workers)):
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise RuntimeError("bench server exited")
            time.sleep(0.2)
        else:
            raise RuntimeError("bench server did not start")
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def serving_processes(proc: subprocess.Popen[bytes]) -> int:
    """How many processes serve requests: the server itself, or its worker children
    (siyu.api_workers' on Linux, uvicorn's elsewhere; multiprocessing's resource tracker
    serves nothing)."""
    workers = 0
    for task in os.listdir(f"/proc/{proc.pid}/task"):
        with open(f"/proc/{proc.pid}/task/{task}/children") as listed:
            for child in listed.read().split():
                with open(f"/proc/{child}/cmdline", "rb") as cmdline:
                    command = cmdline.read()
                    workers += b"spawn_main" in command or b"siyu.api_workers" in command
    return max(1, workers)


async def _client(port: int, requests: list[bytes], latencies: list[float]) -> None:
    """One keep-alive connection sending ``requests`` one after the other. Kept lean: it
    shares the machine's cores with the server it measures. One read of the head, the
    length found in it, then the body: a third less CPU per request than reading the
    head line by line (66 against 95 µs, same run, docs/benchmarks.md)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for request in requests:
            start = time.perf_counter()
            writer.write(request)  # a few hundred bytes: never held back by flow control
            head = await reader.readuntil(b"\r\n\r\n")
            body = await reader.readexactly(content_length(head))
            if not head.startswith(b"HTTP/1.1 200 "):
                status = head.partition(b"\r\n")[0]
                raise RuntimeError(f"{status!r} {body[:300]!r}")
            latencies.append(time.perf_counter() - start)
    finally:
        writer.close()


def content_length(head: bytes) -> int:
    """The ``Content-Length`` of a response head (0 when it names none)."""
    at = head.lower().find(b"\r\ncontent-length:")
    if at < 0:
        return 0
    return int(head[at + 17:head.index(b"\r\n", at + 2)])


def event_loop() -> asyncio.AbstractEventLoop:
    """The load generator's loop: uvloop's (a dependency, as for uvicorn) when it can be
    imported — less CPU per request taken from the server it measures."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - not on Windows
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def http_request(method: str, path: str, body: bytes = b"", token: str | None = None) -> bytes:
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: keep-alive"]
    if token:
        head.append(f"Authorization: Bearer {token}")
    if body:
        head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def load(port: int, request: bytes, total: int, concurrency: int) -> tuple[float, list[float]]:
    """Requests/s and latencies of ``total`` identical requests over keep-alive connections."""
    return load_distinct(port, [request] * (total // concurrency * concurrency), concurrency)


def load_distinct(port: int, requests: list[bytes], concurrency: int
                  ) -> tuple[float, list[float]]:
    """Requests/s and per-request latencies (seconds) of sending each request once, spread
    over ``concurrency`` keep-alive connections (closed loop: one request in flight on each)."""
    latencies: list[float] = []
    shares = [requests[i::concurrency] for i in range(concurrency)]

    async def run() -> None:
        await asyncio.gather(*(_client(port, share, latencies) for share in shares))

    start = time.perf_counter()
    with asyncio.Runner(loop_factory=event_loop) as runner:
        runner.run(run())
    return len(requests) / (time.perf_counter() - start), latencies


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (0 < q < 1) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def p99(values: list[float]) -> float:
    return percentile(values, 0.99)


def dumps(data: Any) -> bytes:
    return json.dumps(data).encode()


@contextmanager
def settled_collector() -> Iterator[None]:
    """Python's cycle collector as a long-running process settles it once started
    (:func:`siyu.garbage.settle_garbage_collector`), for this block only: the bench process
    goes on to measure other things with Python's defaults."""
    thresholds = gc.get_threshold()
    settle_garbage_collector()
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
