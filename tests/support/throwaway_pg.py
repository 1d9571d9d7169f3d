"""A PostgreSQL cluster of a test's own, to stop, restart or kill without harming others.

Uses the machine's PostgreSQL binaries (``pg_config --bindir``); when the tests run as
root, the server runs as the ``postgres`` system user (PostgreSQL refuses root). It
listens on 127.0.0.1 at a free port, trusts local connections, and lives in a folder of
its own under the system's temporary directory (pytest's folders are private to root,
where the ``postgres`` user cannot enter), removed by :meth:`remove`.

A new cluster is a copy of a template cluster (:func:`template`): ``initdb`` takes ~1.8 s
of wall time on a loaded 2-core machine, a copy of its ~40 MB about a tenth of that. The
template is made once per machine, user and PostgreSQL installation, and kept, under the
system's temporary directory.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg


def _bindir() -> Path:
    found = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                           check=True).stdout.strip()
    return Path(found)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _initdb(bindir: Path, data: Path, as_postgres: bool) -> None:
    command = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
               "--no-sync", "-E", "UTF8"]
    if as_postgres:
        command = ["runuser", "-u", "postgres", "--", *command]
    subprocess.run(command, capture_output=True, text=True, check=True, timeout=60)


def template(bindir: Path, as_postgres: bool) -> Path:
    """A cluster's data folder as ``initdb`` leaves it, made once (by whichever process
    asks first: it is built aside and renamed into place, so a concurrent asker finds
    none or a whole one) and copied for each new cluster."""
    key = hashlib.sha256(f"{bindir}:{os.geteuid()}".encode()).hexdigest()[:12]
    folder = Path(tempfile.gettempdir()) / f"siyu-pg-template-{key}"
    if (folder / "PG_VERSION").exists():
        return folder
    building = Path(tempfile.mkdtemp(prefix=f"{folder.name}-building-"))
    try:
        if as_postgres:
            shutil.chown(building, "postgres", "postgres")
        _initdb(bindir, building / "data", as_postgres)
        try:
            (building / "data").rename(folder)
        except OSError:  # another process made it meanwhile
            if not (folder / "PG_VERSION").exists():
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return folder


class ThrowawayCluster:
    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="siyu-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self.bindir = _bindir()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as_postgres = os.geteuid() == 0

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=check,
                              timeout=60)

    def init(self) -> ThrowawayCluster:
        if self._as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")
        # (cp -a keeps the template's owner and its folder's mode, 0700 as PostgreSQL wants)
        subprocess.run(["cp", "-a", str(template(self.bindir, self._as_postgres)),
                        str(self.data)], check=True, timeout=60)
        return self

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c max_connections=60")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l",
                  str(self.folder / "log"), "-w", "start")
        self.wait_ready()

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def kill_postmaster(self) -> None:
        """kill -9 of the postmaster (its children exit on their own)."""
        pid = int((self.data / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        time.sleep(0.5)  # the backends notice their postmaster is gone

    def wait_ready(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while True:
            try:
                with psycopg.connect(self.url, connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


@contextmanager
def started_cluster() -> Iterator[ThrowawayCluster]:
    """A new cluster, started, and removed after the block (a test's ``cluster`` fixture)."""
    throwaway = ThrowawayCluster().init()
    throwaway.start()
    try:
        yield throwaway
    finally:
        throwaway.remove()
