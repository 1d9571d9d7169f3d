"""Channel codes (渠道活码) over GraphQL: list, create, change, delete.

Managers, user operators, activity planners and service principals manage codes; every
staff member may read them — a department manager or a front-line member only the codes
that route to someone of their department, listing only those members. Members are
given as WeCom UserIDs, each resolved to the staff member hired with it; one that is no
current member is refused with
``NOT_A_MEMBER`` (field ``userIds``), an unknown code with ``UNKNOWN_CHANNEL_CODE``, a
deleted one with ``CHANNEL_CODE_DELETED``, bad values with ``BAD_INPUT``. WeCom is told by
the worker (``wecomStatus`` goes ``PENDING`` → ``REGISTERED`` with ``qrCode``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import strawberry
from strawberry.types import Info

from api.commands import run_command
from api.context import Context
from api.errors import BAD_INPUT, ApiError, forbidden
from api.projection_wait import caught_up
from api.team_scope import team_scope
from api.types import to_uuid
from domain.channel_code import NotAMember
from projections.channel_codes import queries

#: Who may manage codes besides managers and service principals (growth operators).
OPERATOR_ROLES = frozenset({"user_operator", "activity_planner"})

Row = dict[str, Any]


@strawberry.type(description="A channel QR code (渠道活码): WeCom's 「联系我」 contact way for "
                             "one channel. Adds through it are attributed to its channel.")
class ChannelCode:
    id: strawberry.ID
    state: str = strawberry.field(description="The contact way's state (≤ 30 characters): "
                                              "WeCom's add callbacks carry it as State.")
    name: str
    channel: str = strawberry.field(description="Fixed at creation; channels nest "
                                                "(qr:store-shanghai-01 is under qr).")
    user_ids: list[str] = strawberry.field(description="Members' WeCom UserIDs.")
    staff_ids: list[strawberry.ID]
    welcome_text: str | None = strawberry.field(
        description="Sent to who adds through the code (else the channel's text).")
    tags: list[str] = strawberry.field(description="Given to who adds through the code.")
    skip_verify: bool
    wecom_status: str = strawberry.field(description="PENDING (WeCom not told yet), "
                                                     "REGISTERED, REFUSED or REMOVED.")
    refused_reason: str | None
    in_sync: bool = strawberry.field(description="WeCom has the code's latest change.")
    qr_code: str | None = strawberry.field(description="The QR code's URL, once registered.")
    config_id: str | None = strawberry.field(description="WeCom's contact way id.")
    friends_added: int = strawberry.field(description="Friend adds through the code, ever.")
    last_added_at: datetime | None
    deleted_at: datetime | None
    created_by: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: Row) -> ChannelCode:
        return cls(id=strawberry.ID(str(row["code_id"])), state=row["state"], name=row["name"],
                   channel=row["channel"], user_ids=list(row["user_ids"]),
                   staff_ids=[strawberry.ID(s) for s in row["staff_ids"]],
                   welcome_text=row["welcome_text"], tags=list(row["tags"]),
                   skip_verify=row["skip_verify"], wecom_status=row["wecom_status"].upper(),
                   refused_reason=row["refused_reason"],
                   in_sync=row["synced_revision"] >= row["revision"],
                   qr_code=row["qr_code"], config_id=row["config_id"],
                   friends_added=int(row["friends_added"]), last_added_at=row["last_added_at"],
                   deleted_at=row["deleted_at"], created_by=row["created_by"],
                   created_at=row["created_at"])


@strawberry.input
class CreateChannelCodeInput:
    name: str = strawberry.field(description="1-30 characters (WeCom's remark).")
    channel: str = strawberry.field(description="e.g. qr:store-shanghai-01")
    user_ids: list[str] = strawberry.field(description="1-100 members' WeCom UserIDs.")
    welcome_text: str | None = None
    tags: list[str] = strawberry.field(default_factory=list)
    skip_verify: bool = strawberry.field(default=True, description="Adds need no approval.")


@strawberry.input
class UpdateChannelCodeInput:
    code_id: strawberry.ID
    name: str | None = None
    user_ids: list[str] | None = None
    welcome_text: str | None = strawberry.field(
        default=None, description="\"\" removes the code's own text.")
    tags: list[str] | None = None
    skip_verify: bool | None = None


@strawberry.type
class ChannelCodePayload:
    code: ChannelCode | None = strawberry.field(
        description="As the read model shows it (null if it is not there yet).")
    projected: bool


def _manager(info: Info[Context, None]) -> None:
    principal = info.context.principal
    if not (principal.sees_everyone or principal.role in OPERATOR_ROLES):
        raise forbidden("channel codes are managed by managers and operators")


def _reader(info: Info[Context, None]) -> None:
    if info.context.principal.kind not in ("staff", "service"):
        raise forbidden("channel codes are for staff and service principals")


async def _run(command: Callable[[], Any]) -> Any:
    return await run_command(command, {"INVALID_INPUT": BAD_INPUT})


async def _members(info: Info[Context, None], user_ids: list[str]) -> dict[str, str]:
    """UserID -> staff id, through the staff directory (the application checks again)."""
    found: dict[str, str] = {}
    for user_id in user_ids:
        staff = await info.context.services.read_models.staff_for_wecom_user(user_id.strip())
        if staff is None:
            error = NotAMember(f"{user_id!r} is not the WeCom UserID of a staff member",
                               field="userIds")
            raise ApiError(error.code, error.message, field=error.field)
        found[user_id.strip()] = str(staff)
    return found


async def _payload(info: Info[Context, None], code_id: UUID, position: int | None
                   ) -> ChannelCodePayload:
    projected = await caught_up(info, "channel_code", position)
    row = await queries.code(info.context.services.read_models.pool, code_id)
    return ChannelCodePayload(code=ChannelCode.from_row(row) if row else None,
                              projected=projected)


def _within_team(info: Info[Context, None], row: Row) -> Row | None:
    """A code as ``info``'s principal may see it: whole for those who see every staff
    member; for a department manager or a front-line member, only a code that routes to
    someone of their department, listing only those members (None for any other code)."""
    team = team_scope(info.context.principal)
    if team.everyone:
        return row
    kept = [(u, s) for u, s in zip(row["user_ids"], row["staff_ids"], strict=True)
            if team.covers_staff(str(s))]
    if not kept:
        return None
    return {**row, "user_ids": [u for u, _ in kept], "staff_ids": [s for _, s in kept]}


@strawberry.type
class ChannelCodeQuery:
    @strawberry.field(description="Channel codes, oldest first; channel: that channel and "
                                  "those under it.")
    async def channel_codes(self, info: Info[Context, None], channel: str | None = None,
                            include_deleted: bool = False) -> list[ChannelCode]:
        _reader(info)
        rows = await queries.codes(info.context.services.read_models.pool, channel=channel,
                                   include_deleted=include_deleted)
        seen = (_within_team(info, r) for r in rows)
        return [ChannelCode.from_row(r) for r in seen if r is not None]

    @strawberry.field(description="One channel code (deleted ones too).")
    async def channel_code(self, info: Info[Context, None], id: strawberry.ID
                           ) -> ChannelCode | None:
        _reader(info)
        row = await queries.code(info.context.services.read_models.pool, to_uuid(id, "id"))
        seen = None if row is None else _within_team(info, row)
        return ChannelCode.from_row(seen) if seen else None


@strawberry.type
class ChannelCodeMutation:
    @strawberry.mutation(description="Create a channel code; WeCom's contact way is created "
                                     "by the worker (add_contact_way).")
    async def create_channel_code(self, info: Info[Context, None],
                                  input: CreateChannelCodeInput) -> ChannelCodePayload:
        _manager(info)
        members = await _members(info, input.user_ids)
        app, by = info.context.services.app, info.context.principal.actor
        code_id, position = await _run(lambda: app.channel_codes.create(
            input.name, input.channel, members, input.welcome_text, input.tags,
            input.skip_verify, by, datetime.now(UTC)))
        return await _payload(info, code_id, position)

    @strawberry.mutation(description="Change a code's name, members, welcome text, tags or "
                                     "verification (null: keep); its channel is fixed.")
    async def update_channel_code(self, info: Info[Context, None],
                                  input: UpdateChannelCodeInput) -> ChannelCodePayload:
        _manager(info)
        code_id = to_uuid(input.code_id, "codeId")
        members = None if input.user_ids is None else await _members(info, input.user_ids)
        app, by = info.context.services.app, info.context.principal.actor
        position = await _run(lambda: app.channel_codes.change(
            code_id, input.name, members, input.welcome_text, input.tags, input.skip_verify,
            by, datetime.now(UTC)))
        return await _payload(info, code_id, position)

    @strawberry.mutation(description="Delete a code: WeCom's contact way is deleted by the "
                                     "worker; adds already made keep their attribution.")
    async def delete_channel_code(self, info: Info[Context, None], code_id: strawberry.ID
                                  ) -> ChannelCodePayload:
        _manager(info)
        cid = to_uuid(code_id, "codeId")
        app, by = info.context.services.app, info.context.principal.actor
        position = await _run(lambda: app.channel_codes.delete(cid, by, datetime.now(UTC)))
        return await _payload(info, cid, position)
