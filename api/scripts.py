"""The chat-script library (话术库) over GraphQL.

Every staff member reads and searches scripts (by scenario, by a keyword found in the
title, body or keywords); managers, service principals, chief chat officers
(首席聊天师) and copywriters write them. Each edit is a new version; ``chatScript``
lists every version. Uses are reported with the ``SCRIPT_USED`` ingestion type (or
``recordScriptUse``) and counted per staff member. Reads come from ``chat_script``,
``chat_script_version`` and ``chat_script_usage``.
"""

from __future__ import annotations

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
from api.errors import BAD_INPUT, NOT_FOUND, ApiError, forbidden
from api.projection_wait import caught_up
from api.read_models import decode_cursor, encode_cursor
from api.types import PageInfo, to_uuid
from projections.chat_scripts import queries

MAX_PAGE = 200
VIEW = "chat_script"
EDITOR_ROLES = frozenset({"chief_chat_officer", "copywriter"})
Row = dict[str, Any]


@strawberry.enum
class ScriptKind(Enum):
    SCRIPT = "script"
    SOP = "sop"


@strawberry.type
class ChatScriptVersion:
    version: int
    scenario: str
    title: str
    body: str
    keywords: list[str]
    by: str
    at: datetime


@strawberry.type
class ScriptUsage:
    staff_id: strawberry.ID
    uses: int
    last_used_at: datetime


@strawberry.type(description="A script or SOP reply of the library, at its current version.")
class ChatScript:
    id: strawberry.ID
    kind: ScriptKind
    scenario: str
    title: str
    body: str
    keywords: list[str]
    version: int
    updated_by: str
    updated_at: datetime
    archived: bool
    uses: int = strawberry.field(description="Uses by every staff member.")

    @classmethod
    def from_row(cls, row: Row) -> ChatScript:
        return cls(id=strawberry.ID(str(row["script_id"])), kind=ScriptKind(row["kind"]),
                   scenario=row["scenario"], title=row["title"], body=row["body"],
                   keywords=list(row["keywords"]), version=row["version"],
                   updated_by=row["updated_by"], updated_at=row["updated_at"],
                   archived=row["archived_at"] is not None, uses=int(row["uses"]))

    @strawberry.field(description="Every version, oldest first.")
    async def versions(self, info: Info[Context, None]) -> list[ChatScriptVersion]:
        rows = await queries.versions(info.context.services.read_models.pool, UUID(str(self.id)))
        return [ChatScriptVersion(version=r["version"], scenario=r["scenario"], title=r["title"],
                                  body=r["body"], keywords=list(r["keywords"]), by=r["by"],
                                  at=r["at"]) for r in rows]

    @strawberry.field(description="Uses per staff member, most first (front-line staff: "
                                  "their own only).")
    async def usage(self, info: Info[Context, None]) -> list[ScriptUsage]:
        principal = info.context.principal
        mine = None if principal.sees_everyone else principal.subject_id
        rows = await queries.usage(info.context.services.read_models.pool, str(self.id), mine)
        return [ScriptUsage(staff_id=strawberry.ID(r["staff_id"]), uses=r["uses"],
                            last_used_at=r["last_used_at"]) for r in rows]


@strawberry.type
class ChatScriptEdge:
    cursor: str
    node: ChatScript


@strawberry.type
class ChatScriptConnection:
    edges: list[ChatScriptEdge]
    page_info: PageInfo


@strawberry.input
class CreateChatScriptInput:
    scenario: str
    title: str
    body: str
    keywords: list[str] = strawberry.field(default_factory=list)
    kind: ScriptKind = ScriptKind.SCRIPT


@strawberry.input
class ReviseChatScriptInput:
    script_id: strawberry.ID
    scenario: str
    title: str
    body: str
    keywords: list[str] = strawberry.field(default_factory=list)


@strawberry.input
class ArchiveChatScriptInput:
    script_id: strawberry.ID


@strawberry.input
class RecordScriptUseInput:
    script_id: strawberry.ID
    customer_id: strawberry.ID = strawberry.field(description="The customer it was used with.")
    version: int | None = None


@strawberry.type
class ChatScriptPayload:
    script: ChatScript | None
    projected: bool



def _editor(info: Info[Context, None]) -> None:
    principal = info.context.principal
    if principal.access is policy.Access.FRONTLINE and principal.role not in EDITOR_ROLES:
        raise forbidden("scripts are written by managers, chief chat officers and copywriters")


_CODES = {"UNKNOWN_SCRIPT": NOT_FOUND, "UNKNOWN_CUSTOMER": NOT_FOUND, "INVALID_INPUT": BAD_INPUT}


async def _run(command: Callable[[], Any]) -> Any:
    return await run_command(command, _CODES)


async def _payload(info: Info[Context, None], script_id: UUID, position: int | None
                   ) -> ChatScriptPayload:
    projected = await caught_up(info, VIEW, position)
    row = await queries.script(info.context.services.read_models.pool, script_id)
    return ChatScriptPayload(script=ChatScript.from_row(row) if row else None,
                             projected=projected)


async def _friends(info: Info[Context, None], customer_id: UUID) -> list[str]:
    row = await info.context.services.read_models.profile(customer_id)
    return [] if row is None else list(row["current_staff_ids"])


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


@strawberry.type
class ScriptQuery:
    @strawberry.field(description="Scripts, newest first, by scenario and/or keyword "
                                  "(found in the title, body or keywords, any case).")
    async def chat_scripts(self, info: Info[Context, None], scenario: str | None = None,
                           keyword: str | None = None, include_archived: bool = False,
                           first: int = 50, after: str | None = None) -> ChatScriptConnection:
        if not 1 <= first <= MAX_PAGE:
            raise ApiError(BAD_INPUT, f"first must be between 1 and {MAX_PAGE}", field="first")
        try:
            before = None if after is None else decode_cursor("s", after)
        except ValueError:
            raise ApiError(BAD_INPUT, "after is not a cursor of this list", field="after") from None
        like = None if not keyword else _like(keyword.strip())
        rows = await queries.scripts(info.context.services.read_models.pool, scenario=scenario, like=like,
                                     include_archived=include_archived, before=before,
                                     limit=first + 1)
        edges = [ChatScriptEdge(cursor=encode_cursor("s", r["position"]),
                                node=ChatScript.from_row(r)) for r in rows[:first]]
        return ChatScriptConnection(edges=edges, page_info=PageInfo(
            has_next_page=len(rows) > first, end_cursor=edges[-1].cursor if edges else None))

    @strawberry.field(description="One script (null if unknown).")
    async def chat_script(self, info: Info[Context, None], id: strawberry.ID
                          ) -> ChatScript | None:
        row = await queries.script(info.context.services.read_models.pool, to_uuid(id, "id"))
        return ChatScript.from_row(row) if row else None

    @strawberry.field(description="Scenarios in use, with their live script counts.")
    async def script_scenarios(self, info: Info[Context, None]) -> list[str]:
        return await queries.scenarios(info.context.services.read_models.pool)


@strawberry.type
class ScriptMutation:
    @strawberry.mutation(description="Add a script or SOP reply to the library (version 1).")
    async def create_chat_script(self, info: Info[Context, None], input: CreateChatScriptInput
                                 ) -> ChatScriptPayload:
        _editor(info)
        app, by = info.context.services.app, info.context.principal.actor
        script_id, position = await _run(lambda: app.chat_scripts.create(
            input.scenario, input.title, input.body, input.keywords, input.kind.value, by,
            datetime.now(UTC)))
        return await _payload(info, script_id, position)

    @strawberry.mutation(description="Edit a script: a new version (a no-op if unchanged).")
    async def revise_chat_script(self, info: Info[Context, None], input: ReviseChatScriptInput
                                 ) -> ChatScriptPayload:
        _editor(info)
        sid = to_uuid(input.script_id, "scriptId")
        app, by = info.context.services.app, info.context.principal.actor
        position = await _run(lambda: app.chat_scripts.revise(
            sid, input.scenario, input.title, input.body, input.keywords, by,
            datetime.now(UTC)))
        return await _payload(info, sid, position)

    @strawberry.mutation(description="Archive a script: no longer offered, history kept.")
    async def archive_chat_script(self, info: Info[Context, None],
                                  input: ArchiveChatScriptInput) -> ChatScriptPayload:
        _editor(info)
        sid = to_uuid(input.script_id, "scriptId")
        app, by = info.context.services.app, info.context.principal.actor
        position = await _run(lambda: app.chat_scripts.archive(sid, by, datetime.now(UTC)))
        return await _payload(info, sid, position)

    @strawberry.mutation(description="Record that the calling staff member used a script "
                                     "with a customer (SCRIPT_USED on that customer).")
    async def record_script_use(self, info: Info[Context, None], input: RecordScriptUseInput
                                ) -> ChatScriptPayload:
        principal = info.context.principal
        if principal.kind != "staff":
            raise forbidden("script uses are recorded by staff members (or with SCRIPT_USED)")
        sid = to_uuid(input.script_id, "scriptId")
        cid = to_uuid(input.customer_id, "customerId")
        if not principal.may_see(cid, await _friends(info, cid)):
            raise ApiError(NOT_FOUND, "no such customer among yours", field="customerId")
        app = info.context.services.app
        position = await _run(lambda: app.chat_scripts.record_use(
            cid, principal.subject_id, sid, input.version, principal.actor, datetime.now(UTC)))
        return await _payload(info, sid, position)
