"""``siyu serve --workers N``: N API processes, each listening on its own socket.

uvicorn's own workers share one listening socket that the parent bound: the kernel
wakes whichever process is waiting, and an idle process accepts every connection that
queued meanwhile. Fifty keep-alive clients opened at once were split 34/16 between two
workers on average, 40/10 at worst (docs/operations.md): one process served two and a
half times the other's share on one core while the other core idled, and that
process's queue set the tail latency of every client it held.

On Linux each worker here binds its own socket to the same address with
``SO_REUSEPORT``; the kernel then hands each new connection to one of the listening
sockets by a hash of its addresses, whatever the processes are doing. The parent binds
nothing: it checks the address is free (a second ``siyu serve`` on the same port must
fail, not quietly take half the traffic — sockets of one user may join the same
group), starts the workers as child processes and restarts one that exits, with the
main job's backoff (:mod:`siyu.supervisor`). Elsewhere (macOS and the BSDs accept the
option but do not balance by it) uvicorn's workers are used as before.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from siyu.supervisor import Supervisor

log = logging.getLogger("siyu.api_workers")

#: Where the kernel balances connections between sockets bound with SO_REUSEPORT.
BALANCED = sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")


class AddressInUse(RuntimeError):
    """The address ``siyu serve`` was asked to listen on is taken (named in the message)."""


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def check_free(host: str, port: int) -> None:
    """Raise :class:`AddressInUse` if a socket of any process listens on ``host:port``."""
    probe = socket.socket(_family(host), socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no owner
        probe.bind((host, port))
    except OSError as error:
        raise AddressInUse(f"cannot listen on {host}:{port}: {error.strerror} "
                           "(is another siyu serve running on that port?)") from None
    finally:
        probe.close()


def balanced_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` in the address's SO_REUSEPORT group; uvicorn's
    server calls ``listen`` on it, and only then does the kernel send it connections."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def listening(port: int) -> int:
    """How many sockets listen on ``port`` (any address; Linux's /proc/net tables): with
    balanced workers, one per worker that has started serving."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            count += int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A"
    return count


def worker_command(factory: str, host: str, port: int) -> list[str]:
    """The command line of one worker serving the app ``factory`` (``module:function``)."""
    return [sys.executable, "-m", "siyu.api_workers", factory, host, str(port)]


def serve_workers(factory: str, host: str, port: int, workers: int) -> str | None:
    """Run ``workers`` processes serving ``factory`` on ``host:port`` until SIGINT or
    SIGTERM. Returns why the tree gave up (a worker failed again and again), or None
    after a clean stop."""
    from siyu.processes import wait_for_signal

    check_free(host, port)

    def spawn(part: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(worker_command(factory, host, port))  # noqa: S603 - ours

    supervisor = Supervisor(spawn, [f"api worker {n + 1}" for n in range(workers)])
    return supervisor.supervise(wait_for_signal, name="api-workers")


def main(argv: Sequence[str] | None = None) -> None:
    """One worker: ``python -m siyu.api_workers FACTORY HOST PORT``."""
    import uvicorn

    factory, host, port = (argv if argv is not None else sys.argv[1:])
    sock = balanced_socket(host, int(port))
    # No access log: URLs of GET queries can carry personal data in their variables.
    config = uvicorn.Config(factory, factory=True, log_level="info", access_log=False,
                            log_config=None)
    log.info("api worker %s serving on %s:%s", os.getpid(), host, port)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
