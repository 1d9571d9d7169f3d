"""Campaign sending benchmarks: real worker processes against the fake gateway.

* ``campaign_dispatch`` — sends/s of a launched ``mini_program`` campaign (one subscribe
  message per recipient, no rate limit) on **two worker processes** (Dramatiq on the
  default dramatiq-postgres broker: one process also runs the dispatcher, the other only
  consumes), from the launch until every send's outcome is recorded in the event log.
  The fake WeCom/WeChat gateway runs in a third process. Baseline: the fake gateway's raw
  accepted subscribe-sends/s (keep-alive HTTP from this process, 8 connections, nothing
  else running) — the ceiling the workers share with the database on this machine.
* ``campaign_dispatch_sms`` — the same for an ``sms`` campaign: Tencent Cloud ``SendSms``
  batches of up to 200 numbers per request (TC3-signed, checked by the fake), phone numbers
  from the vault; checked: every number got exactly one SMS.
* ``campaign_dispatch_wecom_mass`` — the same for a WeCom mass send (one task per sender
  and filled text in a chunk, staff confirm later: the outcome is "handed to WeCom"). The
  text is ``"{member_level} 会员专享"`` and the customers hold one of :data:`LEVELS`, so a
  chunk's customers of one sender are split into up to four tasks by their text.
* ``campaign_rate_accuracy`` — with ``SIYU_CAMPAIGN_RATES``-style limit
  ``mini_program=200`` shared by the two workers, the rate the gateway received
  (receipts between the first and the last send) ÷ the configured rate.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import psycopg

from application.app import Siyu
from application.campaign_launch import launch
from bench.common import (
    SECRET,
    Measure,
    dumps,
    free_port,
    fresh_database,
    http_request,
    load_distinct,
    measure,
)
from bench.fake_gateway import TEMPLATE, openid
from domain.ingestion import EventItem
from fakes.wecom import FAKE_APP_ID, FAKE_APP_SECRET
from projections.runner import BatchRunner, Tracker
from siyu.bootstrap import build_application
from siyu.processes import prepare_read_models, read_model_views

PREFIX = "oBench"
STAFF = 20  # WeCom senders of the mass-send benchmark
BATCH = 1000
#: The member levels of the mass-send benchmark's customers (one text per level).
LEVELS = ("银卡", "金卡", "铂金", "钻石")

#: One worker process: the whole pipeline with the production defaults, on the default broker.
WORKER = textwrap.dedent("""
    import sys, threading
    from siyu.settings import Settings
    from adapters.campaign_client import WeComCampaignGateway
    from fakes.wecom import FAKE_APP_ID, FAKE_APP_SECRET, FAKE_CORP_ID, FAKE_CORP_SECRET
    from fakes.sms import FAKE_SMS_APP_ID, FAKE_SMS_SECRET_ID, FAKE_SMS_SECRET_KEY
    from siyu.worker_process import build_worker
    from workers.options import WorkerOptions
    from adapters.sms_client import TencentSms
    url, fake, produce, rates, secret = sys.argv[1:6]
    settings = Settings(database_url=url, broker_url=None, data_dir=None,
                        secret=secret.encode())
    parsed = {c: float(r) for c, r in (p.split("=") for p in rates.split(",") if p)}
    # The first process runs everything; the second only sends campaigns.
    options = WorkerOptions(threads=4, produce=produce == "1", campaign_rates=parsed,
                            consume_queues=None if produce == "1" else
                            frozenset({"siyu_campaigns"}))
    gateway = WeComCampaignGateway(fake, FAKE_CORP_ID, FAKE_CORP_SECRET, app_id=FAKE_APP_ID,
                                   app_secret=FAKE_APP_SECRET, direct_base_url=fake,
                                   sms=TencentSms(fake + "/sms", FAKE_SMS_SECRET_ID,
                                                  FAKE_SMS_SECRET_KEY, FAKE_SMS_APP_ID, "bench"))
    build_worker(settings, options=options, campaign_gateway=gateway).start()
    print("ready", flush=True)
    threading.Event().wait()
""")


@dataclass
class Launched:
    app: Siyu
    url: str
    campaign_id: UUID
    recipients: int


def _items(channel: str, customers: int, now: datetime) -> list[EventItem]:
    if channel == "mini_program":
        return [EventItem(f"b{n}", "ORDER_PAID", (f"wx_openid:{FAKE_APP_ID}", openid(PREFIX, n)),
                          now, order_id=str(n), amount_fen=100) for n in range(customers)]
    if channel == "sms":
        return [EventItem(f"b{n}", "ORDER_PAID", ("phone", f"+86139{n:08d}"), now,
                          order_id=str(n), amount_fen=100) for n in range(customers)]
    return [item for n in range(customers) for item in (
        EventItem(f"f{n}", "FRIEND_ADDED", ("wecom_external:wwbench", f"wmB{n:06d}"), now,
                  channel="qr", staff_id=f"wecom_user:s{n % STAFF:02d}"),
        EventItem(f"m{n}", "MEMBER_REGISTERED", ("wecom_external:wwbench", f"wmB{n:06d}"),
                  now, member_level=LEVELS[n * 7 % len(LEVELS)]))]


@contextmanager
def projections(app: Siyu) -> Iterator[Tracker]:
    """Every read model, projected live in threads of this process."""
    tracker = Tracker(app.factory.datastore)  # type: ignore[attr-defined]
    runners = [BatchRunner(app, v, tracker, poll_interval=0.05) for v in read_model_views()]
    threads = [threading.Thread(target=r.run_forever, daemon=True) for r in runners]
    for thread in threads:
        thread.start()
    try:
        yield tracker
    finally:
        for runner in runners:
            runner.stop()
        for thread in threads:
            thread.join(30)


def prepare(channel: str, customers: int) -> tuple[Siyu, str, UUID]:
    """A fresh database with ``customers`` reachable on ``channel`` and a drafted campaign."""
    url = fresh_database()
    app = build_application(url, SECRET)
    prepare_read_models(app)  # the workers read them from their first poll
    now = datetime.now(UTC) - timedelta(minutes=5)
    items = _items(channel, customers, now)
    for start in range(0, len(items), BATCH):
        app.ingestion.record_batch(items[start:start + BATCH], "service:bench")
    rule: Any = {"isFriend": True} if channel == "wecom_mass" else {"ordered": {"atLeast": 1}}
    segment_id, _ = app.segments.define("audience", "", rule, "staff:bench", now)
    campaign_id, _ = app.campaigns.draft(
        "bench", "staff:bench", channel, segment_id,
        [{"variant_id": "a", "template_id": TEMPLATE,
          "text": "{member_level} 会员专享" if channel == "wecom_mass" else
          "您有 {points_balance} 积分"}],
        "staff:bench", now)
    return app, url, campaign_id


def _members_settled(app: Siyu, segment_id: UUID, timeout: float = 600) -> None:
    """Wait until the segment has members and their count held for a second (its backfill
    runs apart from the event positions: a launch before it plans too few)."""
    datastore = app.factory.datastore  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    seen, since = -1, time.monotonic()
    while True:
        with datastore.get_connection() as conn:
            row = conn.execute("SELECT count(*) AS n FROM segment_membership "
                               "WHERE segment_id = %s", (segment_id,)).fetchone()
        count = int(row["n"]) if row else 0
        if count != seen:
            seen, since = count, time.monotonic()
        elif count and time.monotonic() - since >= 1.0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError("the segment's members did not settle")
        time.sleep(0.1)


def launch_now(app: Siyu, tracker: Tracker, campaign_id: UUID) -> int:
    last = app.recorder.max_notification_id() or 0
    # every read model, the segments' too: a launch on a segment not projected yet plans
    # nobody (seen on a loaded machine)
    if not all(tracker.wait(view.name, last, 600) for view in read_model_views()):
        raise RuntimeError("the read models did not catch up")
    _members_settled(app, UUID(app.campaigns.get(campaign_id).segment_id))
    noon = datetime.now(UTC).replace(hour=4, minute=0) - timedelta(days=1)  # no quiet hours
    _, result = launch(app, tracker, campaign_id, "staff:bench", noon, wait_seconds=600)
    return len(result.included)


@contextmanager
def fake_gateway(customers: int, lose_every: int = 0) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.fake_gateway", str(port), PREFIX,
                             str(customers), str(lose_every)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(20)


@contextmanager
def workers(url: str, fake: str, rates: str = "", processes: int = 2) -> Iterator[None]:
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    procs: list[subprocess.Popen[str]] = []
    try:
        # One after the other, as `siyu worker --processes N` does: two processes creating
        # the same tables at once can fail ("tuple concurrently updated").
        for n in range(processes):
            proc = subprocess.Popen([sys.executable, "-c", WORKER, url, fake,
                                     "1" if n == 0 else "0", rates, SECRET.decode()],
                                    stdout=subprocess.PIPE, text=True, env=env)
            procs.append(proc)
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(60)


def recorded(url: str, campaign_id: UUID) -> int:
    """Outcomes recorded (their send keys committed with the events)."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM siyu_event_key WHERE event_key LIKE %s",
                           (f"campaign:{campaign_id}:%",)).fetchone()
    return int(row[0]) if row else 0


def wait_recorded(url: str, campaign_id: UUID, total: int, timeout: float) -> float:
    """Seconds until ``total`` outcomes are recorded."""
    start = time.perf_counter()
    while recorded(url, campaign_id) < total:
        if time.perf_counter() - start > timeout:
            raise RuntimeError(f"only {recorded(url, campaign_id)} of {total} recorded")
        time.sleep(0.05)
    return time.perf_counter() - start


def receipts(fake: str, campaign_id: UUID) -> list[dict[str, Any]]:
    """What the fake's customers received of the benchmark's template (one campaign per
    fake: WeChat has no campaign key to filter by)."""
    reply = httpx.get(f"{fake}/fake/campaigns/receipts", params={"template_id": TEMPLATE},
                      timeout=60)
    reply.raise_for_status()
    found: list[dict[str, Any]] = reply.json()["receipts"]
    return found


def gateway_baseline(fake: str, total: int) -> float:
    """Raw accepted subscribe-sends/s of the fake (a token, then keep-alive POSTs)."""
    token = httpx.get(f"{fake}/cgi-bin/token", params={
        "grant_type": "client_credential", "appid": FAKE_APP_ID, "secret": FAKE_APP_SECRET,
    }).json()["access_token"]
    port = int(fake.rsplit(":", 1)[1])
    requests = [http_request("POST", f"/cgi-bin/message/subscribe/send?access_token={token}",
                             dumps({"touser": openid(PREFIX, n), "template_id": TEMPLATE,
                                    "data": {"text": {"value": "hi"}}}))
                for n in range(total)]
    rate, _ = load_distinct(port, requests, 8)
    return rate


def _dispatch(channel: str, quick: bool) -> tuple[float, int, float | None]:
    customers = 4_000 if quick else 20_000
    app, url, campaign_id = prepare(channel, customers)
    try:
        with fake_gateway(customers) as fake, workers(url, fake):
            with projections(app) as tracker:
                included = launch_now(app, tracker, campaign_id)
            seconds = wait_recorded(url, campaign_id, included, 600)
            per_recipient = {r["recipient"] for r in receipts(fake, campaign_id)}
            if channel == "mini_program":
                got = len(receipts(fake, campaign_id))
                assert got == len(per_recipient) == included, (got, included)
            if channel == "sms":
                sms = httpx.get(f"{fake}/fake/sms/receipts",
                                params={"key_prefix": f"campaign:{campaign_id}"}, timeout=60).json()
                assert sms["recipients"] == len(sms["receipts"]) == included, (
                    sms["recipients"], included)
                assert sms["max_per_recipient"] == 1
            if channel == "wecom_mass":
                tasks = httpx.get(f"{fake}/fake/campaigns/tasks", timeout=60).json()
                assert sum(t["recipients"] for t in tasks) == included, (len(tasks), included)
            rate = included / seconds
            baseline = gateway_baseline(fake, 4_000 if quick else 10_000) \
                if channel == "mini_program" else None
    finally:
        app.close()
    return rate, included, baseline


def campaign_dispatch(quick: bool) -> list[Measure]:
    rate, included, baseline = _dispatch("mini_program", quick)
    return [measure("campaign_dispatch", rate, "sends/s", baseline),
            measure("campaign_dispatch_recipients", included, "recipients")]


def campaign_dispatch_sms(quick: bool) -> list[Measure]:
    rate, _, _ = _dispatch("sms", quick)
    return [measure("campaign_dispatch_sms", rate, "sends/s")]


def campaign_dispatch_wecom_mass(quick: bool) -> list[Measure]:
    rate, _, _ = _dispatch("wecom_mass", quick)
    return [measure("campaign_dispatch_wecom_mass", rate, "sends/s")]


def campaign_rate_accuracy(quick: bool) -> list[Measure]:
    configured = 200.0
    customers = 1_000 if quick else 4_000
    app, url, campaign_id = prepare("mini_program", customers)
    try:
        with fake_gateway(customers) as fake, \
                workers(url, fake, rates=f"mini_program={configured:g}"):
            with projections(app) as tracker:
                included = launch_now(app, tracker, campaign_id)
            wait_recorded(url, campaign_id, included, 600)
            times = sorted(r["at"] for r in receipts(fake, campaign_id))
    finally:
        app.close()
    actual = (len(times) - 1) / (times[-1] - times[0])
    return [measure("campaign_rate_accuracy", actual / configured, "actual/configured"),
            measure("campaign_rate_actual", actual, "sends/s", configured)]
