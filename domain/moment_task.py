"""The ``MomentTask`` aggregate: an enterprise moment (企业发表到客户朋友圈) members are asked to post.

A manager plans a text for members (chosen one by one or by department) to post to their
customers' moments, optionally only to customers with some WeCom tags. WeCom carries it out
asynchronously (``add_moment_task`` → a job → a ``moment_id``), then each member posts it from
their client, or not. Lifecycle::

    planned ──submit──▶ submitting ──jobid──▶ submitted ──moment_id──▶ accepted
       ▲                    │  (busy: planned again)                    (members post)
       └────────────────────┤  (no answer: unknown → reconciled or submitted again)
                            └──refused──▶ refused          any open state ──▶ cancelled

A task cancelled while WeCom is creating it (submitting, submitted, unknown) is stopped once
the job finishes, as WeCom documents (``cancel_moment_task`` takes the moment id the job
yields): its job's answer is still recorded (``Submitted``, ``Accepted``: the moment to stop)
while it stays cancelled; if WeCom made none (refused, busy, none found when reconciling),
``CancelSettled`` says there is nothing to stop.

Each member's post is recorded once (``MemberPosted``); the staff member's
``Staff.MomentPosted`` (the moments KPI) is keyed by (staff, moment id), so a re-sync or a
redelivered message records nothing twice.

**The daily limit.** WeCom shows a customer at most :data:`PER_CUSTOMER_DAY` moments of the
corp a day (seed 004 cites the rule); a task is refused when some customer in its audience is
already in as many tasks of its business day (Asia/Shanghai) — :func:`check_daily_limit`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput, MomentDailyLimit, MomentTaskClosed

PER_CUSTOMER_DAY = 3
TEXT_MAX_BYTES = 2000  # WeCom: text.content at most 2,000 bytes
MAX_SENDERS = 10_000
PLANNED, SUBMITTING, SUBMITTED, ACCEPTED, UNKNOWN, REFUSED, CANCELLED = (
    "planned", "submitting", "submitted", "accepted", "unknown", "refused", "cancelled")


def check_text(text: str) -> str:
    content = text.strip()
    if not content:
        raise InvalidInput("content must not be empty", field="content")
    if len(content.encode()) > TEXT_MAX_BYTES:
        raise InvalidInput(f"content is at most {TEXT_MAX_BYTES} bytes (UTF-8)",
                           field="content")
    return content


def check_daily_limit(at_limit: int, audience: int) -> None:
    """Refuse a task when ``at_limit`` of its ``audience`` customers see the most already."""
    if at_limit:
        raise MomentDailyLimit(
            f"{at_limit} of the {audience} customers in range already see {PER_CUSTOMER_DAY} "
            "moments of the brand that day; narrow the members or tags, or plan another day",
            field="members")


class MomentTask(Aggregate):
    class Event(Aggregate.Event):
        by: str
        occurred_at: datetime

    class Planned(Aggregate.Created):
        """``members``: ``{staff_id, user_id}`` each (the WeCom UserIDs asked to post);
        ``tags`` the platform's, ``wecom_tag_ids`` the same tags' WeCom ids (v2; in v1 the
        tags were given as WeCom tag ids)."""

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["wecom_tag_ids"] = list(state["tags"])

        content: str
        members: list[dict[str, str]]
        tags: list[str]
        wecom_tag_ids: list[str]
        day: str  # the business day (ISO date, Asia/Shanghai) the task is for
        audience: int
        by: str
        occurred_at: datetime

    class SubmissionStarted(Event):
        attempt: int

    class SubmissionDeferred(Event):
        """WeCom did not take it (busy, rate limit): planned again."""

        reason: str

    class Submitted(Event):
        jobid: str

    class OutcomeUnknown(Event):
        """No answer to ``add_moment_task``: it may exist. Reconciled before any resubmission."""

        reason: str

    class Accepted(Event):
        moment_id: str
        invalid_user_ids: list[str]

    class Refused(Event):
        reason: str

    class MemberPosted(Event):
        staff_id: str
        user_id: str

    class Cancelled(Event):
        """Cancelled by a manager: members who have not posted cannot any more."""

    class StoppedAtWeCom(Event):
        """``cancel_moment_task`` answered: WeCom stopped the task."""

    class CancelSettled(Event):
        """Cancelled while WeCom was creating it, and WeCom made no moment: nothing to stop."""

        reason: str

    @classmethod
    def plan(cls, content: str, members: list[dict[str, str]], tags: list[str], day: date,
             audience: int, by: str, occurred_at: datetime,
             wecom_tag_ids: list[str] | None = None) -> MomentTask:
        if not members:
            raise InvalidInput("a moment task needs at least one member", field="members")
        if len(members) > MAX_SENDERS:
            raise InvalidInput(f"at most {MAX_SENDERS} members", field="members")
        return cls._create(cls.Planned, content=check_text(content), members=members,
                           tags=sorted(set(tags)), day=day.isoformat(), audience=audience, by=by,
                           occurred_at=occurred_at, wecom_tag_ids=sorted(set(
                               tags if wecom_tag_ids is None else wecom_tag_ids)))

    @event(Planned)
    def __init__(self, content: str, members: list[dict[str, str]], tags: list[str],
                 day: str, audience: int, by: str, occurred_at: datetime,
                 wecom_tag_ids: list[str]) -> None:
        self.content = content
        self.members = members
        self.tags = tags
        self.wecom_tag_ids = wecom_tag_ids
        self.day = day
        self.status = PLANNED
        self.attempts = 0
        self.attempted_at: datetime | None = None
        self.jobid: str | None = None
        self.moment_id: str | None = None
        self.posted: dict[str, str] = {}  # user id -> staff id
        self.stopped = False
        self.cancelled_creating = False  # cancelled while WeCom was creating it

    @property
    def awaiting_wecom(self) -> bool:
        """Cancelled while WeCom was creating it, and its job's outcome not known yet."""
        return self.status == CANCELLED and self.cancelled_creating \
            and self.moment_id is None and not self.stopped

    def staff_of(self, user_id: str) -> str | None:
        return next((m["staff_id"] for m in self.members if m["user_id"] == user_id), None)

    # == commands (each a no-op when it changes nothing) ======================================
    def start_submission(self, by: str, occurred_at: datetime) -> None:
        if self.status not in (PLANNED, UNKNOWN):
            raise MomentTaskClosed(f"a {self.status} task is not submitted", field="id")
        self._start(attempt=self.attempts + 1, by=by, occurred_at=occurred_at)

    def defer(self, reason: str, by: str, occurred_at: datetime) -> None:
        if self.status == SUBMITTING:
            self._defer(reason=reason, by=by, occurred_at=occurred_at)
        elif self.awaiting_wecom and self.jobid is None:  # WeCom did not take it
            self._settle_cancel(reason=reason, by=by, occurred_at=occurred_at)

    def submitted(self, jobid: str, by: str, occurred_at: datetime) -> bool:
        if self.status not in (SUBMITTING, UNKNOWN) \
                and not (self.awaiting_wecom and self.jobid is None):
            return False
        self._submitted(jobid=jobid, by=by, occurred_at=occurred_at)
        return True

    def unknown(self, reason: str, by: str, occurred_at: datetime) -> None:
        if self.status == SUBMITTING:
            self._unknown(reason=reason, by=by, occurred_at=occurred_at)

    def accept(self, moment_id: str, invalid: list[str], by: str, occurred_at: datetime
               ) -> bool:
        if self.status not in (SUBMITTING, SUBMITTED, UNKNOWN) and not self.awaiting_wecom:
            return False
        self._accept(moment_id=moment_id, invalid_user_ids=sorted(invalid), by=by,
                     occurred_at=occurred_at)
        return True

    def refuse(self, reason: str, by: str, occurred_at: datetime) -> bool:
        if self.awaiting_wecom:
            self._settle_cancel(reason=reason, by=by, occurred_at=occurred_at)
            return True
        if self.status not in (SUBMITTING, SUBMITTED):
            return False
        self._refuse(reason=reason, by=by, occurred_at=occurred_at)
        return True

    def nothing_to_stop(self, reason: str, by: str, occurred_at: datetime) -> bool:
        """Cancelled while being created, and WeCom has no moment of it (none found)."""
        if not self.awaiting_wecom:
            return False
        self._settle_cancel(reason=reason, by=by, occurred_at=occurred_at)
        return True

    def member_posted(self, user_id: str, by: str, occurred_at: datetime) -> str | None:
        """Record a member's post; their staff id, or None if recorded before / not theirs."""
        staff_id = self.staff_of(user_id)
        if staff_id is None or user_id in self.posted or self.moment_id is None:
            return None
        self._posted(staff_id=staff_id, user_id=user_id, by=by, occurred_at=occurred_at)
        return staff_id

    def cancel(self, by: str, occurred_at: datetime) -> bool:
        """Cancel a task WeCom has not been asked for yet, is creating (stopped once its job
        finishes) or has created (the worker then stops it there, ``cancel_moment_task``)."""
        if self.status == CANCELLED:
            return False
        if self.status not in (PLANNED, SUBMITTING, SUBMITTED, UNKNOWN, ACCEPTED):
            raise MomentTaskClosed(f"a {self.status} task cannot be cancelled now",
                                   field="id")
        self._cancel(by=by, occurred_at=occurred_at)
        return True

    def stopped_at_wecom(self, by: str, occurred_at: datetime) -> bool:
        if self.status != CANCELLED or self.moment_id is None or self.stopped:
            return False
        self._stopped(by=by, occurred_at=occurred_at)
        return True

    # == events: assign state only =========================================================
    @event(SubmissionStarted)
    def _start(self, attempt: int, by: str, occurred_at: datetime) -> None:
        self.status, self.attempts, self.attempted_at = SUBMITTING, attempt, occurred_at

    @event(SubmissionDeferred)
    def _defer(self, reason: str, by: str, occurred_at: datetime) -> None:
        self.status = PLANNED

    @event(Submitted)
    def _submitted(self, jobid: str, by: str, occurred_at: datetime) -> None:
        self.jobid = jobid
        if self.status != CANCELLED:
            self.status = SUBMITTED

    @event(OutcomeUnknown)
    def _unknown(self, reason: str, by: str, occurred_at: datetime) -> None:
        self.status = UNKNOWN

    @event(Accepted)
    def _accept(self, moment_id: str, invalid_user_ids: list[str], by: str,
                occurred_at: datetime) -> None:
        self.moment_id = moment_id
        if self.status != CANCELLED:
            self.status = ACCEPTED

    @event(Refused)
    def _refuse(self, reason: str, by: str, occurred_at: datetime) -> None:
        self.status = REFUSED

    @event(MemberPosted)
    def _posted(self, staff_id: str, user_id: str, by: str, occurred_at: datetime) -> None:
        self.posted[user_id] = staff_id

    @event(Cancelled)
    def _cancel(self, by: str, occurred_at: datetime) -> None:
        self.cancelled_creating = self.status in (SUBMITTING, SUBMITTED, UNKNOWN)
        self.status = CANCELLED

    @event(CancelSettled)
    def _settle_cancel(self, reason: str, by: str, occurred_at: datetime) -> None:
        self.stopped = True

    @event(StoppedAtWeCom)
    def _stopped(self, by: str, occurred_at: datetime) -> None:
        self.stopped = True
