"""The customer-group directory (客户群) over GraphQL: ``customerGroups``, from the
``customer_group`` read model (:mod:`projections.customer_groups`).

Group campaigns (:mod:`api.group_campaigns`) choose their groups from it: by owner, by
segment (groups holding the segment's members) or by chat id."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

import strawberry
from strawberry.types import Info

from api.context import Context
from api.errors import BAD_INPUT, ApiError
from api.types import PageInfo
from projections.customer_groups import queries

MAX_PAGE = 200
MAX_MEMBERS = 500

Row = dict[str, Any]


@strawberry.type(description="A WeCom customer group (客户群), as WeCom's group callbacks "
                             "and the group sync (groupchat/list, groupchat/get) recorded it.")
class CustomerGroup:
    row: strawberry.Private[Row]
    group_id: str = strawberry.field(description="WeCom's chat id.")
    name: str | None = strawberry.field(description=(
        "The group's name in WeCom (the group sync); null until synced."))
    owner_user_id: str | None = strawberry.field(description=(
        "The owner's (群主) WeCom UserID; null while the group is known only from a customer "
        "seen joining it (WeCom's creation callback not recorded): such a group cannot be "
        "sent to."))
    created_at: datetime | None
    dismissed_at: datetime | None
    member_count: int = strawberry.field(description=(
        "Customers known in the group now (staff are not counted, nor customers who joined "
        "before the platform received WeCom's callbacks)."))
    customer_count: int | None = strawberry.field(description=(
        "Customers (external contacts) in the group as WeCom counts them (the group sync); "
        "null until synced."))
    staff_count: int | None = strawberry.field(description=(
        "Corp members in the group as WeCom counts them (the group sync); null until "
        "synced."))

    @strawberry.field(description="The customers known in the group, oldest join first.")
    async def customer_ids(self, info: Info[Context, None], first: int = 50
                           ) -> list[strawberry.ID]:
        if not 1 <= first <= MAX_MEMBERS:
            raise ApiError(BAD_INPUT, f"first must be 1-{MAX_MEMBERS}", field="first")
        found = await queries.members(info.context.services.read_models.pool,
                                      [self.group_id], first)
        return [strawberry.ID(str(c)) for c in found[self.group_id]]

    @classmethod
    def from_row(cls, row: Row) -> CustomerGroup:
        return cls(row=row, group_id=row["chat_id"], owner_user_id=row["owner_user_id"],
                   created_at=row["created_at"], dismissed_at=row["dismissed_at"],
                   member_count=int(row["member_count"]), name=row["name"],
                   customer_count=row["customer_count"], staff_count=row["staff_count"])


@strawberry.type
class CustomerGroupEdge:
    cursor: str
    node: CustomerGroup


@strawberry.type
class CustomerGroupConnection:
    edges: list[CustomerGroupEdge]
    page_info: PageInfo


def encode(chat_id: str) -> str:
    return base64.urlsafe_b64encode(f"group:{chat_id}".encode()).decode()


def decode(cursor: str) -> str:
    try:
        prefix, _, chat_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        prefix, chat_id = "", ""
    if prefix != "group" or not chat_id:
        raise ApiError(BAD_INPUT, "after is not a cursor of this list", field="after")
    return chat_id


@strawberry.type
class CustomerGroupQuery:
    @strawberry.field(description=(
        "The customer-group directory by chat id: `ownerUserId` only that member's groups; "
        "dismissed groups only with `includeDismissed`. Errors: BAD_INPUT."))
    async def customer_groups(self, info: Info[Context, None], owner_user_id: str | None = None,
                              include_dismissed: bool = False, first: int = 50,
                              after: str | None = None) -> CustomerGroupConnection:
        if not 1 <= first <= MAX_PAGE:
            raise ApiError(BAD_INPUT, f"first must be 1-{MAX_PAGE}", field="first")
        rows = await queries.groups(info.context.services.read_models.pool,
                                    owner=owner_user_id, include_dismissed=include_dismissed,
                                    after=None if after is None else decode(after),
                                    limit=first + 1)
        edges = [CustomerGroupEdge(cursor=encode(r["chat_id"]), node=CustomerGroup.from_row(r))
                 for r in rows[:first]]
        return CustomerGroupConnection(edges=edges, page_info=PageInfo(
            has_next_page=len(rows) > first, end_cursor=edges[-1].cursor if edges else None))
