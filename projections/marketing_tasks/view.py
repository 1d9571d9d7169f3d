"""Read model ``marketing_task``: one row per :class:`domain.marketing_task.MarketingTask`.

The row holds the task as assigned, its assignee now and who had it before, its status
with who and when for each change, the completed count and evidence references.
Overdue is not stored (it changes with the clock, not with events): the
``marketing_task_view`` view and the API derive it from ``due_at``. :func:`task_row`
is the pure row logic.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from psycopg import Cursor
from psycopg.rows import DictRow

from domain.marketing_task import CANCELLED, COMPLETED, OPEN, MarketingTask
from projections.postgres_views import fold_page
from projections.schema_lock import serialise_ddl
from projections.staff_performance import business_day

Row = dict[str, Any]


def task_row(row: Row | None, event: Any, position: int) -> Row | None:
    """Fold one task event into its row (events at or below the row's version are skipped)."""
    if isinstance(event, MarketingTask.Assigned):
        return {"task_id": event.originator_id, "assignment_key": event.assignment_key,
                "title": event.title, "kind": event.kind, "staff_id": event.staff_id,
                "previous_staff": [], "status": OPEN, "due_at": event.due_at,
                "due_day": business_day(event.due_at),
                "campaign_id": _uuid(event.campaign_id), "segment_id": _uuid(event.segment_id),
                "target_count": event.target_count, "completed_count": None, "evidence": [],
                "assigned_by": event.by, "assigned_at": event.occurred_at,
                "reassigned_by": None, "reassigned_at": None, "completed_by": None,
                "completed_at": None, "cancelled_by": None, "cancelled_at": None,
                "cancel_reason": None, "position": position,
                "last_version": event.originator_version}
    if row is None or event.originator_version <= row["last_version"]:
        return row
    row = dict(row, last_version=event.originator_version)
    if isinstance(event, MarketingTask.Reassigned):
        row.update(staff_id=event.staff_id,
                   previous_staff=[*row["previous_staff"], event.previous_staff_id],
                   reassigned_by=event.by, reassigned_at=event.occurred_at)
    elif isinstance(event, MarketingTask.Completed):
        row.update(status=COMPLETED, completed_count=event.completed_count,
                   evidence=list(event.evidence), completed_by=event.by,
                   completed_at=event.occurred_at)
    elif isinstance(event, MarketingTask.Cancelled):
        row.update(status=CANCELLED, cancelled_by=event.by, cancelled_at=event.occurred_at,
                   cancel_reason=event.reason or None)
    return row


def _uuid(value: str | None) -> UUID | None:
    return None if value is None else UUID(value)


class MarketingTaskView:
    name = "marketing_task"
    version = 1
    events = (MarketingTask,)

    def bind(self, app: Application[Any]) -> None:
        """Folds events only."""

    def create(self, curs: Cursor[DictRow]) -> None:
        serialise_ddl(curs)
        curs.execute((Path(__file__).parent / "marketing_tasks.sql").read_text())

    def drop(self, curs: Cursor[DictRow]) -> None:
        curs.execute("DROP TABLE IF EXISTS marketing_task CASCADE")

    def clear(self, curs: Cursor[DictRow]) -> None:
        curs.execute("TRUNCATE marketing_task")

    def apply_page(self, curs: Cursor[DictRow], events: Sequence[tuple[int, Any]]) -> None:
        fold_page(curs, "marketing_task", "task_id", events,
                  lambda e: isinstance(e, (MarketingTask.Assigned, MarketingTask.Event)),
                  task_row)
