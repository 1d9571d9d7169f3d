"""``siyu projections`` without ``--only``: the read-model groups
(:mod:`projections.groups`) split over supervised child processes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence

from projections.groups import DEFAULT_SPLIT
from siyu.settings import Settings


def run_split(settings: Settings, split: Sequence[Sequence[str]] = DEFAULT_SPLIT) -> int:
    """``siyu projections``: one child ``siyu projections --only …`` per entry of
    ``split``, restarted with backoff if it exits (:mod:`siyu.supervisor`), until
    SIGINT/SIGTERM; each child serves ``/metrics`` on the projections port plus its index."""
    from siyu.processes import wait_for_signal
    from siyu.supervisor import Supervisor

    assert settings.database_url is not None
    base = settings.projections_metrics_port
    parts = {" ".join(groups): index for index, groups in enumerate(split)}

    def spawn(part: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, "DATABASE_URL": str(settings.database_url),
               "PGAPPNAME": f"siyu projections {part}", "SIYU_SECRET": settings.secret.decode(),
               "SIYU_PROJECTIONS_METRICS_PORT": "" if not base else str(base + parts[part])}
        return subprocess.Popen(  # noqa: S603 - our own command line
            [sys.executable, "-m", "siyu", "projections", "--only", *part.split()], env=env)

    supervisor = Supervisor(spawn, list(parts))
    gave_up = supervisor.supervise(wait_for_signal, name="projections-split", join_seconds=30)
    if gave_up is not None:
        print(f"siyu projections: {gave_up}", file=sys.stderr)
        return 1
    return 0
