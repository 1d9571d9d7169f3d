"""Execution KPIs of ``staff_daily_performance``: marketing tasks and WeCom mass-send tasks.

Called by :class:`projections.staff_performance.StaffPerformanceView` inside its page
transaction; adds to the page's ``(staff, day)`` counter deltas.

**Marketing tasks** (:mod:`domain.marketing_task`), folded into ``staff_kpi_task``:

* ``marketing_tasks_assigned`` is credited to the assignee on the task's **due day**
  (the period the work is due in, so a month's figure is "tasks due this month");
  a reassignment moves it to the new assignee, a cancellation takes it away (a cancelled
  task was not the member's to do);
* ``marketing_tasks_completed`` is credited to the assignee on the **completion day**.

**WeCom mass-send tasks** (one per sender and chunk, which the staff member must confirm
in WeCom): the planned recipients' senders are kept in ``staff_kpi_campaign_recipient``
(from ``Campaign.RecipientsPlanned``), a ``CampaignMessageSent`` on channel
``wecom_mass`` names the task (its ``gateway_message_id``) and creates it in
``staff_kpi_campaign_task`` for the sender, the first ``CampaignMessageDelivered`` of a
recipient that left the pending state (``sent``, ``not_friend``, ``quota_exceeded``;
``expired`` means never confirmed) confirms it. Both ``campaign_tasks_created`` and
``campaign_sends_confirmed`` are credited to the sender on the day the task was
**created**, so the execution rate of any range is the share of that range's tasks
that were confirmed (at most 1).

Every step is idempotent (state versions, ``ON CONFLICT DO NOTHING``, ``WHERE … IS
NULL``), and the result does not depend on page boundaries.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg.rows import DictRow

from domain.campaign import Campaign
from domain.customer import Customer
from domain.marketing_task import CANCELLED, COMPLETED, OPEN, MarketingTask
from domain.working_time import business_day as _day
from projections.postgres_views import upsert_rows

Deltas = dict[tuple[str, date], Counter[str]]
Credit = tuple[str, date, str, int]  # staff, day, counter, change
CONFIRMED = ("sent", "not_friend", "quota_exceeded")
TASK_EVENTS: tuple[type[Any], ...] = (MarketingTask.Assigned, MarketingTask.Reassigned,
                                       MarketingTask.Completed, MarketingTask.Cancelled)
CAMPAIGN_EVENTS: tuple[type[Any], ...] = (
    Campaign.RecipientsPlanned, Customer.CampaignMessageSent, Customer.CampaignMessageDelivered)


@dataclass(frozen=True, slots=True)
class TaskCredit:
    """What the view remembers of a marketing task to credit its changes."""

    staff_id: str
    due_day: date
    status: str
    version: int


def credit_task(state: TaskCredit | None, event: Any
                ) -> tuple[TaskCredit | None, list[Credit]]:
    """Fold one task event: the new state and the counter changes it causes."""
    if isinstance(event, MarketingTask.Assigned):
        if state is not None:
            return state, []
        due = _day(event.due_at)
        return (TaskCredit(event.staff_id, due, OPEN, event.originator_version),
                [(event.staff_id, due, "marketing_tasks_assigned", 1)])
    if state is None or event.originator_version <= state.version:
        return state, []
    moved = replace(state, version=event.originator_version)
    if isinstance(event, MarketingTask.Reassigned):
        return replace(moved, staff_id=event.staff_id), [
            (state.staff_id, state.due_day, "marketing_tasks_assigned", -1),
            (event.staff_id, state.due_day, "marketing_tasks_assigned", 1)]
    if isinstance(event, MarketingTask.Completed):
        return replace(moved, status=COMPLETED), [
            (state.staff_id, _day(event.occurred_at), "marketing_tasks_completed", 1)]
    if isinstance(event, MarketingTask.Cancelled):
        return replace(moved, status=CANCELLED), [
            (state.staff_id, state.due_day, "marketing_tasks_assigned", -1)]
    return moved, []


def marketing_tasks(curs: Cursor[DictRow], events: Sequence[tuple[int, Any]],
                    deltas: Deltas) -> bool:
    """Fold the page's task events into ``staff_kpi_task``; whether any counter changed."""
    relevant = [e for _, e in events if isinstance(e, TASK_EVENTS)]
    if not relevant:
        return False
    ids = sorted({e.originator_id for e in relevant})
    curs.execute("SELECT * FROM staff_kpi_task WHERE task_id = ANY(%s) FOR UPDATE", (ids,))
    states: dict[UUID, TaskCredit | None] = {
        r["task_id"]: TaskCredit(r["staff_id"], r["due_day"], r["status"], r["last_version"])
        for r in curs.fetchall()}
    changed = False
    for event in relevant:
        states[event.originator_id], credits = credit_task(states.get(event.originator_id),
                                                           event)
        for staff, day, counter, change in credits:
            deltas[(staff, day)][counter] += change
            changed = True
    upsert_rows(curs, "staff_kpi_task", "task_id", [
        {"task_id": tid, "staff_id": s.staff_id, "due_day": s.due_day, "status": s.status,
         "last_version": s.version} for tid, s in sorted(states.items()) if s is not None])
    return changed


def campaign_tasks(curs: Cursor[DictRow], events: Sequence[tuple[int, Any]],
                   deltas: Deltas) -> bool:
    """Senders, WeCom tasks created and confirmed; whether any counter changed."""
    planned = [[UUID(r[0]), r[3], e.originator_id] for _, e in events
               if isinstance(e, Campaign.RecipientsPlanned) for r in e.recipients if r[3]]
    if planned:
        curs.execute(
            "INSERT INTO staff_kpi_campaign_recipient (campaign_id, customer_id, sender) "
            "SELECT * FROM unnest(%s::uuid[], %s::uuid[], %s::text[]) ON CONFLICT DO NOTHING",
            ([p[2] for p in planned], [p[0] for p in planned], [p[1] for p in planned]))
    changed = _created(curs, [(n, e) for n, e in events
                              if isinstance(e, Customer.CampaignMessageSent)
                              and e.channel == "wecom_mass" and e.step == 0], deltas)
    confirmed = [e for _, e in events if isinstance(e, Customer.CampaignMessageDelivered)
                 and e.step == 0 and e.status in CONFIRMED]
    if confirmed:
        curs.execute(
            "UPDATE staff_kpi_campaign_task t SET confirmed_at = c.at FROM (SELECT DISTINCT ON "
            "(r.campaign_id, r.task_id) r.campaign_id, r.task_id, x.at FROM unnest(%s::uuid[], "
            "%s::uuid[], %s::timestamptz[], %s::bigint[]) AS x(c, u, at, n) "
            "JOIN staff_kpi_campaign_recipient r ON r.campaign_id = x.c AND r.customer_id = x.u "
            "WHERE r.task_id IS NOT NULL ORDER BY r.campaign_id, r.task_id, x.n) c "
            "WHERE t.campaign_id = c.campaign_id AND t.task_id = c.task_id "
            "AND t.confirmed_at IS NULL RETURNING t.staff_id, t.day",
            ([_uuid(e.campaign_id) for e in confirmed], [e.originator_id for e in confirmed],
             [e.occurred_at for e in confirmed], list(range(len(confirmed)))))
        for row in curs.fetchall():
            deltas[(row["staff_id"], row["day"])]["campaign_sends_confirmed"] += 1
            changed = True
    return changed


def _created(curs: Cursor[DictRow], sent: Sequence[tuple[int, Any]], deltas: Deltas) -> bool:
    if not sent:
        return False
    curs.execute(
        "WITH x(c, u, k, at, n) AS (SELECT * FROM unnest(%s::uuid[], %s::uuid[], %s::text[], "
        "%s::timestamptz[], %s::bigint[])), "
        "named AS (UPDATE staff_kpi_campaign_recipient r SET task_id = x.k FROM x "
        "  WHERE r.campaign_id = x.c AND r.customer_id = x.u AND r.task_id IS NULL "
        "  RETURNING r.campaign_id, r.task_id, r.sender, x.at, x.n), "
        "first AS (SELECT DISTINCT ON (campaign_id, task_id) * FROM named "
        "  ORDER BY campaign_id, task_id, n) "
        "INSERT INTO staff_kpi_campaign_task (campaign_id, task_id, staff_id, created_at, day) "
        "SELECT campaign_id, task_id, sender, at, (at AT TIME ZONE 'Asia/Shanghai')::date "
        "FROM first ON CONFLICT DO NOTHING RETURNING staff_id, day",
        ([_uuid(e.campaign_id) for _, e in sent], [e.originator_id for _, e in sent],
         [e.gateway_message_id for _, e in sent], [e.occurred_at for _, e in sent],
         [n for n, _ in sent]))
    rows = curs.fetchall()
    for row in rows:
        deltas[(row["staff_id"], row["day"])]["campaign_tasks_created"] += 1
    return bool(rows)


def _uuid(value: str) -> UUID | None:
    try:
        return UUID(value)
    except ValueError:
        return None
