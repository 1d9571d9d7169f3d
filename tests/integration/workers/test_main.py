"""``run_worker``: the ``siyu worker`` process sends welcomes and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from application.app import Siyu
from siyu.worker_process import build_worker
from tests.integration.workers.support import add_friend, settings_for, wait_until

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sent_by_fake(url: str) -> list[dict[str, object]]:
    try:
        answer: list[dict[str, object]] = httpx.get(f"{url}/fake/sent", timeout=1).json()
    except httpx.HTTPError:
        return []
    return answer


def test_run_worker_sends_a_welcome_then_stops_cleanly_on_sigterm(
        pg_url: str, pg_app: Siyu, now: datetime) -> None:
    # Given `run_worker` in its own process with two worker processes, serving the fake WeCom
    # itself (no WECOM_API_BASE) on a free port
    port = free_port()
    script = textwrap.dedent(f"""
        import logging
        from pathlib import Path
        from siyu.settings import Settings
        from siyu.worker_process import run_worker
        logging.basicConfig(level=logging.INFO)
        run_worker(Settings(database_url={pg_url!r}, broker_url=None, data_dir=Path("."),
                            secret=b"worker-test-secret", fake_gateway_port={port}),
                   processes=2, threads=2)
    """)
    worker = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        fake = f"http://127.0.0.1:{port}"
        # When a friend is added with a welcome code
        add_friend(pg_app, now, welcome_code="code-1")
        # Then the welcome reaches the fake WeCom
        wait_until(lambda: len(sent_by_fake(fake)) == 1, timeout=30, message="the welcome")
        # When the worker gets SIGTERM
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()
    # Then it stopped cleanly, children included, and never logged the welcome code
    assert worker.returncode == 0, output
    assert "worker stopped" in output
    assert "code-1" not in output


def test_the_pipeline_needs_a_database_url(tmp_path: Path) -> None:
    # Given settings without a database / When / Then a clear error
    settings = settings_for(None, tmp_path)
    with pytest.raises(ValueError, match="database_url"):
        build_worker(settings)
