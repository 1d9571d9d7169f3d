"""The main job as a user runs it: embedded PostgreSQL, demo data, server, projections, worker."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_port(data_dir: Path) -> int:
    """One free port per data folder (a restart on the same folder uses the same)."""
    path = data_dir.parent / f"{data_dir.name}.pg-port"
    if not path.exists():
        path.write_text(str(free_port()))
    return int(path.read_text())


def wait_for(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} did not answer in {seconds} s")


def start(data_dir: Path, port: int, gateway_port: int, *args: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BROKER_URL")}
    env.update(SIYU_DATA_DIR=str(data_dir), SIYU_PORT=str(port),
               SIYU_FAKE_GATEWAY_PORT=str(gateway_port), SIYU_PG_PORT=str(pg_port(data_dir)))
    return subprocess.Popen([sys.executable, "-m", "siyu", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def child_pid(parent: int, part: str) -> int | None:
    """The pid of the ``siyu <part>`` child of ``parent`` (from /proc), if it runs."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(fields[1]) == parent and cmdline[-2:-1] == [part.encode()]:
            return int(stat.parent.name)
    return None


def stop(proc: subprocess.Popen[bytes]) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out.decode()
    return out.decode()


@pytest.mark.timeout(240)
def test_the_demo_runs_everything_on_an_embedded_database_and_keeps_its_data(
    tmp_path: Path
) -> None:
    port, gateway = free_port(), free_port()
    # Given a fresh machine: no DATABASE_URL, an empty data folder
    proc = start(tmp_path, port, gateway, "demo", "--customers", "60")
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", 120)
        tokens = json.loads((tmp_path / "demo-tokens.json").read_text())
        assert set(tokens) == {"manager", "staff", "customer", "service"}
        # Then the API answers with demo customers
        query = {"query": "{ customers(first: 100) { edges { node { id lifecycle } } } }"}
        listed = httpx.post(f"http://127.0.0.1:{port}/graphql", json=query, timeout=10,
                            headers={"Authorization": f"Bearer {tokens['manager']}"}).json()
        assert len(listed["data"]["customers"]["edges"]) == 60
        me = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": "{ me { id } }"},
                        headers={"Authorization": f"Bearer {tokens['customer']}"}).json()
        assert me["data"]["me"]["id"]
        # and the worker sends no welcome message for the demo's history (friend adds days
        # old: a WeCom welcome code lives 20 seconds)
        deadline = time.monotonic() + 10
        sent: list[object] = []
        while time.monotonic() < deadline and not sent:
            sent = httpx.get(f"http://127.0.0.1:{gateway}/fake/sent", timeout=5).json()
            time.sleep(0.5)
        assert sent == []
        # When the server process is killed outright
        server = child_pid(proc.pid, "serve")
        assert server is not None
        os.kill(server, signal.SIGKILL)
        # Then the supervisor starts it again, and the rest of the tree never stopped
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and child_pid(proc.pid, "serve") in (None, server):
            time.sleep(0.3)
        assert child_pid(proc.pid, "serve") not in (None, server)
        wait_for(f"http://127.0.0.1:{port}/healthz", 60)
        assert proc.poll() is None
    finally:
        out = stop(proc)
    assert "embedded PostgreSQL stopped" in out
    assert "serve exited with code -9; starting it again" in out
    # When it runs again on the same folder
    again = start(tmp_path, port, gateway, "demo", "--customers", "60")
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", 120)
    finally:
        out = stop(again)
    # Then the data survived and nothing was stored twice, and the demo's tokens still work
    assert "0 new" in out
    assert json.loads((tmp_path / "demo-tokens.json").read_text()) == tokens


def test_rebuild_refuses_an_unknown_read_model(pg_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": pg_url}
    result = subprocess.run([sys.executable, "-m", "siyu", "rebuild", "no_such_table"], env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "unknown read model" in result.stderr


@pytest.mark.full_rebuild
def test_rebuild_rebuilds_the_read_models(pg_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": pg_url}
    result = subprocess.run([sys.executable, "-m", "siyu", "rebuild"], env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "customer_profile: rebuilt, 0 rows" in result.stdout
    assert "staff_directory: rebuilt, 0 rows" in result.stdout
