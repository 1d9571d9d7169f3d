"""SOP steps into customer groups, through the worker against the faithful fake WeCom:
one message per group and day, exactly once under lost replies, redelivery and restarts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from uuid import UUID, uuid4

import pytest

from adapters.campaign_client import WeComCampaignGateway
from domain.ingestion import EventItem
from fakes.wecom import FAKE_CORP_ID, FAKE_CORP_SECRET, RunningFakeWeCom
from tests.integration.workers.test_sop_sends_on_postgres import T0, World, generous
from tests.integration.workers.test_sop_sends_on_postgres import (  # noqa: F401 - fixture
    world as sop_world_fixture,
)
from workers.campaign_sending import CampaignDeps
from workers.sops import SopDeps, parse, send_steps

pytestmark = pytest.mark.integration

WELCOME = "欢迎加入本群! 群规请看群公告"
GROUP_STEP = {"offset_hours": 0, "channel": "wecom_mass", "target": "group",
              "sender_user_id": "zhangsan", "variants": [{"variant_id": "g", "text": WELCOME}]}


@pytest.fixture
def fake_world(sop_world_fixture: World, fake_wecom: RunningFakeWeCom,  # noqa: F811
               ) -> Iterator[tuple[World, RunningFakeWeCom]]:
    """The SOP world sending through the WeCom client to the fake, where zhangsan owns
    the customer group wrg1 and lisi owns wrg2."""
    world = sop_world_fixture
    fake_wecom.state.campaigns.group_owners.update({"wrg1": "zhangsan", "wrg2": "lisi"})
    with WeComCampaignGateway(fake_wecom.url, FAKE_CORP_ID, FAKE_CORP_SECRET) as gateway:
        world.deps = SopDeps(CampaignDeps(app=world.app, store=world.campaigns,
                                          gateway=gateway, clock=lambda: world.now,
                                          intent_lease=0.5), world.store)
        yield world, fake_wecom


def join(world: World, customer: UUID, group: str, n: int) -> None:
    world.app.ingestion.record_batch([EventItem(
        f"join-{group}-{n}", "GROUP_JOINED", world.identities[customer], T0, group_id=group)],
        "service:test")


def group_sop(world: World, *groups: str) -> UUID:
    generous(world.app)
    sop_id, _ = world.app.sops.define("入群欢迎", "staff:m", {"kind": "group_joined",
                                                          "group_ids": list(groups)},
                                      [GROUP_STEP], "staff:m", T0 - timedelta(days=1))
    return sop_id


def test_two_joiners_the_same_day_get_one_message_into_their_group(
        fake_world: tuple[World, RunningFakeWeCom]) -> None:
    world, fake = fake_world
    group_sop(world, "wrg1")
    # Given two customers joining wrg1 the same day
    first, second = world.friend(T0), world.friend(T0)
    join(world, first, "wrg1", 1)
    join(world, second, "wrg1", 2)
    # When their steps are due
    assert world.run(T0 + timedelta(minutes=1)) == 2
    # Then one task into wrg1 from its owner; the other joiner's step is skipped
    [task] = fake.state.campaigns.tasks()
    assert (task["sender"], task["recipients"], task["text"]) == ("zhangsan", 1, WELCOME)
    statuses = sorted(s for _, s, _ in world.steps(first) + world.steps(second))
    assert statuses == ["sent", "skipped"]
    assert ("skipped", "GROUP_ALREADY_SENT") in [
        (s, d) for _, s, d in world.steps(first) + world.steps(second)]
    # And once zhangsan confirms, the group received exactly that text, once
    fake.state.campaigns.confirm(task["msgid"])
    received = fake.state.campaigns.receipts(kind="group")
    assert [(r.recipient, r.sender, r.text) for r in received] == [
        ("wrg1", "zhangsan", WELCOME)]
    assert fake.state.campaigns.receipts(kind="mass") == []  # nobody got it one to one


def test_a_lost_reply_a_redelivery_and_a_restart_create_no_second_group_task(
        fake_world: tuple[World, RunningFakeWeCom]) -> None:
    world, fake = fake_world
    group_sop(world, "wrg1")
    customer = world.friend(T0)
    join(world, customer, "wrg1", 1)
    # Given WeCom creates the task but its reply is lost
    fake.state.campaigns.inject("lost_reply", api="add_msg_template")
    world.now = T0 + timedelta(minutes=1)
    world.caught_up()
    world.messages.clear()
    world.dispatcher.run_once()
    [message] = world.messages
    # When the step runs, is delivered again, and runs again in a restarted worker
    send_steps(world.deps, parse(message))
    send_steps(world.deps, parse(message))
    restarted = SopDeps(CampaignDeps(app=world.app, store=world.campaigns,
                                     gateway=world.deps.campaigns.gateway,
                                     clock=lambda: world.now), world.store)
    assert send_steps(restarted, parse(message)) == 0
    world.caught_up()
    # Then the task found by listing zhangsan's group tasks is the step's one send
    [task] = fake.state.campaigns.tasks()
    assert world.steps(customer) == [(0, "sent", task["msgid"])]
    assert fake.state.campaigns.calls["add_msg_template"] == 1
    assert fake.state.campaigns.calls["list_v2"] >= 1  # reconciled, never re-created
    fake.state.campaigns.confirm(task["msgid"])
    assert fake.state.campaigns.per_recipient(kind="group") == {"wrg1": 1}


def test_a_group_the_sender_does_not_own_is_refused_by_wecom_and_recorded_failed(
        fake_world: tuple[World, RunningFakeWeCom]) -> None:
    world, fake = fake_world
    group_sop(world, "wrg2")  # owned by lisi, the step sends as zhangsan
    customer = world.friend(T0)
    join(world, customer, "wrg2", 1)
    assert world.run(T0 + timedelta(minutes=1)) == 1
    assert world.steps(customer) == [(0, "failed", "REFUSED_BY_WECOM")]
    assert fake.state.campaigns.receipts() == []


def test_a_do_not_disturb_joiner_triggers_nothing_into_the_group(
        fake_world: tuple[World, RunningFakeWeCom]) -> None:
    world, fake = fake_world
    group_sop(world, "wrg1")
    customer = world.friend(T0)
    world.app.ingestion.record_batch([EventItem("dnd-1", "DND_SET", world.identities[customer],
                                                T0)], "service:test")
    join(world, customer, "wrg1", 1)
    world.run(T0 + timedelta(minutes=1))
    assert world.steps(customer) == [(0, "skipped", "DO_NOT_DISTURB")]
    assert fake.state.campaigns.tasks() == []


def test_a_group_at_its_months_quota_of_the_platforms_messages_is_skipped(
        fake_world: tuple[World, RunningFakeWeCom]) -> None:
    world, _ = fake_world
    day = T0.date().replace(day=1)  # and the 2nd: one month
    month = (day, (day + timedelta(days=32)).replace(day=1), 1)  # a quota of one a month
    row = {"sop_id": uuid4(), "step": 0, "trigger_group": "wrg1", "enrolment_id": uuid4()}
    # Given a group message claimed this month, with a quota of one a month
    assert world.store.claim_group(row, day, T0, month) is None
    assert world.store.claim_group(row, day, T0, month) is None  # the same enrolment again
    # When another sequence's step claims a message into that group later that month
    other = {**row, "sop_id": uuid4(), "enrolment_id": uuid4()}
    assert world.store.claim_group(other, day + timedelta(days=1), T0, month) == \
        "WECOM_GROUP_QUOTA"
    # And another joiner's enrolment the same day is told the message went already
    assert world.store.claim_group({**row, "enrolment_id": uuid4()}, day, T0, month) == \
        "GROUP_ALREADY_SENT"
    # But another group is not affected
    assert world.store.claim_group({**other, "trigger_group": "wrg2"}, day, T0, month) is None


def test_under_the_one_a_day_rule_a_group_step_counts_its_quota_per_day(
        fake_world: tuple[World, RunningFakeWeCom]) -> None:
    world, fake = fake_world
    # Given a corp whose mass-send setting is one message per customer group a day, and
    # two sequences with a step into wrg1 when someone joins it
    group_sop(world, "wrg1")
    world.app.campaigns.change_contact_policy({"wecom_mass": {"day": 5, "week": 10,
                                                              "month": 30}}, "day",
                                              "21:00", "09:00", "staff:m", T0)
    world.app.sops.define("入群欢迎二", "staff:m", {"kind": "group_joined",
                                                  "group_ids": ["wrg1"]},
                          [GROUP_STEP], "staff:m", T0 - timedelta(days=1))
    # When a customer joins wrg1 today (both sequences' steps due) and another tomorrow
    first = world.friend(T0)
    join(world, first, "wrg1", 1)
    assert world.run(T0 + timedelta(minutes=1)) == 2
    later = world.friend(T0)
    join(world, later, "wrg1", 2)
    world.run(T0 + timedelta(days=1, minutes=1))
    # Then today one of the two went and the other is past the day's quota; tomorrow's
    # went: by month (31 a month) all three would have gone
    today = sorted((s, d) for _, s, d in world.steps(first))
    assert [s for s, _ in today] == ["sent", "skipped"]
    assert ("skipped", "WECOM_GROUP_QUOTA") in today
    assert sorted(s for _, s, _ in world.steps(later)) == ["sent", "skipped"]
    assert len(fake.state.campaigns.tasks()) == 2
