"""The worker process runs SOPs: a friend added is welcomed by the sequence through the
fake WeCom (read models, pipeline, PostgreSQL broker), once."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from application.app import Siyu
from fakes.wecom import RunningFakeWeCom
from projections.runner import Tracker
from siyu.worker_process import build_worker
from tests.integration.workers.support import add_friend, settings_for, wait_until
from tests.support.read_models import grouped_runners
from workers.options import WorkerOptions

pytestmark = pytest.mark.integration


def test_the_worker_sends_a_due_sop_step_through_the_gateway_once(
        pg_app: Siyu, pg_url: str, tmp_path: Path, fake_wecom: RunningFakeWeCom,
        test_options: WorkerOptions, queue_name: str) -> None:
    # Given every read model running, no quiet hours, and a welcome sequence
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    runners = grouped_runners(pg_app, tracker)
    threads = [threading.Thread(target=r.run_forever, daemon=True) for r in runners]
    for thread in threads:
        thread.start()
    now = datetime.now(UTC)
    pg_app.campaigns.change_contact_policy({}, "month", "00:00", "00:00", "staff:m", now)
    pg_app.sops.define("welcome", "staff:m", {"kind": "friend_added"}, [
        {"offset_hours": 0, "channel": "wecom_mass",
         "variants": [{"variant_id": "hi", "text": "欢迎"}]}], "staff:m", now)
    settings = settings_for(pg_url, tmp_path, wecom_api_base=fake_wecom.url)
    pipeline = build_worker(settings, app=pg_app, options=replace(
        test_options, sop_dispatch_interval=0.05, campaign_queue=f"{queue_name}_c",
        sop_queue=f"{queue_name}_s", max_age=None))
    try:
        pipeline.start()
        # When a customer adds a staff member
        customer = add_friend(pg_app, now, welcome_code=None)

        def sent() -> bool:
            with psycopg.connect(pg_url) as conn:
                row = conn.execute("SELECT status FROM sop_send WHERE customer_id = %s",
                                   (customer,)).fetchone()
            return row is not None and row[0] == "sent"

        # Then the worker sends the day-0 step: one WeCom task for one recipient
        wait_until(sent, 20, "the SOP step to be sent")
        tasks = fake_wecom.state.campaigns.tasks()
        assert len(tasks) == 1
    finally:
        pipeline.stop()
        for runner in runners:
            runner.stop()
        for thread in threads:
            thread.join(timeout=5)
