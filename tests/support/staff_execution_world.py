"""The execution part of the KPI truth test's month: marketing tasks (assigned, reassigned,
completed, cancelled, one assignment retried) and two WeCom mass-send campaigns (tasks per
sender, confirmed or expired), with what the straightforward recomputation needs."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Any
from uuid import UUID, uuid4

from application.app import Siyu
from application.campaigns import SendOutcome
from domain.marketing_task import task_id
from domain.restraint import Decision
from projections.staff_performance import business_day

CONFIRMED = ("sent", "not_friend", "quota_exceeded")


@dataclass
class Task:
    key: str
    staff: int
    due: datetime
    assigned_at: datetime
    moved_to: int | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None


@dataclass
class MassSend:
    """One campaign: its owner, cost, launch, and per sender one WeCom task."""

    owner: int
    cost_fen: int
    launched_at: datetime
    recipients: dict[int, int] = field(default_factory=dict)  # customer -> sender
    statuses: dict[int, str] = field(default_factory=dict)  # customer -> final status
    campaign_id: UUID | None = None

    @property
    def sent_at(self) -> datetime:
        return self.launched_at + timedelta(hours=1)


@dataclass
class Execution:
    tasks: list[Task] = field(default_factory=list)
    campaigns: list[MassSend] = field(default_factory=list)


def generate_execution(staff: int, start: datetime, end: datetime, seed: int = 11
                       ) -> Execution:
    rng = random.Random(seed)
    out = Execution()
    for s in range(staff):
        for k in range(rng.randrange(5)):
            due = start + timedelta(days=rng.uniform(1, 35))  # some due in December
            task = Task(f"task-{s}-{k}", s, due, due - timedelta(days=rng.uniform(0.5, 5)))
            if rng.random() < 0.2:
                task.moved_to = (s + 1 + rng.randrange(staff - 1)) % staff
            roll = rng.random()
            if roll < 0.6:  # completed, sometimes late, sometimes early or in December
                task.completed_at = task.assigned_at + timedelta(
                    days=rng.uniform(0.1, (due - task.assigned_at).days + 3))
            elif roll < 0.75:
                task.cancelled_at = task.assigned_at + timedelta(hours=rng.uniform(1, 30))
            out.tasks.append(task)
    out.campaigns = [MassSend(0, 50_000, start + timedelta(days=10, hours=3)),
                     MassSend(17, 80_000, start + timedelta(days=20, hours=5)),
                     MassSend(0, 10_000, end + timedelta(days=3))]  # December: not counted
    return out


def assign_tasks(app: Siyu, staff_ids: list[str], execution: Execution) -> None:
    for task in execution.tasks:
        app.marketing_tasks.assign(task.key, f"Task {task.key}", "moments_post",
                                  UUID(staff_ids[task.staff]), task.due, "staff:m",
                                  task.assigned_at)
    first = execution.tasks[0]  # a client retrying an assignment records nothing
    _, again = app.marketing_tasks.assign(first.key, f"Task {first.key}", "moments_post",
                                         UUID(staff_ids[first.staff]), first.due, "staff:m",
                                         first.assigned_at)
    assert again is None


def change_tasks(app: Siyu, staff_ids: list[str], execution: Execution) -> None:
    for task in execution.tasks:
        tid = task_id(task.key)
        assignee = task.staff
        if task.moved_to is not None:
            app.marketing_tasks.reassign(tid, UUID(staff_ids[task.moved_to]), "staff:m",
                                        task.assigned_at + timedelta(minutes=30))
            assignee = task.moved_to
        if task.completed_at is not None:
            app.marketing_tasks.complete(tid, UUID(staff_ids[assignee]), 3, ["moment:x"],
                                        f"staff:{staff_ids[assignee]}", task.completed_at)
        if task.cancelled_at is not None:
            app.marketing_tasks.cancel(tid, "plan changed", "staff:m", task.cancelled_at)


def run_campaign(app: Siyu, rng: random.Random, staff_ids: list[str],
                 customer_ids: dict[int, UUID], friends: dict[int, int], campaign: MassSend,
                 record_deliveries: bool = True) -> None:
    """Draft, launch to 300 customers (sender: the given friend), one task per sender."""
    campaign.campaign_id, _ = app.campaigns.draft(
        "Double 12", f"staff:{staff_ids[campaign.owner]}", "wecom_mass", uuid4(),
        [{"variant_id": "v1", "text": "hi", "weight": 1, "lifecycles": []}], "staff:m",
        campaign.launched_at, cost_fen=campaign.cost_fen)
    audience = rng.sample(sorted(friends), 300)
    campaign.recipients = {c: friends[c] for c in audience}
    app.campaigns.launch(campaign.campaign_id, campaign.launched_at, [
        Decision(customer_ids[c], True, variant_id="v1", send_at=campaign.launched_at,
                 sender=staff_ids[s]) for c, s in sorted(campaign.recipients.items())],
        "staff:m", campaign.launched_at)
    app.campaigns.record_send_outcomes([
        SendOutcome(campaign.campaign_id, customer_ids[c], 0, "wecom_mass", "v1", True,
                    f"task-{campaign.campaign_id}-{s}") for c, s in campaign.recipients.items()],
        campaign.sent_at)
    confirmed = {s: rng.random() < 0.7 for s in set(campaign.recipients.values())}
    for c, s in campaign.recipients.items():
        campaign.statuses[c] = rng.choice(("sent", "sent", "not_friend", "quota_exceeded")
                                          ) if confirmed[s] else "expired"
    if record_deliveries:
        deliver(app, customer_ids, campaign)


def deliver(app: Siyu, customer_ids: dict[int, UUID], campaign: MassSend) -> None:
    assert campaign.campaign_id is not None
    app.campaigns.record_deliveries(campaign.campaign_id, 0, {
        customer_ids[c]: status for c, status in campaign.statuses.items()},
        campaign.sent_at + timedelta(days=1))


def execution_days(execution: Execution) -> dict[tuple[int, date], Counter[str]]:
    """The execution counters per (staff, day), straight from what was done."""
    days: dict[tuple[int, date], Counter[str]] = {}

    def add(s: int, at: datetime, counter: str) -> None:
        days.setdefault((s, business_day(at)), Counter())[counter] += 1

    for task in execution.tasks:
        assignee = task.staff if task.moved_to is None else task.moved_to
        if task.cancelled_at is None:
            add(assignee, task.due, "marketing_tasks_assigned")
        if task.completed_at is not None:
            add(assignee, task.completed_at, "marketing_tasks_completed")
    for campaign in execution.campaigns:
        for sender in set(campaign.recipients.values()):
            add(sender, campaign.sent_at, "campaign_tasks_created")
            if any(campaign.statuses[c] in CONFIRMED
                   for c, s in campaign.recipients.items() if s == sender):
                add(sender, campaign.sent_at, "campaign_sends_confirmed")
    return days


def rate(part: int, whole: int) -> Fraction | None:
    """The exact ratio (the rollup does not round: compare with :func:`same_kpis`)."""
    if not whole:
        return None
    return Fraction(part, whole)


def same_kpis(got: dict[str, Any], want: dict[str, Any]) -> None:
    """``got`` (the rollup) equals ``want``: exact ratios within numeric division's 1e-15."""
    for name, expected in want.items():
        value = got[name]
        if isinstance(expected, Fraction):
            assert value is not None and abs(Fraction(value) - expected) < Fraction(1, 10**15), (
                name, value, expected)
        else:
            assert value == expected, (name, value, expected)


def roi_truth(execution: Execution, owners: set[int], first: datetime, last: datetime,
              orders: list[tuple[int, datetime, int]]) -> dict[str, Any]:
    """Cost and attributed GMV (paid orders within 7 days of the send) of the campaigns
    launched in [first, last) by ``owners``."""
    mine = [c for c in execution.campaigns if c.owner in owners and first <= c.launched_at < last]
    cost = sum(c.cost_fen for c in mine)
    gmv = sum(amount for c in mine for customer, at, amount in orders
              if customer in c.recipients and c.sent_at <= at < c.sent_at + timedelta(days=7))
    return {"campaign_cost_fen": cost, "campaign_gmv_fen": gmv, "roi": rate(gmv, cost)}
