"""Moments (朋友圈) with WeCom: submit planned tasks, follow them, and record every post.

:class:`MomentSync` polls the ``moment_task`` read model and calls WeCom outside any
transaction, recording each answer on the task (:class:`domain.moment_task.MomentTask`):

* **planned** — ``SubmissionStarted`` is recorded *before* ``add_moment_task`` (the intent);
  the answer is recorded as ``Submitted`` (a job id), ``Refused``, ``SubmissionDeferred``
  (busy: planned again) or ``OutcomeUnknown`` (no answer: WeCom may have created it).
* **submitting / unknown** (a crash after the intent, or no answer) — *reconciled*, never
  submitted blindly: once :data:`RECONCILE_AFTER` has passed (WeCom creates the moment in the
  background), the enterprise moments created since the attempt are listed
  (``get_moment_list``) and one with the task's text that no other task holds is adopted
  (``Accepted``); only when none is found is the task submitted again.
* **submitted** — ``get_moment_task_result`` until the job is done: ``Accepted`` (moment id,
  invalid members) or ``Refused``.
* **accepted** — ``get_moment_task`` every :data:`POLL_EVERY` (least recently polled first, in
  the internal ``moment_task_poll``) for :data:`FOLLOW_DAYS` days: each member WeCom reports
  as posted is recorded once (``MemberPosted`` and ``Staff.MomentPosted``, the moments KPI).
* **cancelled** after WeCom created it — ``cancel_moment_task``, then ``StoppedAtWeCom``;
  cancelled **while** WeCom created it — its job is followed to the end (or, unanswered, the
  moment looked for by listing, never submitted again), then the moment stopped; WeCom made
  none: ``CancelSettled``.
A task planned for a later day waits for that day (Asia/Shanghai).

It also lists members' **own** moments (``create_type`` 1) of the last :data:`OWN_WINDOW`
(every :data:`OWN_EVERY`) and records each as ``Staff.MomentPosted`` at its ``create_time``; the event key
``moment:<staff>:<moment id>`` makes every repetition a no-op.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg

from adapters.contact_ways import Answer
from adapters.moment_client import ENTERPRISE, PERSONAL, MomentAnswer, MomentGateway
from application.app import Siyu
from application.staff import moment_key
from domain.errors import DomainError
from domain.moment_task import MomentTask
from domain.working_time import business_day
from projections.moments import queries
from workers.lent import Connect
from workers.polling import PollingLoop

log = logging.getLogger(__name__)

BY = "system"
RECONCILE_AFTER = timedelta(minutes=2)
RECONCILE_MARGIN = timedelta(minutes=5)  # list moments created this long before (clock skew)
FOLLOW_DAYS = 30
POLL_EVERY = timedelta(minutes=5)  # an accepted task's members are polled this often
OWN_WINDOW = timedelta(days=2)
OWN_EVERY = timedelta(minutes=10)  # members' own posts: listed this often (WeCom rate limits)


class MomentSync(PollingLoop):
    name = "moment sync"

    def __init__(self, app: Siyu, connect: Connect, gateway: MomentGateway, *,
                 poll_interval: float = 30.0, batch_size: int = 50,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        super().__init__(poll_interval, batch_size)
        self.app = app
        self.connect = connect
        self.gateway = gateway
        self.clock = clock
        self._own_listed: datetime | None = None

    def run_once(self) -> int:
        now = self.clock()
        with self.connect() as conn:
            work = queries.open_tasks(conn, business_day(now), now - timedelta(days=FOLLOW_DAYS),
                                      now - POLL_EVERY, self.batch_size)
            done = 0
            for row in work:
                try:
                    done += self._sync(conn, row["task_id"], row["status"])
                except DomainError as error:  # the read model was behind the task
                    log.info("moment task %s: %s", row["task_id"], error.code)
            return done + self._own_posts(conn, now)

    def _sync(self, conn: psycopg.Connection[Any], task_id: UUID, status: str) -> int:
        task = self.app.moments.task(task_id)
        if task.status != status:
            return 0  # the read model is behind: next pass
        if status == "planned":
            return self._submit(task_id)
        if status in ("submitting", "unknown"):
            return self._reconcile(conn, task)
        if status == "submitted" and task.jobid:
            return self._poll_job(task)
        if status == "cancelled" and task.awaiting_wecom:
            return self._finish_creating(conn, task)
        if status == "cancelled" and task.moment_id and not task.stopped:
            stopped = self.gateway.cancel(task.moment_id)
            if stopped.answer is Answer.DONE:
                self.app.moments.change(task_id, lambda t: t.stopped_at_wecom(BY, self.clock()))
                return 1
            return 0
        if status == "accepted" and task.moment_id:
            queries.note_polled(conn, task_id, self.clock())
            answer = self.gateway.task_members(task.moment_id)
            if answer.answer is not Answer.DONE:
                return 0
            posted = [u for u, done in answer.posted.items() if done]
            return self.app.moments.members_posted(task_id, posted, self.clock())
        return 0

    def _submit(self, task_id: UUID) -> int:
        task = self.app.moments.change(task_id, lambda t: t.start_submission(BY, self.clock()))
        answer = self.gateway.add_task(task.content, [m["user_id"] for m in task.members],
                                       task.wecom_tag_ids)
        self._record(task_id, answer)
        return 1

    def _record(self, task_id: UUID, answer: MomentAnswer) -> None:
        now = self.clock()

        def record(task: MomentTask) -> None:
            if answer.answer is Answer.DONE and answer.jobid:
                task.submitted(answer.jobid, BY, now)
            elif answer.answer is Answer.REFUSED:
                task.refuse(answer.reason, BY, now)
            elif answer.answer is Answer.RETRY:
                task.defer(answer.reason, BY, now)
            else:
                task.unknown(answer.reason, BY, now)

        self.app.moments.change(task_id, record)
        log.info("moment task %s: add_moment_task %s (%s)", task_id, answer.answer.value,
                 answer.reason)

    def _made_at_wecom(self, conn: psycopg.Connection[Any], task: MomentTask,
                       now: datetime) -> list[str] | None:
        """Moments WeCom lists as this task's (enterprise, its text, made since its add
        call, held by no other task); None while that cannot be told yet."""
        started = task.attempted_at
        if started is None or now - started < RECONCILE_AFTER:
            return None
        listed_answer, listed = self.gateway.moments(
            (started - RECONCILE_MARGIN).timestamp(), now.timestamp(), ENTERPRISE)
        if listed_answer.answer is not Answer.DONE:
            return None
        held = queries.held_moment_ids(conn)
        return [m.moment_id for m in listed if m.create_type == ENTERPRISE
                and m.text == task.content and m.moment_id not in held]

    def _reconcile(self, conn: psycopg.Connection[Any], task: MomentTask) -> int:
        now = self.clock()
        found = self._made_at_wecom(conn, task, now)
        if found is None:
            return 0
        if found:
            self.app.moments.change(task.id, lambda t: t.accept(found[0], [], BY, now))
            log.info("moment task %s: reconciled with an existing moment", task.id)
            return 1
        self.app.moments.change(task.id, lambda t: t.unknown("not found", BY, now))
        return self._submit(task.id)  # WeCom has none: submitting again duplicates nothing

    def _finish_creating(self, conn: psycopg.Connection[Any], task: MomentTask) -> int:
        """A task cancelled while WeCom created it: its job's moment, to stop next pass —
        from the job's result, else (no job id: the add call unanswered) by listing, never
        submitting again; none found: nothing to stop."""
        if task.jobid:
            return self._poll_job(task)
        now = self.clock()
        found = self._made_at_wecom(conn, task, now)
        if found is None:
            return 0
        if found:
            self.app.moments.change(task.id, lambda t: t.accept(found[0], [], BY, now))
        else:
            self.app.moments.change(task.id, lambda t: t.nothing_to_stop("none found", BY, now))
        return 1

    def _poll_job(self, task: MomentTask) -> int:
        answer = self.gateway.task_result(str(task.jobid))
        now = self.clock()
        if answer.answer is Answer.DONE and answer.job_status == 3 and answer.moment_id:
            moment_id, invalid = answer.moment_id, list(answer.invalid_users)
            self.app.moments.change(task.id, lambda t: t.accept(moment_id, invalid, BY, now))
            return 1
        if answer.answer is Answer.REFUSED and answer.job_status == 3:
            self.app.moments.change(task.id, lambda t: t.refuse(answer.reason, BY, now))
            return 1
        return 0

    def _own_posts(self, conn: psycopg.Connection[Any], now: datetime) -> int:
        if self._own_listed is not None and now - self._own_listed < OWN_EVERY:
            return 0
        answer, listed = self.gateway.moments((now - OWN_WINDOW).timestamp(), now.timestamp(),
                                              PERSONAL)
        if answer.answer is not Answer.DONE:
            return 0
        self._own_listed = now
        own = [m for m in listed if m.create_type == PERSONAL]
        staff = queries.staff_by_user(conn, sorted({m.creator for m in own}))
        posts = {moment_key(UUID(staff[m.creator]), m.moment_id): m for m in own
                 if m.creator in staff}
        known = self.app.index.known_event_keys(list(posts))
        new = 0
        for key, moment in posts.items():
            if key in known:
                continue
            at = datetime.fromtimestamp(moment.create_time, UTC)
            try:
                new += self.app.staff.record_moment_posted(UUID(staff[moment.creator]),
                                                           moment.moment_id, BY, at)
            except DomainError as error:  # e.g. the member has left
                log.info("own moment of a member not recorded: %s", error.code)
        return new
