"""Content (内容) over GraphQL: pieces, their figures per piece, author and kind, and the
cadence against plan.

Company managers, content operators and copywriters publish; managers, operators and
auditors read the figures (they name authors; no customer's personal data). Figures are
defined in docs/content.md and computed by :mod:`projections.content.queries`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from api.commands import run_command
from api.context import Context
from api.errors import BAD_INPUT, NOT_FOUND, ApiError, forbidden
from api.policy import Access
from api.projection_wait import caught_up
from api.types import Long, to_uuid
from domain.content import ContentSpec
from projections.content import queries

VIEW = "content"
MAX_PAGE = 200
LONGEST_RANGE = timedelta(days=400)
WRITER_ROLES = frozenset({"content_operator", "copywriter"})
_CODES = {"INVALID_INPUT": BAD_INPUT, "UNKNOWN_CONTENT": NOT_FOUND}
Row = dict[str, Any]


@strawberry.enum
class ContentKind(Enum):
    ARTICLE = "article"
    VIDEO = "video"
    MOMENTS_POST = "moments_post"
    LIVE_REPLAY = "live_replay"


@strawberry.enum
class ContentGrouping(Enum):
    PIECE = "piece"
    AUTHOR = "author"
    OPERATOR = "operator"
    KIND = "kind"


@strawberry.type(description="A published piece (read model `content`).")
class ContentPiece:
    content_id: str = strawberry.field(description="The reference its customer events carry.")
    kind: ContentKind
    title: str
    author_id: strawberry.ID
    operator_id: strawberry.ID | None
    topics: list[str]
    published_at: datetime
    withdrawn_at: datetime | None

    @classmethod
    def from_row(cls, row: Row) -> ContentPiece:
        operator = row["operator_id"]
        return cls(content_id=row["reference"], kind=ContentKind(row["kind"]),
                   title=row["title"], author_id=strawberry.ID(row["author_id"]),
                   operator_id=None if operator is None else strawberry.ID(operator),
                   topics=list(row["topics"]), published_at=row["published_at"],
                   withdrawn_at=row["withdrawn_at"])


@strawberry.type(description="The figures of one piece, author or kind over a period "
                             "(docs/content.md, \"Figures\").")
class ContentFigures:
    key: str | None = strawberry.field(
        description="The piece's contentId, the author's or operator's staff id or the "
                    "kind; null: references no piece is registered under, or pieces "
                    "without an operator (by operator).")
    produced: int
    views: int = strawberry.field(description="Reads or plays (CONTENT_VIEWED).")
    readers: int = strawberry.field(description="Distinct customers who viewed.")
    seconds: Long = strawberry.field(description="Reported time on the pieces.")
    forwards: int
    comments: int
    friend_adds: int = strawberry.field(description="Credited, last touch within 24 hours.")
    follows: int = strawberry.field(description="Official-account follows credited, 24 hours.")
    orders: int = strawberry.field(description="Paid orders credited, last touch in 7 days.")
    gmv_fen: Long = strawberry.field(description="Those orders' paid amounts less refunds.")

    @classmethod
    def from_row(cls, row: Row) -> ContentFigures:
        return cls(key=row["key"], **{k: int(row[k]) for k in (
            "produced", "views", "readers", "forwards", "comments", "friend_adds",
            "follows", "orders")}, seconds=Long(int(row["seconds"])),
            gmv_fen=Long(int(row["gmv_fen"])))


@strawberry.type(description="A cadence plan over a period: pieces planned (perWeek * "
                             "weeks) and published.")
class ContentCadenceFigure:
    kind: ContentKind
    author_id: strawberry.ID | None = strawberry.field(description="Null: the brand's plan.")
    per_week: int
    planned: float
    produced: int
    achievement: float | None = strawberry.field(description="produced ÷ planned (unrounded).")


@strawberry.input(description="A piece: its reference (the contentId its customer events "
                              "carry), kind, title, author and when it was published.")
class PublishContentInput:
    content_id: str
    kind: ContentKind
    title: str
    author_id: strawberry.ID
    published_at: datetime
    operator_id: strawberry.ID | None = None
    topics: list[str] = strawberry.field(default_factory=list)


@strawberry.type
class ContentPayload:
    piece: ContentPiece | None
    outcome: str | None = strawberry.field(
        description="publishContent: published | revised | unchanged.")
    projected: bool


def _writer(info: Info[Context, None]) -> None:
    principal = info.context.principal
    if not (principal.access is Access.COMPANY_MANAGER or principal.role in WRITER_ROLES):
        raise forbidden("content is published by managers, content operators and copywriters")


def _staff(value: strawberry.ID | None, field: str) -> str | None:
    return None if value is None else str(to_uuid(value, field))


async def _run(command: Callable[[], Any]) -> Any:
    return await run_command(command, _CODES)


async def _payload(info: Info[Context, None], reference: str, position: int | None,
                   outcome: str | None = None) -> ContentPayload:
    done = await caught_up(info, VIEW, position)
    row = await queries.piece(info.context.services.read_models.pool, reference.strip())
    return ContentPayload(piece=ContentPiece.from_row(row) if row else None, outcome=outcome,
                          projected=done)


def _range(starts_at: datetime, ends_at: datetime) -> None:
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise ApiError(BAD_INPUT, "from and to need a time zone", field="from")
    if not starts_at < ends_at <= starts_at + LONGEST_RANGE:
        raise ApiError(BAD_INPUT, f"to must be after from, at most {LONGEST_RANGE.days} days "
                                  "later", field="to")


@strawberry.type
class ContentQuery:
    @strawberry.field(description="Pieces, newest first.")
    async def content_pieces(self, info: Info[Context, None], kind: ContentKind | None = None,
                             author_id: strawberry.ID | None = None,
                             include_withdrawn: bool = False, first: int = 50
                             ) -> list[ContentPiece]:
        if not 1 <= first <= MAX_PAGE:
            raise ApiError(BAD_INPUT, f"first must be between 1 and {MAX_PAGE}", field="first")
        rows = await queries.pieces(info.context.services.read_models.pool,
                                    kind=None if kind is None else kind.value,
                                    author=_staff(author_id, "authorId"),
                                    include_withdrawn=include_withdrawn, limit=first)
        return [ContentPiece.from_row(r) for r in rows]

    @strawberry.field(description="Figures of [from, to) per piece, author, operator or "
                                  "kind.")
    async def content_figures(self, info: Info[Context, None], by: ContentGrouping,
                              from_: Annotated[datetime, strawberry.argument(name="from")],
                              to: datetime, kind: ContentKind | None = None,
                              author_id: strawberry.ID | None = None) -> list[ContentFigures]:
        _range(from_, to)
        rows = await queries.figures(info.context.services.read_models.pool, by=by.value,
                                     starts_at=from_, ends_at=to,
                                     kind=None if kind is None else kind.value,
                                     author=_staff(author_id, "authorId"))
        return [ContentFigures.from_row(r) for r in rows]

    @strawberry.field(description="Every cadence plan against the pieces published in "
                                  "[from, to).")
    async def content_cadence(self, info: Info[Context, None],
                              from_: Annotated[datetime, strawberry.argument(name="from")],
                              to: datetime) -> list[ContentCadenceFigure]:
        _range(from_, to)
        rows = await queries.cadence(info.context.services.read_models.pool, from_, to)
        return [ContentCadenceFigure(
            kind=ContentKind(r["kind"]), per_week=r["per_week"],
            author_id=None if r["author_id"] is None else strawberry.ID(r["author_id"]),
            planned=float(r["planned"]), produced=int(r["produced"]),
            achievement=int(r["produced"]) / float(r["planned"]) if r["planned"] else None)
            for r in rows]


@strawberry.type
class ContentMutation:
    @strawberry.mutation(description="Publish a piece, or revise it when its contentId is "
                                     "published already (the kind never changes).")
    async def publish_content(self, info: Info[Context, None], input: PublishContentInput
                              ) -> ContentPayload:
        _writer(info)
        app, by = info.context.services.app, info.context.principal.actor
        spec = ContentSpec(input.title, str(_staff(input.author_id, "authorId")),
                           _staff(input.operator_id, "operatorId"), tuple(input.topics))
        outcome, position = await _run(lambda: app.contents.publish(
            input.content_id, input.kind.value, spec, input.published_at, by,
            datetime.now(UTC)))
        return await _payload(info, input.content_id, position, outcome)

    @strawberry.mutation(description="Withdraw a piece; its figures still count.")
    async def withdraw_content(self, info: Info[Context, None], content_id: str, reason: str
                               ) -> ContentPayload:
        _writer(info)
        app, by = info.context.services.app, info.context.principal.actor
        position = await _run(lambda: app.contents.withdraw(content_id, reason, by,
                                                            datetime.now(UTC)))
        return await _payload(info, content_id, position)

    @strawberry.mutation(description="Plan perWeek pieces of a kind, brand-wide or for one "
                                     "author (0 ends the plan's expectations).")
    async def set_content_cadence(self, info: Info[Context, None], kind: ContentKind,
                                  per_week: int, author_id: strawberry.ID | None = None
                                  ) -> bool:
        _writer(info)
        app, by = info.context.services.app, info.context.principal.actor
        author = _staff(author_id, "authorId")
        position = await _run(lambda: app.contents.set_cadence(kind.value, author, per_week,
                                                               by, datetime.now(UTC)))
        return await caught_up(info, VIEW, position)
