"""Group campaigns through the real worker process (``build_worker``'s ``group-campaigns``
loop) against the faithful fake WeCom: two worker processes at once and a lost reply, and
still one task per owner and one message per group, with the campaign's text."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from application import campaign_groups
from application.app import Siyu
from application.campaign_launch import launch
from domain.campaign_groups import group_report
from fakes.campaigns import FakeCampaigns
from fakes.wecom import FakeWeCom, RunningFakeWeCom, run_fake_wecom
from projections.runner import Tracker
from tests.integration.workers.test_campaign_kill9 import _worker
from tests.support.directory import hire_as
from tests.support.read_models import grouped_runners

pytestmark = pytest.mark.integration

TEXT = "双十二群内秒杀: 今晚 8 点开抢"
OWNERS = {"zhangsan": "00000000-0000-4000-8000-0000000c0b01",
          "wangwu": "00000000-0000-4000-8000-0000000c0b02"}
GROUPS = {f"wrg{n:02d}": ("zhangsan" if n % 2 else "wangwu") for n in range(30)}


@pytest.fixture
def fake() -> Iterator[RunningFakeWeCom]:
    with run_fake_wecom(state=FakeWeCom(campaigns=FakeCampaigns())) as running:
        yield running


def test_two_worker_processes_and_a_lost_reply_send_one_message_per_group(
        pg_app: Siyu, pg_url: str, fake: RunningFakeWeCom) -> None:
    fake.state.campaigns.group_owners.update(GROUPS)
    fake.state.campaigns.inject("lost_reply", api="add_msg_template")
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    runners = grouped_runners(pg_app, tracker)
    threads = [threading.Thread(target=r.run_forever, daemon=True) for r in runners]
    for thread in threads:
        thread.start()
    workers: list[subprocess.Popen[str]] = []
    try:
        # Given a group campaign into 30 groups of two owners, launched
        for user_id, staff_id in OWNERS.items():
            hire_as(pg_app, staff_id, "sales", wecom_user_id=user_id)
        noon = datetime.now(UTC).replace(hour=4, minute=0) - timedelta(days=1)
        campaign_id, _ = campaign_groups.draft(pg_app, "双十二", "staff:m",
                                               sorted(GROUPS.items()), TEXT, "staff:m", noon)
        assert tracker.wait("staff_directory", pg_app.recorder.max_notification_id() or 0, 30)
        launch(pg_app, tracker, campaign_id, "staff:m", noon, wait_seconds=30)
        # When two worker processes run at once
        suffix = uuid.uuid4().hex[:10]
        workers = [_worker(pg_url, "", fake, suffix) for _ in range(2)]
        deadline = time.monotonic() + 90
        while group_report(pg_app.campaigns.get(campaign_id))["pending"]:
            assert time.monotonic() < deadline, "the workers did not send the groups"
            time.sleep(0.2)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGKILL)
                worker.wait(10)
        for runner in runners:
            runner.stop()
        for thread in threads:
            thread.join(timeout=5)
    # Then one task per owner, each into that owner's groups, with the campaign's text
    tasks = fake.state.campaigns.tasks()
    assert sorted((t["sender"], t["recipients"], t["text"]) for t in tasks) == [
        ("wangwu", 15, TEXT), ("zhangsan", 15, TEXT)]
    assert group_report(pg_app.campaigns.get(campaign_id)) == {
        "planned": 30, "excluded": 0, "sent": 30, "failed": 0, "unknown": 0, "pending": 0,
        "delivered": 0, "already_received": 0, "expired": 0, "awaiting": 30}
    # And once confirmed, every group received the text exactly once, from its owner
    for task in tasks:
        fake.state.campaigns.confirm(task["msgid"])
    received = fake.state.campaigns.receipts(kind="group")
    assert Counter(r.recipient for r in received) == Counter(dict.fromkeys(GROUPS, 1))
    assert {(r.recipient, r.sender, r.text) for r in received} == {
        (g, owner, TEXT) for g, owner in GROUPS.items()}
