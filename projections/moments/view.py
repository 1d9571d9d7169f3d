"""``moment_task``: one row per enterprise moment task, a pure fold of its events
(:func:`apply`; an event already folded changes nothing). The daily-limit check and the
moments worker read it (:mod:`projections.moments.queries`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from eventsourcing.application import Application
from psycopg import Cursor
from psycopg.rows import DictRow

from domain.moment_task import MomentTask
from projections.postgres_views import fold_page

VERSION = 2  # 2: cancelled_creating; a cancelled task records its job's outcome
Row = dict[str, Any]


def apply(row: Row | None, event: Any, position: int) -> Row | None:
    if isinstance(event, MomentTask.Planned):
        if row is not None:
            return row
        staff = [m["staff_id"] for m in event.members]
        users = [m["user_id"] for m in event.members]
        return {"task_id": event.originator_id, "position": position, "content": event.content,
                "staff_ids": staff, "user_ids": users,
                "audience_staff": sorted({*staff, *(f"wecom_user:{u}" for u in users)}),
                "tags": list(event.tags), "day": date.fromisoformat(event.day),
                "audience": event.audience, "status": "planned", "attempts": 0,
                "attempted_at": None, "jobid": None, "moment_id": None,
                "invalid_user_ids": [], "refused_reason": None, "posted_user_ids": [],
                "posted_count": 0, "stopped_at_wecom": False, "cancelled_creating": False,
                "created_by": event.by,
                "created_at": event.occurred_at,
                "updated_at": event.occurred_at, "last_version": event.originator_version}
    if row is None or event.originator_version <= row["last_version"]:
        return row
    row = dict(row, last_version=event.originator_version, updated_at=event.occurred_at)
    if isinstance(event, MomentTask.SubmissionStarted):
        row.update(status="submitting", attempts=event.attempt, attempted_at=event.occurred_at)
    elif isinstance(event, MomentTask.SubmissionDeferred):
        row["status"] = "planned"
    elif isinstance(event, MomentTask.Submitted):
        row.update(jobid=event.jobid, status=_unless_cancelled(row, "submitted"))
    elif isinstance(event, MomentTask.OutcomeUnknown):
        row["status"] = "unknown"
    elif isinstance(event, MomentTask.Accepted):
        row.update(status=_unless_cancelled(row, "accepted"), moment_id=event.moment_id,
                   invalid_user_ids=list(event.invalid_user_ids))
    elif isinstance(event, MomentTask.Refused):
        row.update(status="refused", refused_reason=event.reason)
    elif isinstance(event, MomentTask.MemberPosted):
        row["posted_user_ids"] = [*row["posted_user_ids"], event.user_id]
        row["posted_count"] = len(row["posted_user_ids"])
    elif isinstance(event, MomentTask.Cancelled):
        row.update(status="cancelled", cancelled_creating=row["status"] in (
            "submitting", "submitted", "unknown"))
    elif isinstance(event, MomentTask.StoppedAtWeCom | MomentTask.CancelSettled):
        row["stopped_at_wecom"] = True
    return row


def _unless_cancelled(row: Row, status: str) -> str:
    """A task cancelled while WeCom created it stays cancelled as its job's outcome comes."""
    return "cancelled" if row["status"] == "cancelled" else status


class MomentTaskView:
    name = "moment_task"
    events = (MomentTask,)
    version = VERSION

    def bind(self, app: Application[Any]) -> None:
        """Folds events only: needs nothing from the application."""

    def create(self, curs: Cursor[DictRow]) -> None:
        curs.execute((Path(__file__).parent / "moment_tasks.sql").read_text())

    def drop(self, curs: Cursor[DictRow]) -> None:
        curs.execute("DROP TABLE IF EXISTS moment_task CASCADE")

    def clear(self, curs: Cursor[DictRow]) -> None:
        curs.execute("TRUNCATE moment_task")

    def apply_page(self, curs: Cursor[DictRow], events: Sequence[tuple[int, Any]]) -> None:
        fold_page(curs, "moment_task", "task_id", events,
                  lambda e: isinstance(e, MomentTask.Event | MomentTask.Planned), apply)
