"""The ``MarketingTask`` aggregate: a marketing task (营销任务) assigned to a staff member.

A manager, or the system for a campaign, assigns a task — post to moments, message a
group, follow up one by one, confirm a WeCom campaign task, … — to one staff member with
a due time, optionally for a campaign, a segment and a target count. The staff member
completes it (with how many were done and references to the evidence: moment ids, task
ids, never free text), or it is cancelled; it is **overdue** while open past its due
time (derived when read, never an event). An open task can be reassigned to another
member; who had it before is kept.

The task's id derives from its **assignment key** (chosen by the client, e.g.
``campaign:<id>:<staff>`` or a console's form id), so an assignment retried after a lost
answer records one task; the same key with other contents is refused.

States: ``open`` → ``completed`` | ``cancelled``. Completing or cancelling again is a
no-op; completing a cancelled task (or cancelling, reassigning a closed one) is refused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError, InvalidInput

_NS = uuid5(NAMESPACE_URL, "https://siyu.invalid/marketing-task")

KINDS = frozenset({"moments_post", "group_message", "follow_up", "campaign_confirmation",
                   "holiday_greeting"})
OPEN, COMPLETED, CANCELLED = "open", "completed", "cancelled"
TITLE_MAX, REASON_MAX, EVIDENCE_MAX, REF_MAX, KEY_MAX = 120, 200, 50, 128, 200
COUNT_MAX = 1_000_000
_REF = re.compile(r"^[A-Za-z0-9_.:@/-]+$")


class UnknownMarketingTask(DomainError):
    code = "UNKNOWN_MARKETING_TASK"


class MarketingTaskClosed(DomainError):
    """The task is completed or cancelled: it cannot change any more."""

    code = "MARKETING_TASK_CLOSED"


class NotYourTask(DomainError):
    code = "NOT_YOUR_TASK"


class AssignmentKeyReused(DomainError):
    """The assignment key names a task assigned with other contents."""

    code = "ASSIGNMENT_KEY_REUSED"


def task_id(assignment_key: str) -> UUID:
    return uuid5(_NS, assignment_key)


def check_assignment(assignment_key: str, title: str, kind: str, target_count: int | None
                     ) -> tuple[str, str]:
    """The stripped key and title, or a typed error naming the field at fault."""
    key, label = assignment_key.strip(), title.strip()
    if not key or len(key) > KEY_MAX:
        raise InvalidInput(f"assignmentKey must be 1-{KEY_MAX} characters",
                           field="assignmentKey")
    if not label or len(label) > TITLE_MAX:
        raise InvalidInput(f"title must be 1-{TITLE_MAX} characters", field="title")
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of {sorted(KINDS)}", field="kind")
    if target_count is not None and not 1 <= target_count <= COUNT_MAX:
        raise InvalidInput(f"targetCount must be 1 to {COUNT_MAX}", field="targetCount")
    return key, label


def check_evidence(evidence: Sequence[str]) -> list[str]:
    refs = [r.strip() for r in evidence]
    if len(refs) > EVIDENCE_MAX:
        raise InvalidInput(f"at most {EVIDENCE_MAX} evidence references", field="evidence")
    for ref in refs:
        if not 1 <= len(ref) <= REF_MAX or not _REF.match(ref):
            raise InvalidInput(f"evidence references are ids of 1-{REF_MAX} letters, digits "
                               "or _.:@/-", field="evidence")
    return sorted(set(refs))


class MarketingTask(Aggregate):
    class Event(Aggregate.Event):
        by: str
        occurred_at: datetime

    class Assigned(Aggregate.Created):
        """``staff_id``: the assignee; ``campaign_id`` / ``segment_id``: what it serves."""

        assignment_key: str
        title: str
        kind: str
        staff_id: str
        due_at: datetime
        campaign_id: str | None
        segment_id: str | None
        target_count: int | None
        by: str
        occurred_at: datetime

    class Reassigned(Event):
        staff_id: str
        previous_staff_id: str

    class Completed(Event):
        """``staff_id``: the assignee who completed it; ``completed_count``: how many done."""

        staff_id: str
        completed_count: int | None
        evidence: list[str]

    class Cancelled(Event):
        reason: str

    @classmethod
    def assign(cls, assignment_key: str, title: str, kind: str, staff_id: str,
               due_at: datetime, by: str, occurred_at: datetime, *,
               campaign_id: str | None = None, segment_id: str | None = None,
               target_count: int | None = None) -> MarketingTask:
        key, label = check_assignment(assignment_key, title, kind, target_count)
        if due_at.tzinfo is None:
            raise InvalidInput("dueAt needs a time zone", field="dueAt")
        return cls._create(cls.Assigned, id=task_id(key), assignment_key=key, title=label,
                           kind=kind, staff_id=staff_id, due_at=due_at,
                           campaign_id=campaign_id, segment_id=segment_id,
                           target_count=target_count, by=by, occurred_at=occurred_at)

    @event(Assigned)
    def __init__(self, assignment_key: str, title: str, kind: str, staff_id: str,
                 due_at: datetime, campaign_id: str | None, segment_id: str | None,
                 target_count: int | None, by: str, occurred_at: datetime) -> None:
        self.assignment_key = assignment_key
        self.title = title
        self.kind = kind
        self.staff_id = staff_id
        self.due_at = due_at
        self.campaign_id = campaign_id
        self.segment_id = segment_id
        self.target_count = target_count
        self.status = OPEN

    def same_assignment(self, other: MarketingTask) -> bool:
        """Whether ``other`` (a fresh assignment with this key) asks for this task."""
        fields = ("title", "kind", "staff_id", "due_at", "campaign_id", "segment_id",
                  "target_count")
        mine: dict[str, Any] = {f: getattr(self, f) for f in fields}
        theirs: dict[str, Any] = {f: getattr(other, f) for f in fields}
        if self.staff_id != other.staff_id and self.version > 1:
            theirs["staff_id"] = mine["staff_id"]  # reassigned since: still the same task
        return mine == theirs

    # == commands ==========================================================================
    def reassign(self, staff_id: str, by: str, occurred_at: datetime) -> bool:
        self._refuse_if_closed()
        if staff_id == self.staff_id:
            return False
        self._reassign(staff_id=staff_id, previous_staff_id=self.staff_id, by=by,
                       occurred_at=occurred_at)
        return True

    def complete(self, staff_id: str | None, completed_count: int | None,
                 evidence: Sequence[str], by: str, occurred_at: datetime) -> bool:
        """Complete as ``staff_id`` (None: on the assignee's behalf, a service)."""
        if staff_id is not None and staff_id != self.staff_id:
            raise NotYourTask("this task is assigned to another staff member", field="taskId")
        if self.status == COMPLETED:
            return False
        self._refuse_if_closed()
        if completed_count is not None and not 0 <= completed_count <= COUNT_MAX:
            raise InvalidInput(f"completedCount must be 0 to {COUNT_MAX}",
                               field="completedCount")
        self._complete(staff_id=self.staff_id, completed_count=completed_count,
                       evidence=check_evidence(evidence), by=by, occurred_at=occurred_at)
        return True

    def cancel(self, reason: str, by: str, occurred_at: datetime) -> bool:
        if len(reason.strip()) > REASON_MAX:
            raise InvalidInput(f"reason must be at most {REASON_MAX} characters", field="reason")
        if self.status == CANCELLED:
            return False
        self._refuse_if_closed()
        self._cancel(reason=reason.strip(), by=by, occurred_at=occurred_at)
        return True

    def _refuse_if_closed(self) -> None:
        if self.status != OPEN:
            raise MarketingTaskClosed(f"the task is {self.status}", field="taskId")

    # == events ============================================================================
    @event(Reassigned)
    def _reassign(self, staff_id: str, previous_staff_id: str, by: str,
                  occurred_at: datetime) -> None:
        self.staff_id = staff_id

    @event(Completed)
    def _complete(self, staff_id: str, completed_count: int | None, evidence: list[str],
                  by: str, occurred_at: datetime) -> None:
        self.status = COMPLETED

    @event(Cancelled)
    def _cancel(self, reason: str, by: str, occurred_at: datetime) -> None:
        self.status = CANCELLED
