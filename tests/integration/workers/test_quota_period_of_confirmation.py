"""A WeCom status 3 ("already received another mass message") marks the quota period of
the task's confirmation — when the member sent it — not its creation: under the corp's
one-a-day rule, a task created before midnight and sent after it uses the next day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg.rows import dict_row

from application.app import Siyu
from domain.restraint import wecom_quota_used
from fakes.groupmsg import member_send
from fakes.wecom import RunningFakeWeCom
from projections.campaign_planning import read_contacts
from projections.runner import Tracker
from tests.integration.workers.test_campaign_sends_on_postgres import running  # noqa: F401
from tests.integration.workers.test_mass_send_lifecycle import Clock
from tests.integration.workers.test_mass_send_lifecycle import (  # noqa: F401 - fixture
    world as lifecycle_world,
)
from workers.campaign_sending import CampaignDeps
from workers.mass_send_lifecycle import MassSendLifecycle

pytestmark = pytest.mark.integration

BEIJING = ZoneInfo("Asia/Shanghai")


def test_a_status_3_counts_in_the_day_the_member_sent_the_task_not_the_day_it_was_made(
        pg_app: Siyu, pg_url: str, running: Tracker, fake_wecom: RunningFakeWeCom,  # noqa: F811
        lifecycle_world: tuple[UUID, CampaignDeps, Clock, str]) -> None:  # noqa: F811
    _, deps, clock, msgid = lifecycle_world
    fake = fake_wecom.state.campaigns
    fake.configure(quota_rule="day")
    # Given the task was created today; the member sends it a minute after the next
    # midnight (Beijing), when wmL1 already had that day's mass message from the member
    created = datetime.fromtimestamp(fake.now(), UTC)
    midnight = datetime.combine(created.astimezone(BEIJING).date() + timedelta(days=1),
                                datetime.min.time(), tzinfo=BEIJING)
    fake.advance((midnight - created).total_seconds() + 60)
    member_send(fake, "m-lifecycle", ["wmL1"], "早安")
    fake.confirm(msgid)
    confirmed = datetime.fromtimestamp(fake.now(), UTC)
    # When the lifecycle reads the task's result
    clock.now = confirmed + timedelta(minutes=5)
    assert MassSendLifecycle(deps).run_once() == 3
    assert running.wait("campaign", pg_app.recorder.max_notification_id() or 0, 10)
    # Then the status 3 is dated when the member sent the task
    with psycopg.connect(pg_url, row_factory=dict_row) as conn:
        [full] = conn.execute("SELECT customer_id, delivered_at, outcome_at FROM campaign_send "
                              "WHERE delivery = 'quota_exceeded'").fetchall()
        assert full["outcome_at"] < midnight <= full["delivered_at"]
        assert abs(full["delivered_at"] - confirmed) < timedelta(seconds=2)
        # And planning finds that day's quota used — and the creation day's not
        contacts = read_contacts(conn, [full["customer_id"]], confirmed)[full["customer_id"]]
    assert wecom_quota_used(contacts, confirmed + timedelta(hours=1), "day")
    assert not wecom_quota_used(contacts, midnight - timedelta(hours=1), "day")
