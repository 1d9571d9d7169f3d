"""WeCom mass sends exactly once against the faithful fake: lost replies after the task was
created and a worker killed with ``kill -9`` twice; the platform reconciles each ambiguous
create against the sender's task list (``get_groupmsg_list_v2``) before any retry.

Counted from what the fake's customers received once every member confirmed every task:
no customer gets the text twice, and every customer is sent or not sent with a reason.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from application.app import Siyu
from application.campaign_launch import launch
from domain.ingestion import EventItem
from fakes.campaigns import FakeCampaigns
from fakes.wecom import FakeWeCom, RunningFakeWeCom, run_fake_wecom
from projections.runner import Tracker
from tests.integration.workers.test_campaign_kill9 import _outcomes, _settled, _worker
from tests.support.read_models import grouped_runners

pytestmark = pytest.mark.integration

CUSTOMERS = 1000
SENDERS = 20
TEXT = "双十二会员日: 全场 8 折"


@pytest.fixture
def fake() -> Iterator[RunningFakeWeCom]:
    with run_fake_wecom(state=FakeWeCom(campaigns=FakeCampaigns())) as running:
        yield running


def test_lost_replies_and_kills_send_no_mass_message_twice_and_lose_none_silently(
        pg_app: Siyu, pg_url: str, fake: RunningFakeWeCom) -> None:
    # Given 1,000 WeCom friends of 20 members and a mass-send campaign to all of them
    now = datetime.now(UTC) - timedelta(minutes=1)
    pg_app.ingestion.record_batch(
        [EventItem(f"f{n}", "FRIEND_ADDED", ("wecom_external:ww1", f"wmK{n:04d}"), now,
                   channel="qr", staff_id=f"wecom_user:m{n % SENDERS:02d}")
         for n in range(CUSTOMERS)], "service:test")
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    runners = grouped_runners(pg_app, tracker)
    threads = [threading.Thread(target=r.run_forever, daemon=True) for r in runners]
    for thread in threads:
        thread.start()
    campaigns = fake.state.campaigns
    worker: subprocess.Popen[str] | None = None
    try:
        segment_id, _ = pg_app.segments.define("friends", "", {"isFriend": True}, "staff:m", now)
        campaign_id, _ = pg_app.campaigns.draft("kill -9 mass", "staff:m", "wecom_mass",
                                               segment_id, [{"variant_id": "a", "text": TEXT}],
                                               "staff:m", now)
        assert tracker.wait("customer_profile", pg_app.recorder.max_notification_id() or 0, 30)
        launch(pg_app, tracker, campaign_id, "staff:m",
               datetime.now(UTC).replace(hour=4, minute=0) - timedelta(days=1), wait_seconds=30)
        # And one create in ten loses its reply after WeCom created the task
        campaigns.inject("lost_reply", count=10, api="add_msg_template")
        suffix = uuid.uuid4().hex[:10]
        rates = json.dumps({"wecom_mass": 20.0})
        # When a worker is killed with SIGKILL twice while creating tasks, then left to finish
        for threshold in (20, 60):
            worker = _worker(pg_url, "", fake, suffix, rates)
            deadline = time.monotonic() + 60
            while len(campaigns.tasks()) < threshold:
                assert time.monotonic() < deadline, "the worker creates no task"
                time.sleep(0.02)
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
        worker = _worker(pg_url, "", fake, suffix, rates)
        _settled(pg_url, campaign_id, CUSTOMERS, 120)
    finally:
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
        for runner in runners:
            runner.stop()
        for thread in threads:
            thread.join(timeout=5)
    # And every member confirms every task WeCom holds (as in the WeCom client)
    tasks = campaigns.tasks()
    for task in tasks:
        campaigns.confirm(task["msgid"])
    # Then no customer received the text twice, every one of them received it once ...
    received = campaigns.per_recipient()
    assert set(received.values()) == {1}
    assert {r.text for r in campaigns.receipts()} == {TEXT}
    # ... the lost replies were found again, not sent twice, and nothing is unknown
    outcomes = _outcomes(pg_url, campaign_id)
    assert [s for s, _ in outcomes].count("sent") == CUSTOMERS == len(received)
    assert {d for _, d in outcomes} == {t["msgid"] for t in tasks}
    assert sum(t["recipients"] for t in tasks) == CUSTOMERS
    assert campaigns.stats()["calls"]["list_v2"] >= 10
