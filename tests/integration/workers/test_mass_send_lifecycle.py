"""A WeCom mass-send task's life against the faithful fake: sent under the member's UserID,
reminded within WeCom's limit before the campaign's confirmation deadline, cancelled past
it with its recipients recorded not sent, its confirmation task closed ``expired``; a task
confirmed in time is recorded as WeCom reports it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from adapters.campaign_client import WeComCampaignGateway
from application.app import Siyu
from application.campaign_launch import launch
from domain.ingestion import EventItem
from fakes.wecom import FAKE_CORP_ID, FAKE_CORP_SECRET, RunningFakeWeCom
from projections.runner import Tracker
from tests.integration.workers.test_campaign_sends_on_postgres import running  # noqa: F401
from tests.integration.workers.test_confirmation_tasks_on_postgres import _tasks
from workers.campaign_sending import CampaignDeps, send_chunk
from workers.campaign_store import CampaignStore
from workers.campaigns import CampaignDispatcher
from workers.confirmation_tasks import ConfirmationTasks
from workers.mass_send_lifecycle import MassSendLifecycle

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def world(pg_app: Siyu, pg_url: str, running: Tracker,  # noqa: F811
          fake_wecom: RunningFakeWeCom) -> Iterator[tuple[UUID, CampaignDeps, Clock, str]]:
    """Three friends of a member whose WeCom UserID is ``m-lifecycle``, a campaign to them
    with an 8-hour confirmation deadline, sent: one WeCom task."""
    now = datetime.now(UTC) - timedelta(minutes=1)
    staff = pg_app.staff.hire("sales", "front_office", "王芳", "staff:m", now,
                              wecom_user_id="m-lifecycle")
    pg_app.ingestion.record_batch(
        [EventItem(f"f{n}", "FRIEND_ADDED", ("wecom_external:ww1", f"wmL{n}"), now,
                   channel="qr", staff_id=str(staff)) for n in range(3)], "service:test")
    segment_id, _ = pg_app.segments.define("friends", "", {"isFriend": True}, "staff:m", now)
    campaign_id, _ = pg_app.campaigns.draft("life", "staff:m", "wecom_mass", segment_id,
                                           [{"variant_id": "a", "text": "上新了"}], "staff:m",
                                           now)
    pg_app.campaigns.set_confirmation_deadline(campaign_id, 8, "staff:m", now)
    assert running.wait("customer_profile", pg_app.recorder.max_notification_id() or 0, 10)
    launch(pg_app, running, campaign_id, "staff:m",
           datetime.now(UTC).replace(hour=4, minute=0) - timedelta(days=1))
    store = CampaignStore.connect(pg_url)
    clock = Clock()
    gateway = WeComCampaignGateway(fake_wecom.url, FAKE_CORP_ID, FAKE_CORP_SECRET)
    deps = CampaignDeps(app=pg_app, store=store, gateway=gateway, clock=clock)
    try:
        messages: list[tuple[str, int, list[str]]] = []
        CampaignDispatcher(store, lambda c, s, i: messages.append((c, s, i))).run_once()
        for c, s, i in messages:
            send_chunk(deps, UUID(c), s, [UUID(x) for x in i])
        assert running.wait("campaign", pg_app.recorder.max_notification_id() or 0, 10)
        [task] = fake_wecom.state.campaigns.tasks()
        yield campaign_id, deps, clock, str(task["msgid"])
    finally:
        gateway.close()
        store.close()


def _task_view(url: str) -> tuple[Any, ...] | None:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT recipients, sent, expired, confirmed, finished "
                            "FROM campaign_task_view").fetchone()


def test_an_unconfirmed_task_is_reminded_three_times_then_cancelled_at_the_deadline(
        pg_app: Siyu, pg_url: str, running: Tracker, fake_wecom: RunningFakeWeCom,  # noqa: F811
        world: tuple[UUID, CampaignDeps, Clock, str]) -> None:
    campaign_id, deps, clock, _ = world
    fake = fake_wecom.state.campaigns
    lifecycle = MassSendLifecycle(deps)  # the worker's default deadline (24 h) is overridden
    start = clock.now
    # Given the task went out under the member's UserID, not the staff id
    assert fake.tasks()[0]["sender"] == "m-lifecycle"
    reminders = []
    # When the member does not confirm, and the lifecycle runs through the 8 hours
    for hours in (1, 2.5, 3, 4.5, 6.5, 7.9):
        clock.now = start + timedelta(hours=hours)
        assert lifecycle.run_once() == 0
        reminders.append(fake.tasks()[0]["reminders"])
    # Then reminders went out at 2, 4 and 6 hours (a quarter, half, three quarters), once each
    assert reminders == [0, 1, 1, 2, 3, 3]
    # When the deadline passes
    clock.now = start + timedelta(hours=8, minutes=1)
    assert lifecycle.run_once() == 3
    assert lifecycle.run_once() == 0
    # Then the task is cancelled in WeCom, nobody received anything, all three are expired
    assert fake.tasks()[0]["state"] == "cancelled" and fake.receipts() == []
    assert running.wait("campaign", pg_app.recorder.max_notification_id() or 0, 10)
    assert _task_view(pg_url) == (3, 0, 3, False, True)
    # And the member's confirmation task closes "expired"
    pool: ConnectionPool[Any] = ConnectionPool(pg_url, min_size=1, max_size=2, open=True)
    try:
        ConfirmationTasks(pg_app, pool).run_once()
        assert running.wait("marketing_task", pg_app.recorder.max_notification_id() or 0, 10)
        ConfirmationTasks(pg_app, pool).run_once()
    finally:
        pool.close()
    [confirmation] = _tasks(pg_url).values()
    assert (confirmation["status"], confirmation["cancel_reason"]) == ("cancelled", "expired")
    assert confirmation["campaign_id"] == campaign_id


def test_a_task_confirmed_before_the_deadline_is_recorded_as_wecom_reports_it(
        pg_app: Siyu, pg_url: str, running: Tracker, fake_wecom: RunningFakeWeCom,  # noqa: F811
        world: tuple[UUID, CampaignDeps, Clock, str]) -> None:
    _, deps, clock, msgid = world
    fake = fake_wecom.state.campaigns
    fake.set_not_friends(["wmL0"])
    # Given the member confirms after 7 hours (as in the WeCom client)
    clock.now += timedelta(hours=7)
    fake.confirm(msgid)
    # When the lifecycle runs, then again past the deadline
    lifecycle = MassSendLifecycle(deps)
    assert lifecycle.run_once() == 3
    clock.now += timedelta(hours=2)
    assert lifecycle.run_once() == 0
    # Then two were sent, one is not a friend, nothing was cancelled
    assert fake.tasks()[0]["state"] == "confirmed"
    assert sorted(r.recipient for r in fake.receipts()) == ["wmL1", "wmL2"]
    assert running.wait("campaign", pg_app.recorder.max_notification_id() or 0, 10)
    assert _task_view(pg_url) == (3, 2, 0, True, True)
