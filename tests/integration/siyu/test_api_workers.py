"""``siyu serve --workers 2`` on Linux: each worker on its own SO_REUSEPORT socket.

With uvicorn's shared socket, 50 keep-alive connections opened at once went 34/16 to
two workers on average and 40/10 at worst; the kernel's hash over each connection's
addresses splits them like coin tosses (a share below 10 of 50 has a chance of about
one in a million). A second server on the same port fails instead of sharing it; a
worker killed outright is started again while the other keeps serving.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.main_job import free_port
from siyu.api_workers import BALANCED, listening
from tests.conftest import SECRET

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not BALANCED, reason="SO_REUSEPORT balancing is Linux's")]

CLIENTS = 50


def serve(url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIYU_", "WECOM_"))}
    env.update(DATABASE_URL=url, SIYU_SECRET=SECRET.decode(), SIYU_PORT=str(port),
               SIYU_DATA_DIR=str(log.parent), SIYU_LOG_FORMAT="text")
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "siyu", "serve", "--workers", "2"],
                                env=env, stdout=out, stderr=subprocess.STDOUT)


def children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(c) for c in (task / "children").read_text().split()}
    return found


def healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until(check: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.3)
    raise AssertionError(f"not within {seconds} s: {what}")


def established_by_pid(port: int, pids: set[int]) -> dict[int, int]:
    """Established server-side connections on ``port`` held by each of ``pids``
    (/proc/net/tcp's inodes matched to the processes' socket descriptors)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        if local_port == port and fields[3] == "01":  # 01: ESTABLISHED
            inodes.add(fields[9])
    held = {}
    for pid in pids:
        links = (os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir())
        held[pid] = sum(1 for link in links
                        if (m := re.fullmatch(r"socket:\[(\d+)\]", link)) and m[1] in inodes)
    return held


@pytest.fixture
def server(pg_url: str, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    proc = serve(pg_url, port, tmp_path / "serve.log")
    try:
        wait_until(lambda: listening(port) == 2 and healthy(port), 180, "both serving")
        yield proc, port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def open_clients(port: int) -> list[socket.socket]:
    clients = [socket.create_connection(("127.0.0.1", port), 10) for _ in range(CLIENTS)]
    for client in clients:  # one request each: accepted and served, not only queued
        client.sendall(b"GET /healthz HTTP/1.1\r\nHost: siyu\r\n\r\n")
    for client in clients:
        assert client.recv(64).startswith(b"HTTP/1.1 200 ")
    return clients


def test_two_workers_share_the_connections_hold_the_port_and_come_back(
        server: tuple[subprocess.Popen[bytes], int], pg_url: str, tmp_path: Path) -> None:
    # (one server for the three: two workers take a minute to start on a loaded machine)
    proc, port = server
    workers = children(proc.pid)
    # When fifty keep-alive clients connect at the same moment, three times over
    for _ in range(3):
        clients = open_clients(port)
        held = established_by_pid(port, workers)
        for client in clients:
            client.close()
        # Then each worker holds at least ten of them
        assert sum(held.values()) == CLIENTS, held
        assert min(held.values()) >= 10, held
    # When a second server is started on the same port
    second = serve(pg_url, port, tmp_path / "second.log")
    # Then it fails, saying why, and the first serves on
    assert second.wait(120) != 0
    assert "cannot listen on" in (tmp_path / "second.log").read_text()
    assert healthy(port) and proc.poll() is None
    # When a worker is killed outright
    killed = min(workers)
    os.kill(killed, signal.SIGKILL)
    # Then it is started again, and both serve
    wait_until(lambda: len(children(proc.pid) - {killed}) == 2, 60, "a new worker")
    wait_until(lambda: listening(port) == 2 and healthy(port), 120, "both serving again")
    assert proc.poll() is None
    assert "exited with code -9; starting it again" in (tmp_path / "serve.log").read_text()
