"""Tag groups (标签组) and manual tagging over GraphQL.

Managers and service principals manage the tag library; front-line staff tag
and untag the customers who are currently their friends (any other customer
is ``NOT_FOUND`` to them, as in ``customer(id:)``); customers may do neither.
Every mutation waits (a few seconds at most) for its read model, so the
answer shows the change.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import strawberry
from anyio import to_thread
from strawberry.types import Info

from api.context import Context
from api.customer_types import Customer
from api.errors import BAD_INPUT, NOT_FOUND, ApiError, forbidden
from api.projection_wait import caught_up
from api.types import to_uuid
from domain.errors import DomainError
from projections.tag_groups import queries

#: How long a mutation waits for its read model before answering without it.
_NOT_FOUND_CODES = frozenset({"UNKNOWN_TAG_GROUP", "UNKNOWN_CUSTOMER"})

Row = dict[str, Any]


@strawberry.type(description="A tag group (标签组) of the tag library.")
class TagGroup:
    row: strawberry.Private[Row]
    id: strawberry.ID
    name: str
    tags: list[str] = strawberry.field(description="In the order they were added.")
    exclusive: bool = strawberry.field(
        description="A customer holds at most one of these tags.")
    archived_at: datetime | None = strawberry.field(
        description="Archived groups' tags can no longer be given.")
    created_by: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Row) -> TagGroup:
        return cls(row=row, id=strawberry.ID(str(row["group_id"])), name=row["name"],
                   tags=list(row["tags"]), exclusive=row["exclusive"],
                   archived_at=row["archived_at"], created_by=row["created_by"],
                   created_at=row["created_at"], updated_at=row["updated_at"])


@strawberry.input
class CreateTagGroupInput:
    name: str
    tags: list[str]
    exclusive: bool = False


@strawberry.input
class RenameTagGroupInput:
    group_id: strawberry.ID
    name: str


@strawberry.input
class AddTagsToGroupInput:
    group_id: strawberry.ID
    tags: list[str]


@strawberry.input
class RemoveTagFromGroupInput:
    group_id: strawberry.ID
    tag: str


@strawberry.input
class ArchiveTagGroupInput:
    group_id: strawberry.ID


@strawberry.input
class TagCustomerInput:
    customer_id: strawberry.ID
    tags: list[str]
    reason: str = strawberry.field(default="manual", description="Why (shown in tagDetails).")


@strawberry.type
class TagGroupPayload:
    group: TagGroup | None = strawberry.field(
        description="The group as the read model shows it (null if it is not there yet).")
    projected: bool = strawberry.field(description="True when the group shows the change.")


@strawberry.type
class TagCustomerPayload:
    customer: Customer | None = strawberry.field(
        description="The customer as its profile shows it (null if not visible to you).")
    projected: bool = strawberry.field(description="True when the profile shows the change.")




def _api_error(error: DomainError) -> ApiError:
    if error.code in _NOT_FOUND_CODES:
        return ApiError(NOT_FOUND, error.message, field=error.field)
    if error.code == "INVALID_INPUT":
        return ApiError(BAD_INPUT, error.message, field=error.field)
    return ApiError(error.code, error.message, field=error.field)


async def _run(command: Callable[[], Any]) -> Any:
    try:
        return await to_thread.run_sync(command)
    except DomainError as error:
        raise _api_error(error) from None



async def _group_payload(info: Info[Context, None], group_id: UUID,
                         position: int | None) -> TagGroupPayload:
    projected = await caught_up(info, "tag_group", position)
    row = await queries.group(info.context.services.read_models.pool, group_id)
    return TagGroupPayload(group=TagGroup.from_row(row) if row else None,
                           projected=projected)


async def _tagging_target(info: Info[Context, None], customer_id: strawberry.ID) -> UUID:
    """The customer, if this principal may tag them; NOT_FOUND for staff's non-friends."""
    principal = info.context.principal
    if principal.kind not in ("staff", "service"):
        raise forbidden("tagging customers is for staff and service principals")
    cid = to_uuid(customer_id, "customerId")
    if principal.sees_everyone:
        return cid
    row = await info.context.services.read_models.profile(cid)
    if row is None or not principal.may_see(cid, list(row["current_staff_ids"])):
        raise ApiError(NOT_FOUND, "no such customer among your friends", field="customerId")
    return cid


async def _customer_payload(info: Info[Context, None], customer_id: UUID,
                            position: int | None) -> TagCustomerPayload:
    projected = await caught_up(info, "customer_profile", position)
    row = await info.context.services.read_models.profile(customer_id)
    principal = info.context.principal
    visible = row is not None and principal.may_see(customer_id, list(row["current_staff_ids"]))
    return TagCustomerPayload(customer=Customer.from_row(row) if row and visible else None,
                              projected=projected)


@strawberry.type
class TagGroupQuery:
    @strawberry.field(description="The tag library, oldest group first (staff and service).")
    async def tag_groups(self, info: Info[Context, None], include_archived: bool = False
                         ) -> list[TagGroup]:
        rows = await queries.groups(info.context.services.read_models.pool, include_archived=include_archived)
        return [TagGroup.from_row(r) for r in rows]

    @strawberry.field(description="One tag group (archived ones too).")
    async def tag_group(self, info: Info[Context, None], id: strawberry.ID) -> TagGroup | None:
        row = await queries.group(info.context.services.read_models.pool, to_uuid(id, "id"))
        return TagGroup.from_row(row) if row else None


@strawberry.type
class TagGroupMutation:
    @strawberry.mutation(description="Create a tag group; a tag belongs to one live group at "
                                     "most (TAG_IN_OTHER_GROUP).")
    async def create_tag_group(self, info: Info[Context, None], input: CreateTagGroupInput
                               ) -> TagGroupPayload:
        app, by = info.context.services.app, info.context.principal.actor
        group_id, position = await _run(lambda: app.tags.create_group(
            input.name, input.tags, input.exclusive, by, datetime.now(UTC)))
        return await _group_payload(info, group_id, position)

    @strawberry.mutation(description="Rename a tag group.")
    async def rename_tag_group(self, info: Info[Context, None], input: RenameTagGroupInput
                               ) -> TagGroupPayload:
        group_id = to_uuid(input.group_id, "groupId")
        app, by = info.context.services.app, info.context.principal.actor
        position = await _run(
            lambda: app.tags.rename_group(group_id, input.name, by, datetime.now(UTC)))
        return await _group_payload(info, group_id, position)

    @strawberry.mutation(description="Add tags to a group (those it holds are skipped).")
    async def add_tags_to_group(self, info: Info[Context, None], input: AddTagsToGroupInput
                                ) -> TagGroupPayload:
        group_id = to_uuid(input.group_id, "groupId")
        app, by = info.context.services.app, info.context.principal.actor
        position = await _run(
            lambda: app.tags.add_to_group(group_id, input.tags, by, datetime.now(UTC)))
        return await _group_payload(info, group_id, position)

    @strawberry.mutation(description="Remove a tag from a group: customers keep it, as a free "
                                     "tag.")
    async def remove_tag_from_group(self, info: Info[Context, None],
                                    input: RemoveTagFromGroupInput) -> TagGroupPayload:
        group_id = to_uuid(input.group_id, "groupId")
        app, by = info.context.services.app, info.context.principal.actor
        position = await _run(
            lambda: app.tags.remove_from_group(group_id, input.tag, by, datetime.now(UTC)))
        return await _group_payload(info, group_id, position)

    @strawberry.mutation(description="Archive a tag group: its tags can no longer be given.")
    async def archive_tag_group(self, info: Info[Context, None], input: ArchiveTagGroupInput
                                ) -> TagGroupPayload:
        group_id = to_uuid(input.group_id, "groupId")
        app, by = info.context.services.app, info.context.principal.actor
        position = await _run(lambda: app.tags.archive_group(group_id, by, datetime.now(UTC)))
        return await _group_payload(info, group_id, position)

    @strawberry.mutation(description="Tag a customer (who and why are recorded). In an "
                                     "exclusive group the tag replaces the one held.")
    async def tag_customer(self, info: Info[Context, None], input: TagCustomerInput
                           ) -> TagCustomerPayload:
        cid = await _tagging_target(info, input.customer_id)
        app, by = info.context.services.app, info.context.principal.actor
        position = await _run(lambda: app.tags.tag(cid, input.tags, by, input.reason,
                                                       datetime.now(UTC)))
        return await _customer_payload(info, cid, position)

    @strawberry.mutation(description="Remove tags from a customer (those not held are "
                                     "ignored).")
    async def untag_customer(self, info: Info[Context, None], input: TagCustomerInput
                             ) -> TagCustomerPayload:
        cid = await _tagging_target(info, input.customer_id)
        app, by = info.context.services.app, info.context.principal.actor
        position = await _run(lambda: app.tags.untag(cid, input.tags, by, input.reason,
                                                         datetime.now(UTC)))
        return await _customer_payload(info, cid, position)
