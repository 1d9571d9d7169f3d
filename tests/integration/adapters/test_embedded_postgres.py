"""The embedded PostgreSQL: BI tools connect over TCP on 127.0.0.1 with the BI role's password
(scram), and with nothing else; the platform keeps its own door (the socket)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from adapters.embedded_postgres import EmbeddedPostgres
from adapters.tokens import ensure_token_table
from siyu.bi_role import grant_bi_role
from siyu.bootstrap import build_application
from siyu.processes import prepare_read_models
from tests.conftest import SECRET

pytestmark = pytest.mark.integration

ROLE, PASSWORD = "metabase", "correct horse battery staple"
DOCS = Path(__file__).parents[3] / "docs" / "bi.md"


def docs_example() -> str:
    """The runnable example that opens docs/bi.md (its first ```python block)."""
    found = re.search(r"^```python\n(.*?)^```", DOCS.read_text(), re.S | re.M)
    assert found, "docs/bi.md opens with a runnable Python example"
    return found.group(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A folder the server's own system user can reach (pytest's tmp_path is root-only
    while another session runs: it resets /tmp/pytest-of-root to 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="siyu-embedded-", dir="/var/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.timeout(180)
def test_a_bi_role_connects_over_tcp_with_its_password_and_reads_only_the_read_models(
        data_dir: Path) -> None:
    # Given the embedded server on a port of its own, with the read models and a BI role
    port = free_port()
    embedded = EmbeddedPostgres(data_dir / "data", port)
    admin = embedded.start()
    try:
        app = build_application(admin, SECRET)
        try:
            prepare_read_models(app)
        finally:
            app.close()
        ensure_token_table(admin)
        grant_bi_role(admin, ROLE, PASSWORD)
        url = embedded.bi_url(ROLE)
        assert url == f"postgresql://{ROLE}@127.0.0.1:{port}/siyu"
        # When a BI tool connects with a wrong password, or with none, it is refused
        for wrong in ("wrong", ""):
            with pytest.raises(psycopg.OperationalError, match=r"password authentication failed"
                               r"|no password supplied"):
                psycopg.connect(url, password=wrong, connect_timeout=5).close()
        # and the superuser cannot come in over TCP at all
        with pytest.raises(psycopg.OperationalError, match=r"pg_hba\.conf rejects"):
            psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/siyu", password="x",
                            connect_timeout=5).close()
        # Then with its password it reads the documented read models, views and functions
        with psycopg.connect(url, password=PASSWORD, connect_timeout=5) as conn:
            assert conn.execute("SELECT count(*) FROM customer_profile").fetchone() == (0,)
            conn.execute("SELECT * FROM segment_size_daily").fetchall()
            conn.execute("SELECT * FROM staff_kpi_rollup(NULL, 'front_office', "
                         "'2026-11-01', '2026-11-30')").fetchall()
        # but writes nothing, and reads neither the event log nor the vault nor the tokens
        for statement in ("INSERT INTO segment_check VALUES (gen_random_uuid(), "
                          "gen_random_uuid(), now())",
                          "DELETE FROM customer_profile", "SELECT * FROM siyu_events",
                          "SELECT * FROM siyu_vault_value", "SELECT * FROM siyu_vault_key",
                          "SELECT * FROM api_token"):
            with psycopg.connect(url, password=PASSWORD) as conn, pytest.raises(
                    psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
        # and psql, as a user would type it, gets the same answer
        from embedded_postgres._commands import POSTGRES_BIN_PATH  # late: after start()

        psql = POSTGRES_BIN_PATH / "psql"
        shown = subprocess.run(
            [str(psql), url, "-Atc", "SELECT count(*) FROM campaign"], capture_output=True,
            text=True, timeout=30, env={**os.environ, "PGPASSWORD": PASSWORD}, check=False)
        assert (shown.returncode, shown.stdout.strip()) == (0, "0"), shown.stderr
        refused = subprocess.run(
            [str(psql), url, "-w", "-Atc", "SELECT 1"], capture_output=True, text=True,
            timeout=30, env={k: v for k, v in os.environ.items() if k != "PGPASSWORD"},
            check=False)
        assert refused.returncode != 0
        # And the example that opens docs/bi.md runs as printed (only the port is ours)
        code = docs_example().replace("127.0.0.1:5433", f"127.0.0.1:{port}")
        ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=60, env={**os.environ, "PGPASSWORD": PASSWORD}, check=False)
        assert ran.returncode == 0, ran.stderr
        assert "Lifecycle: NEW: 0" in ran.stdout.splitlines()
    finally:
        embedded.stop()
