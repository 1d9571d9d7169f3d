"""Operating the main job: its PostgreSQL connections, and recovery from a database restart.

* ``connections_main_job`` — peak connections of ``siyu demo`` (server + projections +
  worker) from its start through ingestion by 8 clients, sampled from
  ``pg_stat_activity`` every 0.1 s; the baseline is the bound (25), the ratio must stay ≤ 1.
* ``db_restart_recovery`` — ``siyu demo`` on a throwaway cluster under ingestion, the
  cluster restarted (``pg_ctl restart -m fast``): seconds from the database being back to
  the API acknowledging writes **and** the projections (the customer profile) and the
  worker (its welcome outbox) having applied an event recorded after it; target < 10 s.
  ``db_restart_recovery_kill9`` the same after kill -9 of the postmaster. Each also
  reports acknowledged writes lost and ``INTERNAL`` answers (both must be 0).
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bench.common import Measure, fresh_database, measure
from bench.main_job import Job, Load, PeakConnections, main_job, stored_event_ids

BOUND = 25
FOLLOWERS = ("customer_profile", "welcome_outbox")


def connections_main_job(quick: bool) -> list[Measure]:
    url = fresh_database()
    customers = "300" if quick else "2000"
    with tempfile.TemporaryDirectory(prefix="siyu-conn-") as folder, \
            PeakConnections(url) as peak, \
            main_job(url, Path(folder), "demo", "--customers", customers) as job:
        job.wait_ready(600)
        with Load(job.api, job.tokens()["service"], "conn", clients=8):
            time.sleep(10 if quick else 30)
    return [measure("connections_main_job", peak.peak, "connections", BOUND)]


@dataclass
class Recovery:
    api_seconds: float
    follow_seconds: float
    acknowledged: int
    lost: int
    repeated: int
    internal: int
    restarts: int
    statuses: dict[str, int]
    verified: int | None = None  # exit code of ``siyu verify`` after the job stopped

    @property
    def seconds(self) -> float:
        return max(self.api_seconds, self.follow_seconds)


def positions(url: str) -> dict[str, int]:
    with psycopg.connect(url, connect_timeout=2) as conn:
        rows = conn.execute("SELECT application_name, max(notification_id) "
                            "FROM siyu_projection_tracking GROUP BY 1").fetchall()
    return {name: int(position) for name, position in rows}


def head(url: str) -> int:
    with psycopg.connect(url, connect_timeout=2) as conn:
        row = conn.execute("SELECT coalesce(max(notification_id), 0) FROM siyu_events"
                           ).fetchone()
    return int(row[0]) if row else 0


def wait_until(check: Callable[[], bool], seconds: float) -> float:
    """Seconds until ``check()`` holds (database errors count as not yet)."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        try:
            if check():
                return time.monotonic() - started
        except psycopg.OperationalError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"not within {seconds} s")


def through_outage(job: Job, outage: Callable[[], None], prefix: str,
                   within: float = 60) -> Recovery:
    """Ingest through ``job``'s API, run ``outage`` (it returns once the database is
    back), measure the recovery, then check what was acknowledged is stored once."""
    with Load(job.api, job.tokens()["service"], prefix) as load:
        time.sleep(3)
        outage()
        back = time.monotonic()
        api = wait_until(lambda: load.last_ok > back, within)
        mark = head(job.url)
        follow = wait_until(lambda: all(positions(job.url).get(name, 0) >= mark
                                        for name in FOLLOWERS), within)
        time.sleep(2)
    wait_until(lambda: min(positions(job.url).get(n, 0) for n in FOLLOWERS)
               >= head(job.url), within)
    stored = stored_event_ids(job.url, prefix)
    acknowledged = set(load.acknowledged)
    log = job.log.read_text(errors="replace")
    return Recovery(api_seconds=api, follow_seconds=follow, acknowledged=len(acknowledged),
                    lost=len(acknowledged - set(stored)),
                    repeated=len(stored) - len(set(stored)),
                    internal=sum(n for k, n in load.statuses.items() if "INTERNAL" in k),
                    restarts=log.count("starting it again"), statuses=dict(load.statuses))


def outage_recovery(kind: str, customers: int = 100, *, verify: bool = False) -> Recovery:
    """``siyu demo`` on a throwaway cluster, through a restart or a kill -9 of it; with
    ``verify``, ``siyu verify`` (read models equal a rebuild, chain intact) once stopped."""
    return outages_recovery([kind], customers, verify=verify)[0]


def outages_recovery(kinds: list[str], customers: int = 100, *, verify: bool = False
                     ) -> list[Recovery]:
    """One ``siyu demo`` on a throwaway cluster through each outage of ``kinds`` in turn
    (``restart``: ``pg_ctl restart -m fast``; ``kill -9``: of the postmaster, then
    started again); with ``verify``, ``siyu verify`` once stopped (on the last)."""
    from tests.support.throwaway_pg import ThrowawayCluster

    cluster = ThrowawayCluster().init()
    cluster.start()
    try:
        def outage(kind: str) -> None:
            if kind == "restart":
                cluster.restart("fast")
            else:
                cluster.kill_postmaster()
                cluster.start()

        with tempfile.TemporaryDirectory(prefix="siyu-outage-") as folder:
            with main_job(cluster.url, Path(folder), "demo", "--customers",
                          str(customers)) as job:
                job.wait_ready(600)
                found = [through_outage(job, functools.partial(outage, kind),
                                        f"outage-{kind}") for kind in kinds]
            if verify:
                found[-1].verified = subprocess.run(
                    [sys.executable, "-m", "siyu", "verify"], capture_output=True,
                    timeout=600, env={**os.environ, "DATABASE_URL": cluster.url,
                                      "SIYU_DATA_DIR": folder}).returncode
            return found
    finally:
        cluster.remove()


def db_restart_recovery(quick: bool) -> list[Measure]:
    out: list[Measure] = []
    for kind, name in (("restart", "db_restart_recovery"),
                       ("kill -9", "db_restart_recovery_kill9")):
        found = outage_recovery(kind)
        out += [measure(name, found.seconds, "s", 10.0),
                measure(f"{name}_lost_writes", found.lost, "writes"),
                measure(f"{name}_internal_errors", found.internal, "answers"),
                measure(f"{name}_part_restarts", found.restarts, "restarts")]
    return out


BENCHMARKS: dict[str, Callable[[bool], list[Measure]]] = {
    "connections_main_job": connections_main_job,
    "db_restart_recovery": db_restart_recovery,
}
