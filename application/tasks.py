"""Marketing tasks (营销任务): assign, reassign, complete, cancel.

Tasks are their own aggregates (:mod:`domain.marketing_task`), read fresh from the
store (changed from any process, rarely). Assignees must be known staff members who
have not left. Each command returns the log position of what it recorded (None:
nothing changed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from uuid import UUID

from application.unit_of_work import EventStore, UnitOfWork
from domain.errors import StaffAlreadyLeft, UnknownStaff
from domain.marketing_task import (
    AssignmentKeyReused,
    MarketingTask,
    UnknownMarketingTask,
    check_assignment,
)
from domain.staff import Staff


class MarketingTasks:
    def __init__(self, store: EventStore) -> None:
        self.store = store

    def assign(self, assignment_key: str, title: str, kind: str, staff_id: UUID,
               due_at: datetime, by: str, occurred_at: datetime, *,
               campaign_id: UUID | None = None, segment_id: UUID | None = None,
               target_count: int | None = None) -> tuple[UUID, int | None]:
        """Assign a task once per ``assignment_key``: its id and the log position (None when
        this key was assigned already, with the same contents)."""
        key, _ = check_assignment(assignment_key, title, kind, target_count)
        self._assignable(staff_id)

        def decide(unit: UnitOfWork[MarketingTask]) -> UUID:
            fresh = MarketingTask.assign(
                key, title, kind, str(staff_id), due_at, by, occurred_at,
                campaign_id=None if campaign_id is None else str(campaign_id),
                segment_id=None if segment_id is None else str(segment_id),
                target_count=target_count)
            existing = self.store.find(fresh.id, MarketingTask, fresh=True)
            if existing is None:
                return unit.add(fresh).id
            if not existing.same_assignment(fresh):
                raise AssignmentKeyReused("this assignment key names another task",
                                          field="assignmentKey")
            return existing.id  # assigned before (or concurrently): nothing to record

        return self.store.transact(MarketingTask, decide)

    def get(self, task_id: UUID) -> MarketingTask:
        found = self.store.find(task_id, MarketingTask, fresh=True)
        if found is None:
            raise UnknownMarketingTask(f"no marketing task {task_id}", field="taskId")
        return found

    def reassign(self, task_id: UUID, staff_id: UUID, by: str, occurred_at: datetime
                 ) -> int | None:
        self._assignable(staff_id)
        return self._change(task_id, lambda t: t.reassign(str(staff_id), by, occurred_at))

    def complete(self, task_id: UUID, staff_id: UUID | None, completed_count: int | None,
                 evidence: Sequence[str], by: str, occurred_at: datetime) -> int | None:
        """Complete as ``staff_id`` (the assignee), or on their behalf with None."""
        who = None if staff_id is None else str(staff_id)
        return self._change(task_id, lambda t: t.complete(
            who, completed_count, evidence, by, occurred_at))

    def cancel(self, task_id: UUID, reason: str, by: str, occurred_at: datetime
               ) -> int | None:
        return self._change(task_id, lambda t: t.cancel(reason, by, occurred_at))

    def _change(self, task_id: UUID, change: Callable[[MarketingTask], bool]) -> int | None:
        def decide(unit: UnitOfWork[MarketingTask]) -> None:
            task = self.get(task_id)
            if change(task):
                unit.add(task)

        return self.store.transact(MarketingTask, decide)[1]

    def _assignable(self, staff_id: UUID) -> None:
        found = self.store.find(staff_id, Staff)
        if found is None:
            raise UnknownStaff(f"no staff member {staff_id}", field="staffId")
        if found.left_at is not None:
            raise StaffAlreadyLeft("this staff member has left", field="staffId")
