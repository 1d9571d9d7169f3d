"""Each WeCom mass-send task gets its sender a confirmation marketing task, closed from what
the campaign shows: completed when confirmed, cancelled when it expired; once, however
many passes or workers run."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from application.app import Siyu
from domain.ingestion import EventItem
from projections.campaigns import CampaignView
from projections.marketing_tasks import MarketingTaskView
from projections.organisation import StaffAssignmentView
from projections.runner import BatchRunner, Tracker
from projections.staff_performance import StaffPerformanceView
from tests.support.staff_execution_world import MassSend, deliver, run_campaign
from workers.confirmation_tasks import ConfirmationTasks, assignment_key

START = datetime(2025, 11, 1, tzinfo=UTC)


def _world(app: Siyu) -> tuple[list[str], MassSend, dict[int, UUID]]:
    staff = [str(app.staff.hire("sales", "front_office", f"s{s}", "staff:m",
                                START - timedelta(days=1))) for s in range(6)]
    items = [EventItem(f"f{c}", "FRIEND_ADDED", ("wx_unionid", f"u{c}"),
                       START + timedelta(minutes=c), staff_id=staff[c % 6], channel="qr")
             for c in range(400)]
    result = app.ingestion.record_batch(items, "service:test")
    customers = {c: o.customer_id for c, o in enumerate(result.outcomes)
                 if o.customer_id is not None}
    friends = {c: c % 6 for c in customers}
    campaign = MassSend(owner=0, cost_fen=1000, launched_at=START + timedelta(days=3))
    rng = random.Random(5)
    run_campaign(app, rng, staff, customers, friends, campaign, record_deliveries=False)
    return staff, campaign, customers


def _catch_up(app: Siyu, tracker: Tracker) -> None:
    for view in (StaffAssignmentView(), StaffPerformanceView(), CampaignView(),
                 MarketingTaskView()):
        BatchRunner(app, view, tracker).catch_up()


def _tasks(url: str) -> dict[str, dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        rows = conn.execute("SELECT * FROM marketing_task WHERE kind = 'campaign_confirmation'"
                            ).fetchall()
    return {r["assignment_key"]: r for r in rows}


def test_confirmation_tasks_follow_the_mass_send(pg_app: Siyu,
                                                 pg_url: str) -> None:
    # Given a WeCom mass send to 300 friends of 6 senders: one WeCom task per sender
    staff, campaign, customers = _world(pg_app)
    assert campaign.campaign_id is not None
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    _catch_up(pg_app, tracker)
    pool: ConnectionPool[Any] = ConnectionPool(pg_url, min_size=1, max_size=2, open=True)
    try:
        loop, other = ConfirmationTasks(pg_app, pool), ConfirmationTasks(pg_app, pool)
        senders = sorted(set(campaign.recipients.values()))
        keys = {s: assignment_key(campaign.campaign_id, f"task-{campaign.campaign_id}-{s}")
                for s in senders}

        # When the loop runs (twice, and a second worker too) before anyone confirms
        assert loop.run_once() == len(senders)
        other.run_once()
        _catch_up(pg_app, tracker)
        assert loop.run_once() == 0  # nothing left to do

        # Then each sender has one open task, due a day after the WeCom task was created
        tasks = _tasks(pg_url)
        assert set(tasks) == set(keys.values())
        for s, key in keys.items():
            assert tasks[key]["staff_id"] == staff[s]
            assert tasks[key]["status"] == "open"
            assert tasks[key]["campaign_id"] == campaign.campaign_id
            assert tasks[key]["due_at"] == campaign.sent_at + timedelta(hours=24)

        # When the deliveries are synced (some senders confirmed, the others expired)
        pg_app.clock = lambda: START + timedelta(days=10)
        deliver(pg_app, customers, campaign)
        _catch_up(pg_app, tracker)
        closed = loop.run_once()
        other.run_once()
        _catch_up(pg_app, tracker)

        # Then confirmed senders' tasks are completed at the confirmation, the rest cancelled
        tasks = _tasks(pg_url)
        confirmed = {campaign.recipients[c] for c, st in campaign.statuses.items()
                     if st != "expired"}
        assert closed == len(senders) and 0 < len(confirmed) < len(senders)
        for s, key in keys.items():
            if s in confirmed:
                assert tasks[key]["status"] == "completed"
                assert tasks[key]["completed_at"] == campaign.sent_at + timedelta(days=1)
                assert tasks[key]["staff_id"] == staff[s]
            else:
                assert tasks[key]["status"] == "cancelled"
                assert tasks[key]["cancel_reason"] == "expired"
        assert loop.run_once() == 0

        # And the senders' KPIs count them: assigned on the due day, completed when confirmed
        with psycopg.connect(pg_url) as conn:
            assigned, completed = conn.execute(
                "SELECT sum(marketing_tasks_assigned), sum(marketing_tasks_completed) "
                "FROM staff_daily_performance").fetchone() or (0, 0)
        assert (assigned, completed) == (len(confirmed), len(confirmed))
    finally:
        pool.close()


def test_a_sender_who_left_is_skipped_not_retried(pg_app: Siyu,
                                                  pg_url: str) -> None:
    staff, campaign, _ = _world(pg_app)
    leaving = UUID(staff[campaign.recipients[min(campaign.recipients)]])
    pg_app.staff.leave(leaving, "staff:m", START + timedelta(days=3, hours=2))
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    _catch_up(pg_app, tracker)
    pool: ConnectionPool[Any] = ConnectionPool(pg_url, min_size=1, max_size=2, open=True)
    try:
        loop = ConfirmationTasks(pg_app, pool)
        senders = set(campaign.recipients.values())
        assert loop.run_once() == len(senders) - 1
        assert loop.run_once() == 0  # the one who left is not tried again
        _catch_up(pg_app, tracker)
        assert all(t["staff_id"] != str(leaving) for t in _tasks(pg_url).values())
    finally:
        pool.close()


def test_before_the_read_models_exist_there_is_nothing_to_do(pg_app: Siyu,
                                                             pg_url: str) -> None:
    pool: ConnectionPool[Any] = ConnectionPool(pg_url, min_size=1, max_size=1, open=True)
    try:
        loop = ConfirmationTasks(pg_app, pool)
        assert loop.run_once() == 0
        assert loop.run_once() == 0  # the pooled connection is usable again
    finally:
        pool.close()
