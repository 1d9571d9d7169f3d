"""Marketing-task commands, mixed into the application: assign, reassign, complete, cancel.

Tasks are their own aggregates (:mod:`domain.marketing_task`), read fresh from the store
(changed from any process, rarely). Assignees must be known staff members who have not
left. Each command returns the log position of what it recorded (None: nothing changed).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from domain.errors import StaffAlreadyLeft, UnknownStaff
from domain.marketing_task import (
    AssignmentKeyReused,
    MarketingTask,
    UnknownMarketingTask,
    check_assignment,
    task_id,
)
from domain.staff import Staff

ATTEMPTS = 8


class MarketingTaskCommands(Application[UUID]):
    _write_lock: threading.RLock

    def assign_marketing_task(self, assignment_key: str, title: str, kind: str,
                              staff_id: UUID, due_at: datetime, by: str, occurred_at: datetime,
                              *, campaign_id: UUID | None = None,
                              segment_id: UUID | None = None,
                              target_count: int | None = None) -> tuple[UUID, int | None]:
        """Assign a task once per ``assignment_key``: its id and the log position (None when
        this key was assigned already, with the same contents)."""
        key, _ = check_assignment(assignment_key, title, kind, target_count)
        self._assignable(staff_id)
        fresh = MarketingTask.assign(
            key, title, kind, str(staff_id), due_at, by, occurred_at,
            campaign_id=None if campaign_id is None else str(campaign_id),
            segment_id=None if segment_id is None else str(segment_id),
            target_count=target_count)
        with self._write_lock:
            existing = self._task_or_none(fresh.id)
            if existing is None:
                try:
                    recordings = self.save(fresh)
                    return fresh.id, max(r.notification.id for r in recordings)
                except IntegrityError:  # assigned concurrently: compare with the stored one
                    existing = self._task_or_none(fresh.id)
                    if existing is None:
                        raise
                finally:
                    self._forget_task(fresh.id)
            if not existing.same_assignment(fresh):
                raise AssignmentKeyReused("this assignment key names another task",
                                          field="assignmentKey")
            return existing.id, None

    def marketing_task(self, task_id_: UUID) -> MarketingTask:
        found = self._task_or_none(task_id_)
        if found is None:
            raise UnknownMarketingTask(f"no marketing task {task_id_}", field="taskId")
        return found

    def reassign_marketing_task(self, task_id_: UUID, staff_id: UUID, by: str,
                                occurred_at: datetime) -> int | None:
        self._assignable(staff_id)
        return self._change_task(task_id_, lambda t: t.reassign(str(staff_id), by, occurred_at))

    def complete_marketing_task(self, task_id_: UUID, staff_id: UUID | None,
                                completed_count: int | None, evidence: Sequence[str], by: str,
                                occurred_at: datetime) -> int | None:
        """Complete as ``staff_id`` (the assignee), or on their behalf with None."""
        who = None if staff_id is None else str(staff_id)
        return self._change_task(task_id_, lambda t: t.complete(
            who, completed_count, evidence, by, occurred_at))

    def cancel_marketing_task(self, task_id_: UUID, reason: str, by: str,
                              occurred_at: datetime) -> int | None:
        return self._change_task(task_id_, lambda t: t.cancel(reason, by, occurred_at))

    def _change_task(self, aggregate_id: UUID, decide: Callable[[MarketingTask], bool]
                     ) -> int | None:
        with self._write_lock:
            for attempt in range(ATTEMPTS):
                task = self.marketing_task(aggregate_id)
                try:
                    if not decide(task):
                        return None
                    recordings = self.save(task)
                    return max(r.notification.id for r in recordings)
                except IntegrityError:
                    if attempt == ATTEMPTS - 1:
                        raise
                finally:
                    self._forget_task(aggregate_id)
        raise AssertionError("unreachable")  # pragma: no cover

    def _assignable(self, staff_id: UUID) -> None:
        try:
            found: Any = self.repository.get(staff_id)
        except AggregateNotFoundError:
            raise UnknownStaff(f"no staff member {staff_id}", field="staffId") from None
        if not isinstance(found, Staff):
            raise UnknownStaff(f"no staff member {staff_id}", field="staffId")
        if found.left_at is not None:
            raise StaffAlreadyLeft("this staff member has left", field="staffId")

    def _task_or_none(self, aggregate_id: UUID) -> MarketingTask | None:
        self._forget_task(aggregate_id)
        try:
            found: Any = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, MarketingTask) else None

    def _forget_task(self, aggregate_id: UUID) -> None:
        cache = self.repository.cache
        if cache is not None:
            with contextlib.suppress(KeyError):
                cast(Any, cache).get(aggregate_id, evict=True)


__all__ = ["MarketingTaskCommands", "task_id"]
