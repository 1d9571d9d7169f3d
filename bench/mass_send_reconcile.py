"""``mass_send_reconcile``: WeCom mass sends exactly once without a dedupe key.

A launched ``wecom_mass`` campaign to 10,000 friends of 20 members goes out through two
worker processes against the faithful fake (in a process of its own), which loses the reply
of every tenth task it creates (created, then HTTP 502); the consume-only worker is killed
with SIGKILL twice (after a third and two thirds of the tasks) and restarted. Once every
send has an outcome, every member confirms every task WeCom holds (the fake's control API,
as in the WeCom client) and the customers' receipts are counted.

* ``mass_send_reconcile`` — duplicate deliveries: messages received beyond the first per
  customer, counted from the fake's receipts. Target 0.
* ``mass_send_reconcile_unknown`` — sends recorded UNKNOWN (a mass send can always be
  reconciled: target 0) — and ``mass_send_reconcile_mismatch``: customers recorded sent but
  who received nothing, plus customers who received the text but are not recorded sent
  (silent losses or ghosts, target 0).
* ``mass_send_reconcile_settle`` — seconds from the launch until every send's outcome is
  recorded (with the production intent lease of 30 s: a killed worker's open intents wait
  that long before they are reconciled).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import psycopg

from bench.campaign_dispatch import (
    fake_gateway,
    launch_now,
    prepare,
    projections,
    recorded,
)
from bench.common import SECRET, Measure, measure

CUSTOMERS = 10_000
LOSE_EVERY = 10  # one create in ten loses its reply

WORKER = textwrap.dedent("""
    import sys, threading
    from datetime import timedelta
    from siyu.settings import Settings
    from adapters.campaign_client import WeComCampaignGateway
    from fakes.wecom import FAKE_CORP_ID, FAKE_CORP_SECRET
    from siyu.worker_process import build_worker
    from workers.options import WorkerOptions
    url, fake, produce, secret = sys.argv[1:5]
    settings = Settings(database_url=url, broker_url=None, data_dir=None,
                        secret=secret.encode())
    options = WorkerOptions(threads=4, produce=produce == "1",
                            campaign_stale_after=timedelta(seconds=15),
                            consume_queues=None if produce == "1" else
                            frozenset({"siyu_campaigns"}))
    gateway = WeComCampaignGateway(fake, FAKE_CORP_ID, FAKE_CORP_SECRET)
    build_worker(settings, options=options, campaign_gateway=gateway).start()
    print("ready", flush=True)
    threading.Event().wait()
""")


def _start(url: str, fake: str, produce: bool) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen([sys.executable, "-c", WORKER, url, fake, "1" if produce else "0",
                             SECRET.decode()], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


@contextmanager
def _workers(url: str, fake: str) -> Iterator[list[subprocess.Popen[str]]]:
    procs = [_start(url, fake, True), _start(url, fake, False)]
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            proc.wait(60)


def _tasks(fake: str) -> list[dict[str, object]]:
    reply = httpx.get(f"{fake}/fake/campaigns/tasks", timeout=60)
    reply.raise_for_status()
    found: list[dict[str, object]] = reply.json()
    return found


def mass_send_reconcile(quick: bool) -> list[Measure]:
    app, url, campaign_id = prepare("wecom_mass", CUSTOMERS)
    try:
        with fake_gateway(CUSTOMERS, LOSE_EVERY) as fake, _workers(url, fake) as procs:
            start = time.perf_counter()
            with projections(app) as tracker:
                included = launch_now(app, tracker, campaign_id)
            expected_tasks = included // 10  # 20 senders x chunks of 200: ~10 per task
            for share in (3, 3 / 2):
                while len(_tasks(fake)) < expected_tasks / share:
                    if time.perf_counter() - start > 600:
                        raise RuntimeError("the workers create no tasks")
                    time.sleep(0.05)
                procs[1].send_signal(signal.SIGKILL)
                procs[1].wait(30)
                procs[1] = _start(url, fake, False)
            while recorded(url, campaign_id) < included:
                if time.perf_counter() - start > 900:
                    raise RuntimeError("the campaign did not settle")
                time.sleep(0.1)
            settle = time.perf_counter() - start
            tasks = _tasks(fake)
            with httpx.Client(timeout=60) as client:
                for task in tasks:
                    client.post(f"{fake}/fake/campaigns/tasks/{task['msgid']}/confirm")
                received = client.get(f"{fake}/fake/campaigns/receipts").json()
            per_recipient: dict[str, int] = received["per_recipient"]
    finally:
        app.close()
    duplicates = sum(n - 1 for n in per_recipient.values())
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT i.outcome, count(*) FROM siyu_send_intent i WHERE i.send_key LIKE %s "
            "GROUP BY 1", (f"campaign:{campaign_id}:%",)).fetchall()
    outcomes = {str(o): int(n) for o, n in rows}
    sent = outcomes.get("sent", 0)
    return [measure("mass_send_reconcile", duplicates, "duplicate deliveries"),
            measure("mass_send_reconcile_unknown", outcomes.get("unknown", 0), "sends"),
            measure("mass_send_reconcile_mismatch", abs(sent - len(per_recipient)), "sends"),
            measure("mass_send_reconcile_settle", settle, "s"),
            measure("mass_send_reconcile_tasks", len(tasks), "tasks", expected_tasks)]


BENCHMARKS: dict[str, Callable[[bool], list[Measure]]] = {
    "mass_send_reconcile": mass_send_reconcile,
}
