"""SOP sequences on PostgreSQL: enrolment on a trigger, steps when due, stops, restraint."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from psycopg.rows import dict_row

from adapters.campaign_gateway import BatchRecipient, Delivery, DirectResult, MassSendTask, TaskResult
from application.app import Siyu
from application.campaign_launch import launch
from domain.ingestion import EventItem
from projections.campaign_planning import plan_audience
from projections.runner import BatchRunner, Tracker
from siyu.processes import read_model_views
from tests.integration.workers.support import NoTaskFollowUps, customer_events
from workers.campaign_sending import CampaignDeps
from workers.campaign_store import CampaignStore
from workers.sops import SopDeps, SopDispatcher, SopStore, parse, send_steps

pytestmark = pytest.mark.integration

#: Noon in Shanghai, two weeks ago: clear of quiet hours, and far from today's campaigns.
T0 = (datetime.now(UTC) - timedelta(days=14)).replace(hour=4, minute=0, second=0,
                                                      microsecond=0)
STEPS = [{"offset_hours": h, "channel": "wecom_mass",
          "variants": [{"variant_id": f"d{h // 24}", "text": f"day {h // 24}: {{lifecycle}}"}]}
         for h in (0, 72, 168)]


@dataclass
class TaskGateway(NoTaskFollowUps):
    """A WeCom double: one task per request, deduplicated by key."""

    sent: list[tuple[str, str, str]] = field(default_factory=list)  # recipient, text, key
    answers: dict[str, MassSendTask] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send_direct(self, channel: str, recipient: str, template_id: str,
                    data: dict[str, str], dedupe_key: str) -> DirectResult:
        raise NotImplementedError

    def send_direct_batch(self, channel: str, recipients: Sequence[BatchRecipient],
                          template_id: str, dedupe_key: str) -> list[DirectResult]:
        return [self.send_direct(channel, r.address, template_id, {"text": r.params[0]}, r.key)
                for r in recipients]

    def create_mass_send(self, sender: str, recipients: Sequence[str], text: str,
                         dedupe_key: str, chat_type: str = "single") -> MassSendTask:
        with self.lock:
            if dedupe_key in self.answers:
                first = self.answers[dedupe_key]
                return MassSendTask(Delivery.DUPLICATE, "duplicate", first.task_id)
            self.sent.extend((r, text, dedupe_key) for r in recipients)
            answer = MassSendTask(Delivery.ACCEPTED, "ok", f"task{len(self.answers)}")
            self.answers[dedupe_key] = answer
            return answer

    def mass_send_result(self, task_id: str, sender: str) -> TaskResult:
        raise NotImplementedError


class World:
    """The application, every read model running, a controllable clock, the SOP worker."""

    def __init__(self, app: Siyu, url: str, tracker: Tracker) -> None:
        self.app, self.url, self.tracker = app, url, tracker
        self.now = T0
        self.gateway = TaskGateway()
        self.campaigns = CampaignStore.connect(url)
        self.store = SopStore(self.campaigns.pool)
        self.deps = SopDeps(CampaignDeps(app=app, store=self.campaigns, gateway=self.gateway,
                                         clock=lambda: self.now), self.store)
        self.messages: list[list[str]] = []
        self.identities: dict[UUID, tuple[str, str]] = {}
        self.running: list[tuple[BatchRunner, threading.Thread]] = []
        self.dispatcher = SopDispatcher(self.store, self.messages.append,
                                        clock=lambda: self.now)

    def friend(self, at: datetime) -> UUID:
        """A new customer adds staff-li at ``at`` (a WeCom external contact)."""
        identity = ("wecom_external:ww7788", f"wm{uuid4().hex[:16]}")
        result = self.app.ingestion.record_batch([EventItem(
            f"fa-{uuid4().hex}", "FRIEND_ADDED", identity, at, channel="qr",
            staff_id="wecom_user:staff-li")], "service:test")
        customer = result.outcomes[0].customer_id
        assert customer is not None
        self.identities[customer] = identity
        return customer

    def caught_up(self) -> None:
        last = self.app.recorder.max_notification_id() or 0
        # (staff_daily_performance holds the chat threads a WeCom step's sender is read from)
        for view in ("sop", "customer_profile", "campaign", "staff_daily_performance"):
            assert self.tracker.wait(view, last, 10), view

    def run(self, at: datetime) -> int:
        """Dispatch what is due at ``at`` and deliver every message; outcomes recorded."""
        self.now = at
        self.caught_up()
        self.messages.clear()
        self.dispatcher.run_once()
        recorded = sum(send_steps(self.deps, parse(m)) for m in self.messages)
        self.caught_up()
        return recorded

    def rows(self, query: str, *args: Any) -> list[dict[str, Any]]:
        with psycopg.connect(self.url, row_factory=dict_row) as conn:
            return conn.execute(query, args).fetchall()

    def steps(self, customer: UUID) -> list[tuple[int, str, str | None]]:
        return [(r["step"], r["status"], r["detail"]) for r in self.rows(
            "SELECT step, status, detail FROM sop_send WHERE customer_id = %s ORDER BY step",
            customer)]

    def close(self) -> None:
        self.campaigns.close()


@pytest.fixture
def world(pg_app: Siyu, pg_url: str) -> Iterator[World]:
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    runners = [BatchRunner(pg_app, v, tracker, poll_interval=0.05) for v in read_model_views()]
    threads = [threading.Thread(target=r.run_forever, daemon=True) for r in runners]
    for thread in threads:
        thread.start()
    w = World(pg_app, pg_url, tracker)
    w.running = list(zip(runners, threads, strict=True))
    yield w
    w.close()
    for runner in runners:
        runner.stop()
    for thread in threads:
        thread.join(timeout=5)


def generous(app: Siyu) -> None:
    app.campaigns.change_contact_policy({"wecom_mass": {"day": 5, "week": 10, "month": 30}}, "month",
                              "21:00", "09:00", "staff:m", T0)


def welcome_sop(app: Siyu) -> UUID:
    sop_id, _ = app.sops.define("welcome", "staff:m", {"kind": "friend_added"}, STEPS,
                               "staff:m", T0 - timedelta(days=1))
    return sop_id


def test_friend_added_sends_day_0_then_day_3_and_an_order_stops_day_7(world: World) -> None:
    # Given a welcome SOP (day 0, 3, 7) and a customer who adds a staff member at T0
    generous(world.app)
    sop_id = welcome_sop(world.app)
    customer = world.friend(T0)
    # When the worker runs a minute later: day 0 is sent, once, with its variables filled
    assert world.run(T0 + timedelta(minutes=1)) == 1
    assert [(t, k.split(":")[1]) for _, t, k in world.gateway.sent] == [
        ("day 0: NEW", str(sop_id))]
    assert world.steps(customer) == [(0, "sent", "task0"), (1, "planned", None),
                                     (2, "planned", None)]
    # and again later that day: nothing more is due
    assert world.run(T0 + timedelta(hours=5)) == 0
    # When the clock reaches day 3: day 3 is sent
    assert world.run(T0 + timedelta(days=3, minutes=1)) == 1
    assert [t for _, t, _ in world.gateway.sent] == ["day 0: NEW", "day 3: NEW"]
    # When the customer pays an order on day 5, then day 7 comes
    world.app.ingestion.record_batch([EventItem("pay-1", "ORDER_PAID", _identity(world, customer),
                                      T0 + timedelta(days=5), order_id="o1", amount_fen=990)],
                           "service:test")
    assert world.run(T0 + timedelta(days=7, minutes=1)) == 0
    # Then day 7 is not sent: the enrolment stopped, converted, its step cancelled
    assert len(world.gateway.sent) == 2
    assert world.steps(customer)[2][1] == "cancelled"
    [enrolment] = world.rows("SELECT state, stop_reason FROM sop_enrolment")
    assert enrolment == {"state": "stopped", "stop_reason": "converted"}
    [progress] = world.rows("SELECT enrolled, active, stopped_converted FROM sop_progress")
    assert progress == {"enrolled": 1, "active": 0, "stopped_converted": 1}


def test_a_stop_not_yet_projected_is_seen_at_send_time(world: World) -> None:
    # Given a due day-3 step whose customer paid an order; the sop view has not seen it
    generous(world.app)
    welcome_sop(world.app)
    customer = world.friend(T0)
    world.run(T0 + timedelta(minutes=1))
    world.now = T0 + timedelta(days=3, minutes=1)
    world.dispatcher.run_once()
    world.app.ingestion.record_batch([EventItem("pay-2", "ORDER_PAID", _identity(world, customer),
                                      T0 + timedelta(days=2), order_id="o2", amount_fen=1)],
                           "service:test")
    # When the message is delivered before the projection catches up
    for message in world.messages:
        send_steps(world.deps, parse(message))
    # Then the step is skipped as converted, not sent
    world.caught_up()
    assert len(world.gateway.sent) == 1
    assert world.steps(customer)[1][1:] in {("skipped", "CONVERTED"), ("cancelled", None)}


def test_a_redelivered_message_sends_nothing_twice(world: World) -> None:
    # Given the day-0 step sent, but its outcome lost in a crash
    generous(world.app)
    welcome_sop(world.app)
    customer = world.friend(T0)
    world.now = T0 + timedelta(minutes=1)
    world.caught_up()
    world.dispatcher.run_once()
    [message] = world.messages
    original = world.app.sops.record_step_outcomes
    world.app.sops.record_step_outcomes = lambda *a, **k: 0  # type: ignore[method-assign]
    send_steps(world.deps, parse(message))
    world.app.sops.record_step_outcomes = original  # type: ignore[method-assign]
    # When the message is delivered again, twice
    send_steps(world.deps, parse(message))
    send_steps(world.deps, parse(message))
    world.caught_up()
    # Then the customer got one message and one outcome is recorded
    assert len(world.gateway.sent) == 1
    outcomes = [e for e in customer_events(world.app, customer)
                if type(e).__name__.startswith("SopStep")]
    assert len(outcomes) == 1 and world.steps(customer)[0][1] == "sent"


def test_a_step_due_in_quiet_hours_is_deferred_to_their_end_not_dropped(world: World) -> None:
    # Given a customer who adds a staff member at 22:00 Shanghai time
    generous(world.app)
    welcome_sop(world.app)
    late = T0 + timedelta(hours=10)  # 14:00 UTC
    customer = world.friend(late)
    # When the worker runs at once: nothing is sent, the step waits for 09:00
    assert world.run(late + timedelta(minutes=1)) == 0
    assert world.gateway.sent == [] and world.steps(customer)[0][1] == "planned"
    [deferred] = world.rows("SELECT not_before FROM sop_dispatch")
    assert deferred["not_before"] == T0 + timedelta(hours=21)  # 09:00 Shanghai next day
    assert world.run(T0 + timedelta(hours=20)) == 0  # 04:00 Shanghai: still quiet
    # Then at 09:00 it is sent
    assert world.run(T0 + timedelta(hours=21, minutes=1)) == 1
    assert world.steps(customer)[0][1] == "sent"


def test_caps_are_shared_between_sops_and_campaigns(world: World) -> None:
    # Given the default caps (1 WeCom message a day) and a welcome SOP
    welcome_sop(world.app)
    segment_id, _ = world.app.segments.define("friends", "", {"isFriend": True}, "staff:m", T0)
    first = world.friend(T0)
    # When the SOP welcomes the first customer
    assert world.run(T0 + timedelta(minutes=1)) == 1
    # and a second one adds a staff member, then a campaign to friends is launched
    second = world.friend(T0 + timedelta(minutes=5))
    campaign_id, _ = world.app.campaigns.draft(
        "promo", "staff:m", "wecom_mass", segment_id, [{"variant_id": "a", "text": "sale"}],
        "staff:m", T0)
    world.caught_up()
    _, plan = launch(world.app, world.tracker, campaign_id, "staff:m",
                     T0 + timedelta(minutes=10))
    # Then the campaign leaves out the customer the SOP reached today
    reasons = {d.customer_id: d.reason for d in plan.decisions}
    assert reasons == {first: "CAP_DAY", second: None}
    # and the SOP skips the second customer, whom the campaign reaches today
    assert world.run(T0 + timedelta(minutes=15)) == 1
    assert world.steps(second)[0][1:] == ("skipped", "CAP_DAY")
    assert len(world.gateway.sent) == 1
    # and a later dry run still counts the SOP send
    with world.app.factory.datastore.get_connection() as conn:  # type: ignore[attr-defined]
        again = plan_audience(conn, world.app.campaigns.get(campaign_id).plan(), segment_id,
                              world.app.campaigns.contact_policy(), T0 + timedelta(hours=1))
    assert {d.customer_id: d.reason for d in again.decisions}[first] == "CAP_DAY"


def test_a_revision_applies_to_new_enrolments_and_rebuild_equals_live(world: World) -> None:
    # Given a customer enrolled under revision 1, then the SOP revised to one step
    generous(world.app)
    sop_id = welcome_sop(world.app)
    old = world.friend(T0)
    world.run(T0 + timedelta(minutes=1))
    world.app.sops.revise(sop_id, "welcome v2", {"kind": "friend_added"}, STEPS[:1],
                         "staff:m", T0 + timedelta(hours=1))
    new = world.friend(T0 + timedelta(hours=2))
    world.run(T0 + timedelta(hours=2, minutes=1))
    # Then the first keeps three steps, the second has one and is completed
    assert len(world.steps(old)) == 3 and world.steps(new) == [(0, "sent", "task1")]
    states = {r["customer_id"]: (r["revision"], r["state"]) for r in world.rows(
        "SELECT customer_id, revision, state FROM sop_enrolment")}
    assert states == {old: (1, "active"), new: (2, "completed")}
    # When the customer deletes the staff member: stopped as opted out
    world.app.ingestion.record_batch([EventItem("del-1", "FRIEND_DELETED", _identity(world, old),
                                      T0 + timedelta(hours=3), staff_id="wecom_user:staff-li",
                                      deleted_by="customer")], "service:test")
    world.caught_up()
    assert world.rows("SELECT stop_reason FROM sop_enrolment WHERE customer_id = %s",
                      old) == [{"stop_reason": "opted_out"}]
    # And a rebuild of the read model gives the same rows
    tables = ("sop", "sop_revision", "sop_enrolment", "sop_send")
    live = {t: world.rows(f"SELECT * FROM {t} ORDER BY 1, 2") for t in tables}
    for runner, thread in world.running:  # the live runner holds the view's lock
        if runner.view.name == "sop":
            runner.stop()
            thread.join(5)
    view = next(v for v in read_model_views() if v.name == "sop")
    BatchRunner(world.app, view, world.tracker, page_size=3).rebuild()
    assert {t: world.rows(f"SELECT * FROM {t} ORDER BY 1, 2") for t in tables} == live


def _identity(world: World, customer: UUID) -> tuple[str, str]:
    return world.identities[customer]


def test_a_group_sop_enrols_on_joining_its_group_and_waits_while_paused(world: World) -> None:
    # Given a sequence for customers joining group g1, paused
    generous(world.app)
    sop_id, _ = world.app.sops.define("group", "staff:m", {"kind": "group_joined",
                                                           "group_ids": ["g1"]},
                                     STEPS[:1], "staff:m", T0)
    customer = world.friend(T0)
    joined = T0 + timedelta(hours=1)
    world.app.ingestion.record_batch([EventItem(f"j-{g}", "GROUP_JOINED", _identity(world, customer),
                                      joined, group_id=g) for g in ("g2", "g1")],
                           "service:test")
    world.app.sops.pause(sop_id, "staff:m", joined)
    # When its step is due: nothing is sent while paused
    assert world.run(joined + timedelta(minutes=1)) == 0
    assert world.steps(customer) == [(0, "planned", None)]  # enrolled once, for g1 only
    # Then resumed, the step goes out
    world.app.sops.resume(sop_id, "staff:m", joined + timedelta(minutes=2))
    assert world.run(joined + timedelta(minutes=3)) == 1
    assert world.steps(customer)[0][1] == "sent"
    # and a step more than two days late after a pause is skipped, not sent
    late = world.friend(joined)
    world.app.ingestion.record_batch([EventItem("j-late", "GROUP_JOINED", _identity(world, late),
                                      joined, group_id="g1")], "service:test")
    world.app.sops.pause(sop_id, "staff:m", joined)
    world.app.sops.resume(sop_id, "staff:m", joined + timedelta(days=3))
    assert world.run(joined + timedelta(days=3)) == 1
    assert world.steps(late)[0][1:] == ("skipped", "LATE")


def test_a_group_sop_stops_for_a_customer_who_leaves_that_group(world: World) -> None:
    # Given a three-step sequence for customers joining g1, and two customers who joined it
    generous(world.app)
    world.app.sops.define("group", "staff:m", {"kind": "group_joined", "group_ids": ["g1"]},
                         STEPS, "staff:m", T0)
    leaver, stayer = world.friend(T0), world.friend(T0)
    world.app.ingestion.record_batch([EventItem(f"j-{n}", "GROUP_JOINED", _identity(world, c), T0,
                                      group_id="g1") for n, c in enumerate((leaver, stayer))],
                           "service:test")
    assert world.run(T0 + timedelta(minutes=1)) == 2
    # When one leaves another group, then g1
    world.app.ingestion.record_batch([EventItem(f"l-{g}", "GROUP_LEFT", _identity(world, leaver),
                                      T0 + timedelta(days=1), group_id=g)
                            for g in ("g2", "g1")], "service:test")
    world.caught_up()
    # Then their enrolment stops and the later steps are cancelled; the other's go on
    assert [s for _, s, _ in world.steps(leaver)] == ["sent", "cancelled", "cancelled"]
    assert world.rows("SELECT customer_id, state, stop_reason FROM sop_enrolment "
                      "ORDER BY state") == [
        {"customer_id": stayer, "state": "active", "stop_reason": None},
        {"customer_id": leaver, "state": "stopped", "stop_reason": "left_group"}]
    assert world.run(T0 + timedelta(days=3, minutes=1)) == 1
    [progress] = world.rows("SELECT stopped_left_group FROM sop_progress")
    assert progress["stopped_left_group"] == 1


def test_leaving_the_group_not_yet_projected_is_seen_at_send_time(world: World) -> None:
    # Given a due day-3 step of a group sequence; its customer left g1, unseen by the view
    generous(world.app)
    world.app.sops.define("group", "staff:m", {"kind": "group_joined", "group_ids": ["g1"]},
                         STEPS, "staff:m", T0)
    customer = world.friend(T0)
    world.app.ingestion.record_batch([EventItem("j", "GROUP_JOINED", _identity(world, customer), T0,
                                      group_id="g1")], "service:test")
    world.run(T0 + timedelta(minutes=1))
    world.now = T0 + timedelta(days=3, minutes=1)
    world.dispatcher.run_once()
    [(sop_runner, thread)] = [(r, t) for r, t in world.running if r.view.name == "sop"]
    sop_runner.stop()
    thread.join(timeout=5)
    world.app.ingestion.record_batch([EventItem("l", "GROUP_LEFT", _identity(world, customer),
                                      T0 + timedelta(days=2), group_id="g1")], "service:test")
    # When the message is delivered before the projection catches up
    for message in world.messages:
        send_steps(world.deps, parse(message))
    # Then the step is skipped, not sent
    BatchRunner(world.app, sop_runner.view, world.tracker).catch_up()
    assert len(world.gateway.sent) == 1
    assert world.steps(customer)[1][1:] == ("skipped", "LEFT_GROUP")


@dataclass
class SlowGateway(TaskGateway):
    """Holds each mass send a while, so that other workers decide meanwhile."""

    delay: float = 0.3
    entered: threading.Event = field(default_factory=threading.Event)

    def create_mass_send(self, sender: str, recipients: Sequence[str], text: str,
                         dedupe_key: str, chat_type: str = "single") -> MassSendTask:
        self.entered.set()
        time.sleep(self.delay)
        return super().create_mass_send(sender, recipients, text, dedupe_key)


def slow_deps(world: World, gateway: SlowGateway) -> SopDeps:
    return SopDeps(CampaignDeps(app=world.app, store=world.campaigns, gateway=gateway,
                                clock=lambda: world.now), world.store)


def test_caps_hold_when_two_workers_decide_steps_of_one_customer_at_once(world: World) -> None:
    # Given the default caps (1 WeCom message a day) and two SOPs welcoming new friends
    welcome_sop(world.app)
    world.app.sops.define("welcome again", "staff:m", {"kind": "friend_added"}, STEPS,
                         "staff:m", T0 - timedelta(days=1))
    customer = world.friend(T0)
    world.now = T0 + timedelta(minutes=1)
    world.caught_up()
    world.dispatcher.run_once()
    [chunk] = world.messages
    assert len(chunk) == 2
    # When two workers take one step each at the same time, each send slow
    gateway = SlowGateway()
    deps = slow_deps(world, gateway)
    start = threading.Barrier(2)

    def work(item: str) -> None:
        start.wait()
        send_steps(deps, parse([item]))

    threads = [threading.Thread(target=work, args=(i,)) for i in chunk]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    world.caught_up()
    # Then one is sent and the other is skipped by the daily cap
    first_steps = sorted((status, detail or "") for step, status, detail in world.steps(customer)
                         if step == 0)
    assert [s for s, _ in first_steps] == ["sent", "skipped"]
    assert first_steps[1][1] == "CAP_DAY"
    assert len(gateway.sent) == 1


def test_a_launch_counts_a_sop_step_still_being_sent(world: World) -> None:
    # Given the default caps, a welcome SOP and a campaign to friends
    welcome_sop(world.app)
    segment_id, _ = world.app.segments.define("friends", "", {"isFriend": True}, "staff:m", T0)
    customer = world.friend(T0)
    campaign_id, _ = world.app.campaigns.draft(
        "promo", "staff:m", "wecom_mass", segment_id, [{"variant_id": "a", "text": "sale"}],
        "staff:m", T0)
    world.now = T0 + timedelta(minutes=1)
    world.caught_up()
    world.dispatcher.run_once()
    [chunk] = world.messages
    # When a worker is sending the welcome (no outcome recorded yet) as the campaign launches
    gateway = SlowGateway(delay=1.0)
    sender = threading.Thread(target=send_steps, args=(slow_deps(world, gateway), parse(chunk)))
    sender.start()
    assert gateway.entered.wait(10)
    _, plan = launch(world.app, world.tracker, campaign_id, "staff:m",
                     T0 + timedelta(minutes=2))
    sender.join(timeout=10)
    # Then the launch counted the welcome: the customer is left out by the daily cap
    assert {d.customer_id: d.reason for d in plan.decisions} == {customer: "CAP_DAY"}
    world.caught_up()
    assert [s for step, s, _ in world.steps(customer) if step == 0] == ["sent"]
    assert len(gateway.sent) == 1
