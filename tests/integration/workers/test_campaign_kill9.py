"""Exactly once, for real: a worker killed with ``kill -9`` mid-campaign and restarted
sends every message once, none twice, none missing — on the PostgreSQL, Redis and RabbitMQ
brokers (Redis and RabbitMQ skip when unreachable, and fail instead under ``CI=true``).

The worker runs in a subprocess against the fake WeCom of this test process (which keeps
counting across the kills); the projections run here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from application.app import Siyu
from application.campaign_launch import launch
from domain.ingestion import EventItem
from fakes.campaigns import FakeCampaigns
from fakes.wecom import FAKE_APP_ID, FakeWeCom, RunningFakeWeCom, run_fake_wecom
from projections.runner import BatchRunner, Tracker
from siyu.processes import read_model_views
from tests.conftest import SECRET
from tests.integration.workers.support import (
    AMQP_URL,
    REDIS_URL,
    rabbitmq_reachable,
    redis_reachable,
    unreachable,
)

pytestmark = pytest.mark.integration

CUSTOMERS = 400
TEMPLATE = "tpl-kill9"

WORKER = textwrap.dedent("""
    import sys, threading
    from datetime import timedelta
    from siyu.settings import Settings
    from adapters.campaign_client import WeComCampaignGateway
    from fakes.wecom import FAKE_APP_ID, FAKE_APP_SECRET, FAKE_CORP_ID, FAKE_CORP_SECRET
    from siyu.worker_process import build_worker
    from workers.options import WorkerOptions
    url, broker, fake, suffix, secret = sys.argv[1:6]
    settings = Settings(database_url=url, broker_url=broker or None, data_dir=None,
                        secret=secret.encode())
    options = WorkerOptions(threads=3, queue_name="welcome_" + suffix,
                            clock_queue="clock_" + suffix, campaign_queue="campaign_" + suffix,
                            campaign_rates={"mini_program": 120.0},
                            campaign_stale_after=timedelta(seconds=3),
                            campaign_dispatch_interval=0.1, worker_timeout=100,
                            postgres_poll_interval=0.1, dispatch_interval=0.1)
    gateway = WeComCampaignGateway(fake, FAKE_CORP_ID, FAKE_CORP_SECRET, app_id=FAKE_APP_ID,
                                   app_secret=FAKE_APP_SECRET, direct_base_url=fake,
                                   send_dedupe_key=True)
    build_worker(settings, options=options, campaign_gateway=gateway).start()
    print("ready", flush=True)
    threading.Event().wait()
""")


@pytest.fixture
def fake() -> Iterator[RunningFakeWeCom]:
    with run_fake_wecom(state=FakeWeCom(campaigns=FakeCampaigns())) as running:
        yield running


@pytest.fixture(params=["postgres", "redis", "rabbitmq"])
def broker_url(request: pytest.FixtureRequest) -> str:
    if request.param == "redis":
        problem = redis_reachable(REDIS_URL)
        if problem:
            unreachable(problem)
        return REDIS_URL
    if request.param == "rabbitmq":
        problem = rabbitmq_reachable(AMQP_URL)
        if problem:
            unreachable(problem)
        return AMQP_URL
    return ""  # the default: dramatiq-postgres on the same database


def _worker(pg_url: str, broker: str, fake: RunningFakeWeCom, suffix: str
            ) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER, pg_url, broker, fake.url, suffix, SECRET.decode()],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    proc.stdout.close()
    return proc


def _sent(fake: RunningFakeWeCom, campaign_id: uuid.UUID) -> dict[str, int]:
    return fake.state.campaigns.per_recipient(f"campaign:{campaign_id}")


def test_a_worker_killed_mid_campaign_and_restarted_sends_each_message_exactly_once(
        pg_app: Siyu, pg_url: str, fake: RunningFakeWeCom,
        broker_url: str) -> None:
    # Given customers subscribed to the template, and a launched campaign to all of them
    now = datetime.now(UTC) - timedelta(minutes=1)
    openids = [f"oKill{n:04d}" for n in range(CUSTOMERS)]
    for openid in openids:
        fake.state.campaigns.grant_subscription(openid, TEMPLATE, -1)
    pg_app.ingestion.record_batch([EventItem(f"o{n}", "ORDER_PAID", (f"wx_openid:{FAKE_APP_ID}", o), now,
                                   order_id=str(n), amount_fen=100)
                         for n, o in enumerate(openids)], "service:test")
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    runners = [BatchRunner(pg_app, v, tracker, poll_interval=0.05) for v in read_model_views()]
    threads = [threading.Thread(target=r.run_forever, daemon=True) for r in runners]
    for thread in threads:
        thread.start()
    worker: subprocess.Popen[str] | None = None
    try:
        segment_id, _ = pg_app.segments.define("all", "", {"ordered": {"atLeast": 1}},
                                              "staff:m", now)
        campaign_id, _ = pg_app.campaigns.draft(
            "kill -9", "staff:m", "mini_program", segment_id,
            [{"variant_id": "a", "text": "您有 {points_balance} 积分", "template_id": TEMPLATE}],
            "staff:m", now)
        assert tracker.wait("customer_profile", pg_app.recorder.max_notification_id() or 0, 30)
        noon = datetime.now(UTC).replace(hour=4, minute=0) - timedelta(days=1)
        launch(pg_app, tracker, campaign_id, "staff:m", noon, wait_seconds=30)
        suffix = uuid.uuid4().hex[:10]
        # When a worker is killed with SIGKILL twice while sending, then left to finish
        for threshold in (60, 180):
            worker = _worker(pg_url, broker_url, fake, suffix)
            deadline = time.monotonic() + 60
            while sum(_sent(fake, campaign_id).values()) < threshold:
                assert time.monotonic() < deadline, "the worker sends nothing"
                time.sleep(0.05)
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
        worker = _worker(pg_url, broker_url, fake, suffix)
        deadline = time.monotonic() + 120
        while True:
            with psycopg.connect(pg_url) as conn:
                row = conn.execute("SELECT count(*) FILTER (WHERE status = 'sent'), count(*) "
                                   "FROM campaign_send WHERE campaign_id = %s",
                                   (campaign_id,)).fetchone()
            assert row is not None
            if row[0] == row[1] == CUSTOMERS:
                break
            assert time.monotonic() < deadline, f"only {row[0]} of {row[1]} recorded as sent"
            time.sleep(0.2)
    finally:
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
        for runner in runners:
            runner.stop()
        for thread in threads:
            thread.join(timeout=5)
    # Then every customer received exactly one message: 0 duplicates, 0 missing
    received = _sent(fake, campaign_id)
    assert sorted(received) == sorted(openids)
    assert set(received.values()) == {1}
