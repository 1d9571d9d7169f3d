"""Group campaigns' WeCom tasks followed to their end against the faithful fake WeCom: a
confirmed task's groups recorded delivered or already received (status 3), an unconfirmed
one reminded within WeCom's limit and, past the deadline, cancelled and its groups expired."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from adapters.campaign_client import WeComCampaignGateway
from application import campaign_groups
from application.app import Siyu
from domain.campaign_groups import group_deliveries, group_outcomes, group_report
from fakes.wecom import FAKE_CORP_ID, FAKE_CORP_SECRET, RunningFakeWeCom
from projections.campaigns import CampaignView
from projections.campaigns.group_reads import period_sends
from projections.customer_groups.view import CustomerGroupView
from projections.postgres_views import StaffDirectoryView
from projections.runner import BatchRunner, Tracker
from tests.support.directory import hire_as
from workers.campaign_groups import send_groups
from workers.campaign_sending import CampaignDeps
from workers.campaign_store import CampaignStore
from workers.group_tasks import GroupTaskLifecycle
from workers.send_intents import RetryLater

pytestmark = pytest.mark.integration

TEXT = "周六会员日, 群内接龙报名"
SHANGHAI = ZoneInfo("Asia/Shanghai")
OWNERS = {"wrg1": "zhangsan", "wrg2": "zhangsan", "wrg3": "lisi"}


class Clock:
    def __init__(self) -> None:
        # Tomorrow at 14:00 in Shanghai: clear of quiet hours (21:00-09:00) whenever the
        # test runs (the same hour tomorrow failed every run from 21:00 Shanghai time)
        tomorrow = datetime.now(SHANGHAI).date() + timedelta(days=1)
        self.now = datetime.combine(tomorrow, time(14, 0), SHANGHAI).astimezone(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def deps(pg_url: str, pg_app: Siyu, fake_wecom: RunningFakeWeCom,
         clock: Clock) -> Iterator[CampaignDeps]:
    fake_wecom.state.campaigns.group_owners.update(OWNERS)
    hire_as(pg_app, "00000000-0000-4000-8000-0000000c2a01", "sales",
            wecom_user_id="zhangsan", wait=False)
    hire_as(pg_app, "00000000-0000-4000-8000-0000000c2a02", "sales",
            wecom_user_id="lisi", wait=False)
    catch_up(pg_app)
    store = CampaignStore.connect(pg_url)
    with WeComCampaignGateway(fake_wecom.url, FAKE_CORP_ID, FAKE_CORP_SECRET) as gateway:
        yield CampaignDeps(app=pg_app, store=store, gateway=gateway, clock=clock)
    store.close()


def catch_up(app: Siyu) -> None:
    tracker = Tracker(app.factory.datastore)  # type: ignore[attr-defined]
    # (the group directory too: planning reads each group's current owner from it)
    for view in (StaffDirectoryView(), CampaignView(), CustomerGroupView()):
        BatchRunner(app, view, tracker).catch_up()


def sent_campaign(deps: CampaignDeps, groups: dict[str, str]) -> UUID:
    """A group campaign into ``groups``, launched and sent (its tasks created)."""
    app = deps.app
    campaign_id, _ = campaign_groups.draft(app, "会员日", "staff:m", sorted(groups.items()),
                                           TEXT, "staff:m", deps.clock())
    assert campaign_groups.launch_if_groups(app, campaign_id, "staff:m", deps.clock())
    send_groups(deps, campaign_id)
    catch_up(app)
    return campaign_id


def test_confirmed_group_tasks_record_each_group_delivered_or_already_received(
        deps: CampaignDeps, fake_wecom: RunningFakeWeCom) -> None:
    fake = fake_wecom.state.campaigns
    fake.configure(monthly_quota=1)  # the corp's groups may get one mass message a month
    # Given wrg2 already had this month's mass message (an earlier campaign, confirmed)
    earlier = sent_campaign(deps, {"wrg2": "zhangsan"})
    [first] = fake.tasks()
    fake.confirm(first["msgid"])
    # And a campaign into wrg1 and wrg2 whose task zhangsan confirms
    campaign_id = sent_campaign(deps, {"wrg1": "zhangsan", "wrg2": "zhangsan"})
    task = group_outcomes(deps.app.campaigns.get(campaign_id))["wrg1"][1]
    fake.confirm(task)
    # When the lifecycle passes
    lifecycle = GroupTaskLifecycle(deps)
    assert lifecycle.run_once() == 3
    # Then wrg1 was delivered, wrg2 skipped by WeCom (status 3), the earlier one delivered
    campaign = deps.app.campaigns.get(campaign_id)
    assert group_deliveries(campaign) == {"wrg1": "delivered", "wrg2": "already_received"}
    assert group_deliveries(deps.app.campaigns.get(earlier)) == {"wrg2": "delivered"}
    assert {k: group_report(campaign)[k] for k in ("sent", "delivered", "already_received",
                                                   "expired", "awaiting")} == {
        "sent": 2, "delivered": 1, "already_received": 1, "expired": 0, "awaiting": 0}
    # And what WeCom delivered is what the fake received: wrg2 got only the earlier one
    assert sorted(r.recipient for r in fake.receipts(kind="group")) == ["wrg1", "wrg2"]
    # And a later pass records nothing again
    assert lifecycle.run_once() == 0
    # And the campaign read model counts the delivered group
    catch_up(deps.app)
    # And wrg2, answered status 3 this month, is at its quota for the next campaign
    assert quota_reasons(deps, {"wrg1": "zhangsan", "wrg2": "zhangsan"}) == {
        "wrg1": None, "wrg2": "WECOM_GROUP_QUOTA"}
    with deps.store.pool.connection() as conn:
        row = conn.execute("SELECT delivered FROM campaign WHERE campaign_id = %s",
                           (campaign_id,)).fetchone()
    assert row is not None and row["delivered"] == 1


def test_an_unconfirmed_group_task_is_reminded_then_cancelled_at_its_deadline(
        deps: CampaignDeps, fake_wecom: RunningFakeWeCom, clock: Clock) -> None:
    fake = fake_wecom.state.campaigns
    # Given a campaign with a 24-hour deadline into lisi's group; lisi never confirms
    campaign_id = sent_campaign(deps, {"wrg3": "lisi"})
    [task] = fake.tasks()
    lifecycle = GroupTaskLifecycle(deps, confirm_within=timedelta(hours=24))
    # When the lifecycle passes at 1, 7, 13, 19 and 20 hours
    created = task_created(deps, campaign_id)
    for hours in (1, 7, 13, 19, 20):
        clock.now = created + timedelta(hours=hours)
        assert lifecycle.run_once() == 0
    # Then lisi was reminded three times (a quarter, half, three quarters), no more
    assert fake.tasks()[0]["reminders"] == 3
    assert group_report(deps.app.campaigns.get(campaign_id))["awaiting"] == 1
    # When the deadline passes
    clock.now = created + timedelta(hours=25)
    assert lifecycle.run_once() == 1
    # Then the task is cancelled, the group recorded expired and it received nothing
    [after] = fake.tasks()
    assert after["cancelled_at"] is not None and task["msgid"] == after["msgid"]
    campaign = deps.app.campaigns.get(campaign_id)
    assert group_deliveries(campaign) == {"wrg3": "expired"}
    assert fake.receipts(kind="group") == []
    assert lifecycle.run_once() == 0
    # And the expired message does not count toward wrg3's quota (WeCom sent nothing)
    catch_up(deps.app)
    with deps.store.pool.connection() as conn:
        since, until = clock.now - timedelta(days=40), clock.now + timedelta(days=1)
        assert period_sends(conn, ["wrg3"], since, until) == {}


def quota_reasons(deps: CampaignDeps, groups: dict[str, str]) -> dict[str, str | None]:
    """Each group's exclusion reason if a campaign into ``groups`` were planned now."""
    app = deps.app
    draft = campaign_groups.draft(app, "下一场", "staff:m", sorted(groups.items()), TEXT,
                                  "staff:m", deps.clock())[0]
    return {d.group_id: d.reason
            for d in campaign_groups.plan(app, app.campaigns.get(draft), deps.clock())}


def task_created(deps: CampaignDeps, campaign_id: UUID) -> datetime:
    sent_at: dict[str, datetime] = deps.app.campaigns.get(campaign_id).__dict__[
        "_group_sent_at"]
    return min(sent_at.values())


def test_a_cancelled_campaign_s_unconfirmed_group_task_is_cancelled_at_once(
        deps: CampaignDeps, fake_wecom: RunningFakeWeCom) -> None:
    fake = fake_wecom.state.campaigns
    # Given a campaign whose task into wrg1 was created (zhangsan has not confirmed it) while
    # WeCom was busy for lisi's wrg3, then cancelled
    fake.inject("busy", api="add_msg_template")
    app = deps.app
    campaign_id, _ = campaign_groups.draft(app, "会员日", "staff:m",
                                           [("wrg1", "zhangsan"), ("wrg3", "lisi")], TEXT,
                                           "staff:m", deps.clock())
    assert campaign_groups.launch_if_groups(app, campaign_id, "staff:m", deps.clock())
    with pytest.raises(RetryLater):
        send_groups(deps, campaign_id)
    assert group_report(app.campaigns.get(campaign_id))["awaiting"] == 1
    app.campaigns.cancel(campaign_id, "wrong date", "staff:m", deps.clock())
    catch_up(app)
    # When the lifecycle passes, long before the deadline
    assert GroupTaskLifecycle(deps).run_once() == 1
    # Then zhangsan was not reminded; the task is cancelled and the group got nothing
    [task] = fake.tasks()
    assert (task["sender"], task["reminders"], task["cancelled_at"] is not None) == (
        "zhangsan", 0, True)
    assert group_deliveries(app.campaigns.get(campaign_id)) == {"wrg1": "expired"}
    assert fake.receipts(kind="group") == []
