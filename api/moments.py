"""Moments (朋友圈) over GraphQL: enterprise moment tasks, and members' own posts.

``createMomentTask`` plans a text for members — staff ids, WeCom UserIDs or departments — to
post to their customers' moments (only customers with one of ``tags`` if given), for today
or a later day. Refused with a typed error: an empty or too long ``content`` or a past or
too distant ``day`` (``BAD_INPUT``), a UserID or staff id that is no current member with a
WeCom account (``NOT_A_MEMBER``), an unknown department (``BAD_INPUT``), and a task that
would show some customer more than three moments of the brand that day
(``MOMENT_DAILY_LIMIT``). The worker submits it to WeCom and records each member's post.

``recordMomentsPosted`` records members' own posts (a source that sees them, e.g. a
side-bar tool): once per (member, moment id), so a resend is a duplicate.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from functools import partial
from typing import Any
from uuid import UUID

import strawberry
from strawberry.types import Info

from api.commands import run_command
from api.context import Context
from api.errors import BAD_INPUT, NOT_FOUND, ApiError
from api.policy import staff_scope
from api.projection_wait import caught_up
from api.types import to_uuid
from domain.channel_code import NotAMember
from domain.organisation import DEPARTMENTS
from domain.working_time import business_day
from projections.moments import queries
from projections.wecom_tags import queries as wecom_tags

MAX_DAYS_AHEAD = 30
UNMAPPED_TAG = "UNMAPPED_TAG"
MAX_POSTS = 500
Row = dict[str, Any]


@strawberry.enum
class MomentTaskStatus(Enum):
    PLANNED = "planned"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    UNKNOWN = "unknown"
    REFUSED = "refused"
    CANCELLED = "cancelled"


@strawberry.type(description="An enterprise moment task (企业发表到客户朋友圈).")
class MomentTask:
    id: strawberry.ID
    content: str
    status: MomentTaskStatus = strawberry.field(description=(
        "PLANNED → SUBMITTING → SUBMITTED (WeCom creating it) → ACCEPTED (members may post); "
        "UNKNOWN: WeCom's answer was lost, reconciled before any resubmission."))
    staff_ids: list[strawberry.ID]
    user_ids: list[str] = strawberry.field(description="The members' WeCom UserIDs.")
    tags: list[str]
    day: date = strawberry.field(description="The business day (Asia/Shanghai) it is for.")
    audience: int = strawberry.field(description="Customers in range when planned.")
    moment_id: str | None
    invalid_user_ids: list[str] = strawberry.field(
        description="Members WeCom refused as senders.")
    posted_user_ids: list[str]
    posted_count: int
    refused_reason: str | None
    created_by: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: Row) -> MomentTask:
        return cls(id=strawberry.ID(str(row["task_id"])), content=row["content"],
                   status=MomentTaskStatus(row["status"]),
                   staff_ids=[strawberry.ID(s) for s in row["staff_ids"]],
                   user_ids=list(row["user_ids"]), tags=list(row["tags"]), day=row["day"],
                   audience=row["audience"], moment_id=row["moment_id"],
                   invalid_user_ids=list(row["invalid_user_ids"]),
                   posted_user_ids=list(row["posted_user_ids"]),
                   posted_count=row["posted_count"], refused_reason=row["refused_reason"],
                   created_by=row["created_by"], created_at=row["created_at"])


@strawberry.input
class CreateMomentTaskInput:
    content: str = strawberry.field(description="The text, at most 2,000 bytes (UTF-8).")
    staff_ids: list[strawberry.ID] = strawberry.field(default_factory=list)
    user_ids: list[str] = strawberry.field(default_factory=list,
                                           description="Members' WeCom UserIDs.")
    departments: list[str] = strawberry.field(
        default_factory=list, description="Every current member of these departments.")
    tags: list[str] = strawberry.field(default_factory=list, description=(
        "Only customers with one of these tags see it (empty: all); each needs a WeCom tag "
        "id — the synced WeCom tag of the same name in the WeCom group named as its tag "
        "group, or SIYU_WECOM_TAG_IDS — else UNMAPPED_TAG."))
    day: date | None = strawberry.field(default=None,
                                        description="Default today (Asia/Shanghai).")


@strawberry.input
class MomentAudienceInput:
    staff_ids: list[strawberry.ID] = strawberry.field(default_factory=list)
    user_ids: list[str] = strawberry.field(default_factory=list)
    departments: list[str] = strawberry.field(default_factory=list)
    tags: list[str] = strawberry.field(default_factory=list)
    day: date | None = None


@strawberry.type(description="Who a moment task would reach, before it is created.")
class MomentTaskPlan:
    day: date
    user_ids: list[str]
    audience: int = strawberry.field(description="Customers in range.")
    at_limit: int = strawberry.field(description=(
        "Of them, customers who already see 3 moments of the brand that day: createMomentTask "
        "refuses the task unless this is 0."))


@strawberry.input
class CancelMomentTaskInput:
    id: strawberry.ID


@strawberry.input
class MomentPostedInput:
    staff_id: strawberry.ID = strawberry.field(description="A staff id or wecom_user:<UserID>.")
    moment_id: str
    occurred_at: datetime


@strawberry.input
class RecordMomentsPostedInput:
    posts: list[MomentPostedInput]


@strawberry.type
class MomentTaskPayload:
    task: MomentTask | None
    projected: bool


@strawberry.type
class MomentPostResult:
    moment_id: str
    status: str = strawberry.field(description="ACCEPTED, DUPLICATE or REJECTED.")
    error_code: str | None


async def _run(command: Callable[[], Any]) -> Any:
    return await run_command(command, {
        "INVALID_INPUT": BAD_INPUT, "UNKNOWN_MOMENT_TASK": NOT_FOUND, "UNKNOWN_STAFF": NOT_A_MEMBER})


NOT_A_MEMBER = NotAMember.code


async def _payload(info: Info[Context, None], task_id: UUID, position: int | None
                   ) -> MomentTaskPayload:
    projected = await caught_up(info, "moment_task", position)
    row = await queries.task(info.context.services.read_models.pool, task_id)
    return MomentTaskPayload(task=None if row is None else MomentTask.from_row(row),
                             projected=projected)


def _day(given: date | None, today: date) -> date:
    day = given or today
    if day < today:
        raise ApiError(BAD_INPUT, "day is in the past", field="day")
    if day > today + timedelta(days=MAX_DAYS_AHEAD):
        raise ApiError(BAD_INPUT, f"day is at most {MAX_DAYS_AHEAD} days ahead", field="day")
    return day


async def _members(info: Info[Context, None],
                   task: CreateMomentTaskInput | MomentAudienceInput) -> list[dict[str, str]]:
    """The members the input names, each with a WeCom UserID, or a typed refusal."""
    for department in task.departments:
        if department not in DEPARTMENTS:
            raise ApiError(BAD_INPUT, f"unknown department {department!r}", field="departments")
    staff_ids = [str(to_uuid(s, "staffIds")) for s in task.staff_ids]
    rows = await queries.members(info.context.services.read_models.pool, staff_ids,
                                 task.user_ids, task.departments)
    by_staff = {r["staff_id"]: r for r in rows}
    by_user = {r["wecom_user_id"]: r for r in rows if r["wecom_user_id"]}
    for user_id in task.user_ids:
        if user_id not in by_user:
            raise ApiError(NOT_A_MEMBER, f"{user_id!r} is not the WeCom UserID of a current "
                           "staff member", field="userIds")
    for staff_id in staff_ids:
        if staff_id not in by_staff or not by_staff[staff_id]["wecom_user_id"]:
            raise ApiError(NOT_A_MEMBER, f"staff {staff_id} is no current member with a WeCom "
                           "account", field="staffIds")
    for department in task.departments:
        if not any(r["department"] == department and r["wecom_user_id"] for r in rows):
            raise ApiError(BAD_INPUT, f"department {department!r} has no member with a WeCom "
                           "account", field="departments")
    chosen = [r for r in rows if r["wecom_user_id"] and (
        r["staff_id"] in staff_ids or r["wecom_user_id"] in task.user_ids
        or r["department"] in task.departments)]
    if not chosen:
        raise ApiError(BAD_INPUT, "name at least one member (staffIds, userIds or departments)",
                       field="staffIds")
    return [{"staff_id": r["staff_id"], "user_id": r["wecom_user_id"]} for r in chosen]


@strawberry.type
class MomentQuery:
    @strawberry.field(description="One moment task (NOT_FOUND if none).")
    async def moment_task(self, info: Info[Context, None], id: strawberry.ID) -> MomentTask:
        row = await queries.task(info.context.services.read_models.pool, to_uuid(id, "id"))
        seen = None if row is None else _in_scope(info, row)
        if seen is None:
            raise ApiError(NOT_FOUND, "no such moment task", field="id")
        return MomentTask.from_row(seen)

    @strawberry.field(description="The members, audience and daily-limit check of a task "
                                  "before creating it (same typed errors as createMomentTask).")
    async def moment_task_plan(self, info: Info[Context, None], input: MomentAudienceInput
                               ) -> MomentTaskPlan:
        day = _day(input.day, business_day(datetime.now(UTC)))
        await _wecom_tags(info, input.tags)
        members = await _members(info, input)
        audience, at_limit = await _audience(info, members, input.tags, day)
        return MomentTaskPlan(day=day, user_ids=[m["user_id"] for m in members],
                              audience=audience, at_limit=at_limit)

    @strawberry.field(description="Moment tasks, newest first (at most 200).")
    async def moment_tasks(self, info: Info[Context, None], day: date | None = None,
                           status: MomentTaskStatus | None = None, first: int = 50
                           ) -> list[MomentTask]:
        if not 1 <= first <= 200:
            raise ApiError(BAD_INPUT, "first must be between 1 and 200", field="first")
        rows = await queries.tasks(info.context.services.read_models.pool, day=day,
                                   status=status and status.value, limit=first)
        return [MomentTask.from_row(seen) for seen in (_in_scope(info, r) for r in rows)
                if seen is not None]


def _in_scope(info: Info[Context, None], row: Row) -> Row | None:
    """The task as the reader may see it: a department manager or front-line member sees
    tasks with a member in their scope, and only those members (docs/access.md)."""
    scope = staff_scope(info.context.principal)
    if scope.everyone:
        return row
    kept = [i for i, s in enumerate(row["staff_ids"]) if s in scope.staff_ids]
    if not kept:
        return None
    users = [row["user_ids"][i] for i in kept if i < len(row["user_ids"])]
    posted = [u for u in row["posted_user_ids"] if u in users]
    return {**row, "staff_ids": [row["staff_ids"][i] for i in kept], "user_ids": users,
            "invalid_user_ids": [u for u in row["invalid_user_ids"] if u in users],
            "posted_user_ids": posted, "posted_count": len(posted)}


async def _wecom_tags(info: Info[Context, None], tags: list[str]) -> list[str]:
    """The WeCom tag ids of the platform's ``tags``: ``SIYU_WECOM_TAG_IDS`` first (an explicit
    override), else the synced library (``wecom_tag_map``); one with neither is refused."""
    override = info.context.services.wecom_tag_ids
    synced = await wecom_tags.wecom_tag_ids(info.context.services.read_models.pool,
                                            [t for t in tags if t not in override])
    known = {**synced, **override}
    for n, tag in enumerate(tags):
        if tag not in known:
            raise ApiError(UNMAPPED_TAG, f"tag {tag!r} has no WeCom tag id (no WeCom tag of "
                           "that name in the WeCom group named as its tag group, nor "
                           "SIYU_WECOM_TAG_IDS)", field=f"tags[{n}]")
    return [known[t] for t in tags]


async def _audience(info: Info[Context, None], members: list[dict[str, str]],
                    tags: list[str], day: date) -> tuple[int, int]:
    audience_staff = sorted({*(m["staff_id"] for m in members),
                             *(f"wecom_user:{m['user_id']}" for m in members)})
    return await queries.daily_limit(info.context.services.read_models.pool, audience_staff,
                                     tags, day)


@strawberry.type
class MomentMutation:
    @strawberry.mutation(description="Plan an enterprise moment task for members to post.")
    async def create_moment_task(self, info: Info[Context, None], input: CreateMomentTaskInput
                                 ) -> MomentTaskPayload:
        now = datetime.now(UTC)
        day = _day(input.day, business_day(now))
        if not input.content.strip():
            raise ApiError(BAD_INPUT, "content must not be empty", field="content")
        wecom_tag_ids = await _wecom_tags(info, input.tags)
        members = await _members(info, input)
        audience, at_limit = await _audience(info, members, input.tags, day)
        app, by = info.context.services.app, info.context.principal.actor
        task_id, position = await _run(lambda: app.moments.plan(
            input.content, members, input.tags, day, audience, at_limit, by, now,
            wecom_tag_ids))
        return await _payload(info, task_id, position)

    @strawberry.mutation(description="Cancel a moment task (planned, being created or created "
                                     "at WeCom: the worker stops it there, once WeCom's job "
                                     "finishes).")
    async def cancel_moment_task(self, info: Info[Context, None], input: CancelMomentTaskInput
                                 ) -> MomentTaskPayload:
        task_id = to_uuid(input.id, "id")
        app, by = info.context.services.app, info.context.principal.actor
        position = await _run(lambda: app.moments.cancel(task_id, by, datetime.now(UTC)))
        return await _payload(info, task_id, position)

    @strawberry.mutation(description="Record members' own moments posts (once per member and "
                                     "moment id).")
    async def record_moments_posted(self, info: Info[Context, None],
                                    input: RecordMomentsPostedInput) -> list[MomentPostResult]:
        if not 1 <= len(input.posts) <= MAX_POSTS:
            raise ApiError(BAD_INPUT, f"1-{MAX_POSTS} posts", field="posts")
        app, by = info.context.services.app, info.context.principal.actor
        pool = info.context.services.read_models.pool
        late = datetime.now(UTC) + timedelta(minutes=5)
        results = []
        for post in input.posts:
            status, code = "ACCEPTED", None
            try:
                staff_id = await _staff(pool, str(post.staff_id))
                if post.occurred_at.tzinfo is None or post.occurred_at > late:
                    raise ApiError(BAD_INPUT, "occurredAt must be a past time with a zone",
                                   field="occurredAt")
                new = await _run(partial(app.staff.record_moment_posted, staff_id,
                                         post.moment_id, by, post.occurred_at))
                status = "ACCEPTED" if new else "DUPLICATE"
            except ApiError as error:
                status, code = "REJECTED", error.code
            results.append(MomentPostResult(moment_id=post.moment_id, status=status,
                                            error_code=code))
        return results


async def _staff(pool: Any, given: str) -> UUID:
    """A staff id, or the staff member hired with ``wecom_user:<UserID>``."""
    if given.startswith("wecom_user:"):
        rows = await queries.members(pool, [], [given.removeprefix("wecom_user:")], [])
        if not rows:
            raise ApiError(NOT_A_MEMBER, "no current member with this UserID", field="staffId")
        return UUID(rows[0]["staff_id"])
    return to_uuid(given, "staffId")
