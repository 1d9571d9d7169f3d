"""GraphQL mutations on segments: define, revise, make an auto-tag rule, archive."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID

import strawberry
from anyio import to_thread
from strawberry.types import Info

from api.context import Context
from api.errors import BAD_INPUT, NOT_FOUND, ApiError
from api.segment_rule_input import SegmentRuleInput, parsed_rule
from api.segments import SegmentPayload, reads
from api.types import to_uuid
from application.segments import Segments
from domain.errors import DomainError


@strawberry.input
class DefineSegmentInput:
    name: str
    description: str = ""
    rule: SegmentRuleInput
    auto_tag: str | None = strawberry.field(
        default=None, description="Tag every member, now and as they enter (auto-tag rule).")
    wait_for_projection: bool = False
    timeout_ms: int = 5000


@strawberry.input
class ReviseSegmentInput:
    segment_id: strawberry.ID
    rule: SegmentRuleInput | None = None
    name: str | None = None
    description: str | None = None
    wait_for_projection: bool = False
    timeout_ms: int = 5000


@strawberry.input
class SetSegmentAutoTagInput:
    segment_id: strawberry.ID
    tag: str | None = strawberry.field(default=None, description="Null stops auto-tagging.")
    wait_for_projection: bool = False
    timeout_ms: int = 5000


@strawberry.input
class ArchiveSegmentInput:
    segment_id: strawberry.ID
    wait_for_projection: bool = False
    timeout_ms: int = 5000


async def _projected(info: Info[Context, None], position: int | None, wait: bool,
                     timeout_ms: int) -> bool:
    if position is None:
        return True
    if not wait:
        return False
    if not 0 <= timeout_ms <= 60000:
        raise ApiError(BAD_INPUT, "timeoutMs must be 0-60000", field="timeoutMs")
    tracker = info.context.services.tracker
    return await to_thread.run_sync(
        lambda: tracker.wait("customer_profile", position, timeout_ms / 1000))


async def _built_in(info: Info[Context, None], segment_id: UUID) -> None:
    row = await reads(info).segment(segment_id)
    if row is not None and row["built_in"]:
        raise ApiError(BAD_INPUT, "built-in segments cannot be changed", field="segmentId")


@strawberry.type
class SegmentMutation:
    @strawberry.mutation(description="Define a segment; its membership is evaluated over every "
                                     "customer and then maintained as events arrive.")
    async def define_segment(self, info: Info[Context, None], input: DefineSegmentInput
                             ) -> SegmentPayload:
        rule = parsed_rule(input.rule)
        app = info.context.services.app
        by = info.context.principal.actor
        try:
            segment_id, position = await to_thread.run_sync(
                lambda: app.segments.define(input.name, input.description, rule, by,
                                           datetime.now(UTC), input.auto_tag))
        except DomainError as error:
            raise ApiError(error.code, error.message, field=error.field) from None
        return SegmentPayload(segment_id=strawberry.ID(str(segment_id)),
                              position=strawberry.ID(str(position)),
                              projected=await _projected(info, position,
                                                         input.wait_for_projection,
                                                         input.timeout_ms))

    @strawberry.mutation(description="Record a new version of a segment's rule (or its name "
                                     "or description); membership is re-evaluated.")
    async def revise_segment(self, info: Info[Context, None], input: ReviseSegmentInput
                             ) -> SegmentPayload:
        def revise(segments: Segments, segment_id: UUID, by: str) -> int | None:
            rule = parsed_rule(input.rule) if input.rule is not None else segments.get(
                segment_id).rule
            return segments.revise(segment_id, rule, by, datetime.now(UTC), input.name,
                                   input.description)

        return await _change(info, input.segment_id, input.wait_for_projection,
                             input.timeout_ms, revise)

    @strawberry.mutation(description="Make a segment an auto-tag rule (members get the tag once, "
                                     "those already in included), or stop it with null.")
    async def set_segment_auto_tag(self, info: Info[Context, None],
                                   input: SetSegmentAutoTagInput) -> SegmentPayload:
        return await _change(info, input.segment_id, input.wait_for_projection,
                             input.timeout_ms, lambda segments, sid, by: segments.set_auto_tag(
                                 sid, input.tag, by, datetime.now(UTC)))

    @strawberry.mutation(description="Stop maintaining a segment: every member leaves; its "
                                     "ledger stays readable.")
    async def archive_segment(self, info: Info[Context, None], input: ArchiveSegmentInput
                              ) -> SegmentPayload:
        return await _change(info, input.segment_id, input.wait_for_projection,
                             input.timeout_ms, lambda segments, sid, by: segments.archive(
                                 sid, by, datetime.now(UTC)))


async def _change(info: Info[Context, None], segment: strawberry.ID, wait: bool,
                  timeout_ms: int, command: Callable[[Segments, UUID, str], int | None]
                  ) -> SegmentPayload:
    """A change of an existing, user-defined segment through the application."""
    segment_id = to_uuid(segment, "segmentId")
    await _built_in(info, segment_id)
    segments = info.context.services.app.segments
    by = info.context.principal.actor
    try:
        position = await to_thread.run_sync(lambda: command(segments, segment_id, by))
    except DomainError as error:
        code = NOT_FOUND if error.code == "UNKNOWN_SEGMENT" else error.code
        raise ApiError(code, error.message, field=error.field) from None
    return SegmentPayload(segment_id=segment,
                          position=strawberry.ID(str(position)) if position else None,
                          projected=await _projected(info, position, wait, timeout_ms))
