"""Marketing tasks (营销任务) over GraphQL: assign, reassign, complete, cancel; list and read.

Managers and service principals assign, reassign and cancel any task and read them all; a
front-line staff member reads their own tasks and completes them (a task of another
member is ``NOT_YOUR_TASK``; a service principal completes on the assignee's behalf).
Customers see none. ``overdue`` is derived at read time (open past ``dueAt``). Reads come
from ``marketing_task``; mutations wait (a few seconds at most) for it to catch up.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum
from typing import Any
from uuid import UUID

import strawberry
from strawberry.types import Info

from api import policy
from api.commands import run_command
from api.context import Context
from api.errors import BAD_INPUT, NOT_FOUND, ApiError
from api.projection_wait import caught_up
from api.types import PageInfo, to_uuid
from projections.marketing_tasks import queries

MAX_PAGE = 200
VIEW = "marketing_task"
_NOT_FOUND_CODES = frozenset({"UNKNOWN_MARKETING_TASK", "UNKNOWN_STAFF"})
Row = dict[str, Any]


@strawberry.enum
class MarketingTaskKind(Enum):
    MOMENTS_POST = "moments_post"
    GROUP_MESSAGE = "group_message"
    FOLLOW_UP = "follow_up"
    CAMPAIGN_CONFIRMATION = "campaign_confirmation"
    HOLIDAY_GREETING = "holiday_greeting"


@strawberry.enum
class MarketingTaskStatus(Enum):
    OPEN = "open"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


@strawberry.type(description="A marketing task (营销任务) assigned to a staff member.")
class MarketingTask:
    id: strawberry.ID
    assignment_key: str
    title: str
    kind: MarketingTaskKind
    staff_id: strawberry.ID = strawberry.field(description="The assignee now.")
    previous_staff_ids: list[strawberry.ID] = strawberry.field(
        description="Who had the task before, oldest first.")
    status: MarketingTaskStatus
    overdue: bool = strawberry.field(description="Open past its due time (now).")
    due_at: datetime
    campaign_id: strawberry.ID | None
    segment_id: strawberry.ID | None
    target_count: int | None
    completed_count: int | None
    evidence: list[str] = strawberry.field(description="References (moment ids, task ids…).")
    completed_late: bool
    assigned_by: str
    assigned_at: datetime
    reassigned_by: str | None
    reassigned_at: datetime | None
    completed_by: str | None
    completed_at: datetime | None
    cancelled_by: str | None
    cancelled_at: datetime | None
    cancel_reason: str | None

    @classmethod
    def from_row(cls, row: Row) -> MarketingTask:
        def ident(value: Any) -> strawberry.ID | None:
            return None if value is None else strawberry.ID(str(value))

        return cls(
            id=strawberry.ID(str(row["task_id"])), assignment_key=row["assignment_key"],
            title=row["title"], kind=MarketingTaskKind(row["kind"]),
            staff_id=strawberry.ID(row["staff_id"]),
            previous_staff_ids=[strawberry.ID(s) for s in row["previous_staff"]],
            status=MarketingTaskStatus(row["status"]), overdue=row["overdue"],
            due_at=row["due_at"], campaign_id=ident(row["campaign_id"]),
            segment_id=ident(row["segment_id"]), target_count=row["target_count"],
            completed_count=row["completed_count"], evidence=list(row["evidence"]),
            completed_late=row["completed_late"], assigned_by=row["assigned_by"],
            assigned_at=row["assigned_at"], reassigned_by=row["reassigned_by"],
            reassigned_at=row["reassigned_at"], completed_by=row["completed_by"],
            completed_at=row["completed_at"], cancelled_by=row["cancelled_by"],
            cancelled_at=row["cancelled_at"], cancel_reason=row["cancel_reason"])


@strawberry.type
class MarketingTaskEdge:
    cursor: str
    node: MarketingTask


@strawberry.type
class MarketingTaskConnection:
    edges: list[MarketingTaskEdge]
    page_info: PageInfo


@strawberry.input
class AssignMarketingTaskInput:
    assignment_key: str = strawberry.field(
        description="Chosen by the client: the same key again (a retry) records nothing.")
    title: str
    kind: MarketingTaskKind
    staff_id: strawberry.ID
    due_at: datetime
    campaign_id: strawberry.ID | None = None
    segment_id: strawberry.ID | None = None
    target_count: int | None = None


@strawberry.input
class ReassignMarketingTaskInput:
    task_id: strawberry.ID
    staff_id: strawberry.ID


@strawberry.input
class CompleteMarketingTaskInput:
    task_id: strawberry.ID
    completed_count: int | None = None
    evidence: list[str] = strawberry.field(
        default_factory=list, description="References only (ids), never free text.")


@strawberry.input
class CancelMarketingTaskInput:
    task_id: strawberry.ID
    reason: str = ""


@strawberry.type
class MarketingTaskPayload:
    task: MarketingTask | None = strawberry.field(
        description="The task as projected (null only if the read model lags).")
    recorded: bool = strawberry.field(description="False when nothing changed (a retry).")
    projected: bool


def _cursor(row: Row) -> str:
    raw = f"t:{row['due_at'].isoformat()}|{row['position']}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _after(cursor: str) -> tuple[datetime, int]:
    try:
        prefix, _, rest = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        due, _, position = rest.partition("|")
        if prefix != "t":
            raise ValueError(prefix)
        return datetime.fromisoformat(due), int(position)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(BAD_INPUT, "after is not a cursor of this list", field="after") from None



async def _run(command: Callable[[], Any]) -> Any:
    return await run_command(command, {
        **dict.fromkeys(_NOT_FOUND_CODES, NOT_FOUND), "INVALID_INPUT": BAD_INPUT})


async def _visible(info: Info[Context, None], task_id: UUID) -> Row | None:
    row = await queries.task(info.context.services.read_models.pool, task_id)
    principal = info.context.principal
    if row and policy.staff_scope(principal).covers_staff(str(row["staff_id"])):
        return row
    return None


async def _payload(info: Info[Context, None], task_id: UUID, position: int | None
                   ) -> MarketingTaskPayload:
    projected = await caught_up(info, VIEW, position)
    row = await _visible(info, task_id)
    return MarketingTaskPayload(task=None if row is None else MarketingTask.from_row(row),
                                recorded=position is not None, projected=projected)


def _staff_filter(info: Info[Context, None], staff_id: strawberry.ID | None
                  ) -> tuple[str | None, list[str] | None]:
    """(one member asked for, or the members in scope when none is): everyone's tasks for
    those who see everyone, a department's for its manager, one's own for front line."""
    principal = info.context.principal
    wanted = None if staff_id is None else str(to_uuid(staff_id, "staffId"))
    if principal.sees_everyone:
        return wanted, None
    if wanted is not None:
        policy.require_staff_in_scope(principal, wanted, "marketing tasks")
        return wanted, None
    return None, sorted(policy.staff_scope(principal).staff_ids)


@strawberry.type
class MarketingTaskQuery:
    @strawberry.field(description="Marketing tasks by due time (earliest first): all for "
                                  "company managers, operators and auditors, a department's for "
                                  "its manager, one's own for front-line staff.")
    async def marketing_tasks(self, info: Info[Context, None],
                              staff_id: strawberry.ID | None = None,
                              status: MarketingTaskStatus | None = None,
                              overdue: bool | None = None, due_from: datetime | None = None,
                              due_to: datetime | None = None,
                              campaign_id: strawberry.ID | None = None, first: int = 50,
                              after: str | None = None) -> MarketingTaskConnection:
        staff, in_scope = _staff_filter(info, staff_id)
        if not 1 <= first <= MAX_PAGE:
            raise ApiError(BAD_INPUT, f"first must be between 1 and {MAX_PAGE}", field="first")
        for name, value in (("dueFrom", due_from), ("dueTo", due_to)):
            if value is not None and value.tzinfo is None:
                raise ApiError(BAD_INPUT, f"{name} needs a time zone", field=name)
        campaign = None if campaign_id is None else to_uuid(campaign_id, "campaignId")
        since = None if after is None else _after(after)
        rows = await queries.tasks(
            info.context.services.read_models.pool, staff_id=staff, status=status and status.value,
            overdue=overdue, due_from=due_from, due_to=due_to, campaign_id=campaign,
            after=since, limit=first + 1, staff_ids=in_scope)
        edges = [MarketingTaskEdge(cursor=_cursor(r), node=MarketingTask.from_row(r))
                 for r in rows[:first]]
        return MarketingTaskConnection(edges=edges, page_info=PageInfo(
            has_next_page=len(rows) > first, end_cursor=edges[-1].cursor if edges else None))

    @strawberry.field(description="One task (NOT_FOUND unless it is visible to you).")
    async def marketing_task(self, info: Info[Context, None], id: strawberry.ID
                             ) -> MarketingTask:
        row = await _visible(info, to_uuid(id, "id"))
        if row is None:
            raise ApiError(NOT_FOUND, "no such task among yours", field="id")
        return MarketingTask.from_row(row)


@strawberry.type
class MarketingTaskMutation:
    @strawberry.mutation(description="Assign a task to a staff member (managers, service); "
                                     "once per assignmentKey.")
    async def assign_marketing_task(self, info: Info[Context, None],
                                    input: AssignMarketingTaskInput) -> MarketingTaskPayload:
        app, by = info.context.services.app, info.context.principal.actor
        staff = to_uuid(input.staff_id, "staffId")
        campaign = None if input.campaign_id is None else to_uuid(input.campaign_id,
                                                                  "campaignId")
        segment = None if input.segment_id is None else to_uuid(input.segment_id, "segmentId")
        if input.due_at.tzinfo is None:
            raise ApiError(BAD_INPUT, "dueAt needs a time zone", field="dueAt")
        task_id, position = await _run(lambda: app.marketing_tasks.assign(
            input.assignment_key, input.title, input.kind.value, staff, input.due_at, by,
            datetime.now(UTC), campaign_id=campaign, segment_id=segment,
            target_count=input.target_count))
        return await _payload(info, task_id, position)

    @strawberry.mutation(description="Give an open task to another staff member.")
    async def reassign_marketing_task(self, info: Info[Context, None],
                                      input: ReassignMarketingTaskInput) -> MarketingTaskPayload:
        app, by = info.context.services.app, info.context.principal.actor
        task_id, staff = to_uuid(input.task_id, "taskId"), to_uuid(input.staff_id, "staffId")
        position = await _run(lambda: app.marketing_tasks.reassign(task_id, staff, by,
                                                                  datetime.now(UTC)))
        return await _payload(info, task_id, position)

    @strawberry.mutation(description="Complete one's task (a service: on the assignee's "
                                     "behalf); completing again changes nothing.")
    async def complete_marketing_task(self, info: Info[Context, None],
                                      input: CompleteMarketingTaskInput) -> MarketingTaskPayload:
        principal = info.context.principal
        app, by = info.context.services.app, principal.actor
        task_id = to_uuid(input.task_id, "taskId")
        # A company manager may complete anyone's task; everyone else only their own.
        staff = (None if principal.access is policy.Access.COMPANY_MANAGER
                 else to_uuid(strawberry.ID(principal.subject_id), "staffId"))
        position = await _run(lambda: app.marketing_tasks.complete(
            task_id, staff, input.completed_count, input.evidence, by, datetime.now(UTC)))
        return await _payload(info, task_id, position)

    @strawberry.mutation(description="Cancel an open task (managers, service).")
    async def cancel_marketing_task(self, info: Info[Context, None],
                                    input: CancelMarketingTaskInput) -> MarketingTaskPayload:
        app, by = info.context.services.app, info.context.principal.actor
        task_id = to_uuid(input.task_id, "taskId")
        position = await _run(lambda: app.marketing_tasks.cancel(task_id, input.reason, by,
                                                                datetime.now(UTC)))
        return await _payload(info, task_id, position)
