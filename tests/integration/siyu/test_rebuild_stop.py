"""``siyu rebuild`` stopped mid-way — Ctrl-C, or SIGTERM as ``kill``, a service manager or a
container's stop sends it — drops its build schemas and leaves the live read models."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from application.app import Siyu
from siyu.processes import catch_up
from tests.conftest import SECRET
from tests.integration.projections.test_quarantine_on_postgres import record
from tests.integration.siyu.test_parallel_rebuild import rows

pytestmark = pytest.mark.integration


def wait_for(proc: subprocess.Popen[str], text: str, seconds: float = 60) -> None:
    """Read ``proc``'s stderr until a line holds ``text``."""
    assert proc.stderr is not None
    deadline, seen = time.monotonic() + seconds, []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 0.5)
        if ready:
            line = proc.stderr.readline()
            seen.append(line)
            if text in line:
                return
            if not line and proc.poll() is not None:
                break
    pytest.fail(f"no {text!r} from siyu rebuild: {''.join(seen)[-2000:]}")


def _ctrl_c_heard() -> None:
    """In the child: SIGINT as a terminal's Ctrl-C finds it. A shell's background job (CI
    started that way) ignores SIGINT, the ignoring is inherited through exec, and Python
    then installs no KeyboardInterrupt handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stopped_siyu_rebuild_drops_its_build_schema_and_leaves_the_live_read_model(
        pg_app: Siyu, pg_url: str, stop: signal.Signals) -> None:
    # Given a read model built from a log
    record(pg_app, 30)
    catch_up(pg_app)
    before = rows(pg_url, "tag_group")
    env = {**os.environ, "DATABASE_URL": pg_url, "SIYU_SECRET": SECRET.decode()}
    # And a reader holding it, so that the rebuild's switch waits (and says so)
    with psycopg.connect(pg_url) as reader:
        reader.execute("SELECT count(*) FROM tag_group")
        with subprocess.Popen([sys.executable, "-m", "siyu", "rebuild", "tag_group"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True, preexec_fn=_ctrl_c_heard) as proc:
            try:
                wait_for(proc, "waits")
                # When it is stopped
                proc.send_signal(stop)
                code = proc.wait(60)
            finally:
                if proc.poll() is None:
                    proc.kill()
                reader.rollback()
    # Then it says so and exits 130, no build schema is left, the live table as it was
    assert code == 130
    assert rows(pg_url, "tag_group") == before
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT nspname FROM pg_namespace "
                            "WHERE nspname LIKE 'siyu_bg_%'").fetchall() == []
