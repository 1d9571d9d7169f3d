"""The organisation over GraphQL: departments, staff moves and roles, customer ownership and
handovers (离职继承 / 在职继承).

Managers and service principals move staff, change roles and hand customers
over. Staff read the catalogue and the directory; front-line staff read their
own assignments and owned customers, and the ownership history of customers
they own or are friends with now (any other is ``NOT_FOUND`` to them). Customers
may do none of it. Reads come from ``staff_directory``, ``staff_assignment`` and
``customer_ownership``; mutations wait (a few seconds at most) for them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum
from typing import Any
from uuid import UUID

import strawberry
from anyio import to_thread
from strawberry.types import Info

from api import policy, team_scope
from api.commands import run_command
from api.context import Context
from api.errors import BAD_INPUT, NOT_FOUND, ApiError
from api.projection_wait import caught_up
from api.read_models import decode_cursor, encode_cursor
from api.types import PageInfo, StaffMember, to_uuid
from domain.organisation import DEPARTMENT_CATALOGUE, DEPARTMENTS, ROLE_CATALOGUE
from projections.organisation import queries
from projections.staff_directory import queries as staff_directory_queries

MAX_PAGE = 200
#: Customers named in one handover call (all of a staff member's are not limited).
MAX_HANDOVER = 10_000
_NOT_FOUND_CODES = frozenset({"UNKNOWN_STAFF", "UNKNOWN_CUSTOMER"})

Row = dict[str, Any]


@strawberry.type(description="A department of the fixed catalogue (front/middle/back office).")
class Department:
    code: str
    name: str
    name_zh: str
    functions: list[str]
    staff_count: int = strawberry.field(description="Staff members in it now (not left).")


@strawberry.type(description="A role of the seeds' private-domain team.")
class StaffRole:
    code: str
    name: str
    name_zh: str
    department: str = strawberry.field(description="Where the role usually sits.")
    manager: bool


@strawberry.type(description="A period during which a staff member held a department and role.")
class StaffAssignment:
    department: str
    role: str
    since: datetime
    until: datetime | None = strawberry.field(description="Null: the current assignment.")
    reason: str = strawberry.field(description="hired, moved or role_changed.")
    by: str

    @classmethod
    def from_row(cls, row: Row) -> StaffAssignment:
        return cls(department=row["department"], role=row["role"], since=row["since"],
                   until=row["until"], reason=row["reason"], by=row["by"])


@strawberry.type(description="A period during which a staff member owned a customer.")
class OwnershipPeriod:
    staff_id: strawberry.ID
    since: datetime
    until: datetime | None = strawberry.field(description="Null: the current owner.")
    reason: str = strawberry.field(
        description="first_friend, resignation, reassignment, merged or unmerged.")
    handover_id: str | None
    by: str
    ended_reason: str | None

    @classmethod
    def from_row(cls, row: Row) -> OwnershipPeriod:
        return cls(staff_id=strawberry.ID(row["staff_id"]), since=row["since"],
                   until=row["until"], reason=row["reason"], handover_id=row["handover_id"],
                   by=row["by"], ended_reason=row["ended_reason"])


@strawberry.type
class OwnedCustomer:
    customer_id: strawberry.ID
    since: datetime
    reason: str


@strawberry.type
class OwnedCustomerEdge:
    cursor: str
    node: OwnedCustomer


@strawberry.type
class OwnedCustomerConnection:
    edges: list[OwnedCustomerEdge]
    page_info: PageInfo


@strawberry.enum
class HandoverReason(Enum):
    RESIGNATION = "resignation"
    REASSIGNMENT = "reassignment"


@strawberry.input
class MoveStaffInput:
    staff_id: strawberry.ID
    department: str


@strawberry.input
class ChangeStaffRoleInput:
    staff_id: strawberry.ID
    role: str


@strawberry.input
class HandOverCustomersInput:
    from_staff_id: strawberry.ID
    to_staff_id: strawberry.ID
    reason: HandoverReason
    customer_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Null: every customer the giver owns now.")
    handover_id: str | None = strawberry.field(
        default=None, description="Yours, to retry safely (a retry records nothing twice); "
                                  "generated when null.")


@strawberry.type
class StaffPayload:
    staff: StaffMember | None
    projected: bool = strawberry.field(description=(
        "True once the staff directory and the assignment history (staffAssignments) "
        "show the change; false if they had not within a few seconds."))


@strawberry.type
class HandoverRefusal:
    customer_id: strawberry.ID
    code: str = strawberry.field(description="NOT_OWNED_BY_GIVER or UNKNOWN_CUSTOMER.")
    message: str


@strawberry.type
class HandOverCustomersPayload:
    handover_id: str
    requested: int
    transferred: int
    unchanged: int = strawberry.field(description="Owned by the receiver already.")
    already_done: int = strawberry.field(description="Done by an earlier call with this id.")
    refused: list[HandoverRefusal]
    projected: bool = strawberry.field(description="True when customer_ownership shows it.")




def _self_or_manager(info: Info[Context, None], staff_id: UUID) -> None:
    policy.require_staff_in_scope(info.context.principal, str(staff_id), "staff data")


async def _run(command: Callable[[], Any]) -> Any:
    return await run_command(command, {
        **dict.fromkeys(_NOT_FOUND_CODES, NOT_FOUND), "INVALID_INPUT": BAD_INPUT})



async def _staff_payload(info: Info[Context, None], staff_id: UUID,
                         position: int | None) -> StaffPayload:
    # The directory and the assignment history are two read models of one group, each
    # committed on its own: a client that reads the history next must find the change.
    projected = (await caught_up(info, "staff_directory", position)
                 and await caught_up(info, "staff_assignment", position))
    row = await info.context.services.read_models.staff(staff_id)
    return StaffPayload(staff=None if row is None else StaffMember(row=row), projected=projected)


async def _owned_now(info: Info[Context, None], staff_id: UUID) -> list[UUID]:
    """The giver's customers, once customer_ownership has caught up with the log."""
    app = info.context.services.app
    head = await to_thread.run_sync(app.recorder.max_notification_id)
    if not await caught_up(info, "customer_ownership", head):
        raise ApiError("NOT_PROJECTED", "customer ownership is catching up: try again shortly")
    return await queries.owned_now(info.context.services.read_models.pool, str(staff_id))


@strawberry.type
class OrganisationQuery:
    @strawberry.field(description="The departments, with their current headcount.")
    async def departments(self, info: Info[Context, None]) -> list[Department]:
        counts = await staff_directory_queries.headcounts(info.context.services.read_models.pool)
        return [Department(code=d.code, name=d.name, name_zh=d.name_zh,
                           functions=list(d.functions), staff_count=counts.get(d.code, 0))
                for d in DEPARTMENT_CATALOGUE]

    @strawberry.field(description="The roles staff members can hold.")
    def staff_roles(self, info: Info[Context, None]) -> list[StaffRole]:
        return [StaffRole(code=r.code, name=r.name, name_zh=r.name_zh, department=r.department,
                          manager=r.manager) for r in ROLE_CATALOGUE]

    @strawberry.field(description="Staff members of a department now, by hire date.")
    async def staff_by_department(self, info: Info[Context, None], department: str,
                                  include_left: bool = False) -> list[StaffMember]:
        if department not in DEPARTMENTS:
            raise ApiError(BAD_INPUT, f"unknown department; expected one of "
                                      f"{sorted(DEPARTMENTS)}", field="department")
        principal = info.context.principal
        own = team_scope.department_for(principal, department, "staff directory")
        rows = await staff_directory_queries.of_department(
            info.context.services.read_models.pool, own or department, include_left=include_left)
        return [StaffMember(row=r) for r in team_scope.members(principal, rows)]

    @strawberry.field(description="A staff member's departments and roles over time, oldest "
                                  "first (managers, service, or the member themself).")
    async def staff_assignments(self, info: Info[Context, None], staff_id: strawberry.ID
                                ) -> list[StaffAssignment]:
        sid = to_uuid(staff_id, "staffId")
        _self_or_manager(info, sid)
        rows = await queries.assignments(info.context.services.read_models.pool, sid)
        return [StaffAssignment.from_row(r) for r in rows]

    @strawberry.field(description="Who owned a customer when, oldest first. Front-line staff "
                                  "see it for customers they own or are friends with now.")
    async def customer_ownership(self, info: Info[Context, None], customer_id: strawberry.ID
                                 ) -> list[OwnershipPeriod]:
        cid = to_uuid(customer_id, "customerId")
        rows = await queries.ownership(info.context.services.read_models.pool, cid)
        principal = info.context.principal
        if not principal.sees_everyone:
            owners = [str(r["staff_id"]) for r in rows if r["until"] is None]
            profile = await info.context.services.read_models.profile(cid)
            friends = [str(s) for s in profile["current_staff_ids"]] if profile else []
            if not policy.customer_scope(principal).covers_customer(str(cid), owners + friends):
                raise ApiError(NOT_FOUND, "no such customer among yours", field="customerId")
        return [OwnershipPeriod.from_row(r) for r in rows]

    @strawberry.field(description="The customers a staff member owns now, newest first "
                                  "(managers, service, or the member themself).")
    async def staff_customers(self, info: Info[Context, None], staff_id: strawberry.ID,
                              first: int = 50, after: str | None = None
                              ) -> OwnedCustomerConnection:
        sid = to_uuid(staff_id, "staffId")
        _self_or_manager(info, sid)
        if not 1 <= first <= MAX_PAGE:
            raise ApiError(BAD_INPUT, f"first must be between 1 and {MAX_PAGE}", field="first")
        try:
            before = None if after is None else decode_cursor("o", after)
        except ValueError:
            raise ApiError(BAD_INPUT, "after is not a cursor of this list", field="after") from None
        rows = await queries.owned_page(info.context.services.read_models.pool, str(sid), before, first + 1)
        edges = [OwnedCustomerEdge(cursor=encode_cursor("o", r["cause_position"]),
                                   node=OwnedCustomer(customer_id=strawberry.ID(
                                       str(r["customer_id"])), since=r["since"],
                                       reason=r["reason"]))
                 for r in rows[:first]]
        return OwnedCustomerConnection(edges=edges, page_info=PageInfo(
            has_next_page=len(rows) > first, end_cursor=edges[-1].cursor if edges else None))


@strawberry.type
class OrganisationMutation:
    @strawberry.mutation(description="Move a staff member to another department.")
    async def move_staff(self, info: Info[Context, None], input: MoveStaffInput
                         ) -> StaffPayload:
        sid = to_uuid(input.staff_id, "staffId")
        policy.require_staff_admin(info.context.principal, str(sid), input.department)
        app, by = info.context.services.app, info.context.principal.actor
        position = await _run(lambda: app.staff.move(sid, input.department, by,
                                                     datetime.now(UTC)))
        info.context.services.principals_changed()
        return await _staff_payload(info, sid, position)

    @strawberry.mutation(description="Give a staff member another role.")
    async def change_staff_role(self, info: Info[Context, None], input: ChangeStaffRoleInput
                                ) -> StaffPayload:
        sid = to_uuid(input.staff_id, "staffId")
        policy.require_staff_admin(info.context.principal, str(sid), role=input.role)
        app, by = info.context.services.app, info.context.principal.actor
        position = await _run(lambda: app.staff.change_role(sid, input.role, by,
                                                            datetime.now(UTC)))
        info.context.services.principals_changed()
        return await _staff_payload(info, sid, position)

    @strawberry.mutation(description="Hand customers over from one staff member to another "
                                     "(离职继承 / 在职继承); per-customer refusals.")
    async def hand_over_customers(self, info: Info[Context, None],
                                  input: HandOverCustomersInput) -> HandOverCustomersPayload:
        giver = to_uuid(input.from_staff_id, "fromStaffId")
        receiver = to_uuid(input.to_staff_id, "toStaffId")
        policy.require_staff_admin(info.context.principal, str(giver))
        policy.require_staff_admin(info.context.principal, str(receiver))
        if input.customer_ids is None:
            customers = await _owned_now(info, giver)
        elif len(input.customer_ids) > MAX_HANDOVER:
            raise ApiError(BAD_INPUT, f"at most {MAX_HANDOVER} customerIds per call",
                           field="customerIds")
        else:
            customers = [to_uuid(c, "customerIds") for c in input.customer_ids]
        app, by = info.context.services.app, info.context.principal.actor
        result = await _run(lambda: app.staff.hand_over(
            giver, receiver, customers, input.reason.value, by, datetime.now(UTC),
            handover_id=input.handover_id))
        projected = await caught_up(info, "customer_ownership", result.last_position)
        return HandOverCustomersPayload(
            handover_id=result.handover_id, requested=result.requested,
            transferred=result.transferred, unchanged=result.unchanged,
            already_done=result.already, projected=projected,
            refused=[HandoverRefusal(customer_id=strawberry.ID(str(r.customer_id)),
                                     code=r.error.code, message=r.error.message)
                     for r in result.refused])
