"""Moments (朋友圈): enterprise moment tasks, and every member's posts on the moments KPI.

**Tasks** (:class:`domain.moment_task.MomentTask`): :meth:`Moments.plan` records the task
(members resolved to staff ids and WeCom UserIDs by the caller, the audience and how many of
it are at the daily limit already — refused when any is); the moments worker
(:mod:`workers.moments`) submits it to WeCom and records each step. Every command re-reads the
task from the store.

**Posts.** A member's post of a task is recorded on the task once (``MemberPosted``, with the
time the sync first saw it) and as ``Staff.MomentPosted`` through
:meth:`application.staff.StaffMembers.record_moment_posted` — keyed by (staff, moment id), so
it is recorded exactly once however often a sync or a redelivery repeats it; a sync also
repairs a crash between the two (the staff post is re-offered for every posted member). A
member's own posts (``create_type`` 1, or reported by a source through ``recordMomentsPosted``)
go through the same key.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from uuid import UUID

from application.staff import StaffMembers
from application.unit_of_work import EventStore, UnitOfWork
from domain.errors import DomainError, UnknownMomentTask
from domain.moment_task import MomentTask, check_daily_limit

SYSTEM = "system"


class Moments:
    def __init__(self, store: EventStore, staff: StaffMembers) -> None:
        self.store = store
        self.staff = staff

    def plan(self, content: str, members: list[dict[str, str]], tags: list[str], day: date,
             audience: int, at_limit: int, by: str, occurred_at: datetime,
             wecom_tag_ids: list[str] | None = None) -> tuple[UUID, int | None]:
        """Record a task; refused (``MOMENT_DAILY_LIMIT``) if customers are at the limit.
        ``tags``: the platform's; ``wecom_tag_ids``: theirs at WeCom (None: the same)."""
        check_daily_limit(at_limit, audience)

        def decide(unit: UnitOfWork[MomentTask]) -> UUID:
            task = MomentTask.plan(content, members, tags, day, audience, by, occurred_at,
                                   wecom_tag_ids)
            return unit.add(task).id

        return self.store.transact(MomentTask, decide)

    def task(self, task_id: UUID) -> MomentTask:
        found = self.store.find(task_id, MomentTask, fresh=True)
        if found is None:
            raise UnknownMomentTask(f"no moment task {task_id}", field="id")
        return found

    def change(self, task_id: UUID, change: Callable[[MomentTask], object]) -> MomentTask:
        """Apply ``change`` to the task as stored now; saved if it recorded anything."""
        return self._change(task_id, change)[0]

    def _change(self, task_id: UUID, change: Callable[[MomentTask], object]
                ) -> tuple[MomentTask, int | None]:
        def decide(unit: UnitOfWork[MomentTask]) -> MomentTask:
            task = self.task(task_id)
            before = task.version
            change(task)
            if task.version != before:
                unit.add(task)
            return task

        return self.store.transact(MomentTask, decide)

    def cancel(self, task_id: UUID, by: str, occurred_at: datetime) -> int | None:
        """Cancel the task; the log position, or None if it was cancelled already."""
        return self._change(task_id, lambda t: t.cancel(by, occurred_at))[1]

    def members_posted(self, task_id: UUID, user_ids: list[str], seen_at: datetime
                       ) -> int:
        """Record the members WeCom says have posted; how many staff posts were new."""
        task = self.change(task_id, lambda t: [t.member_posted(u, SYSTEM, seen_at)
                                               for u in sorted(user_ids)])
        if task.moment_id is None:
            return 0
        new = 0
        for event in self._posts(task_id):
            try:
                new += self.staff.record_moment_posted(UUID(event.staff_id), task.moment_id,
                                                       SYSTEM, event.occurred_at)
            except DomainError:  # the member has left since: the task keeps their post
                continue
        return new

    def _posts(self, task_id: UUID) -> list[MomentTask.MemberPosted]:
        events = self.store.repository.event_store.get(task_id)
        return [e for e in events if isinstance(e, MomentTask.MemberPosted)]
