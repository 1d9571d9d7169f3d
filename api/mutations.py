"""GraphQL mutations: each calls one application command."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry
from anyio import to_thread
from strawberry.types import Info

from api import policy
from api.context import Context
from api.errors import BAD_INPUT, NOT_FOUND, ApiError
from api.ingest import RecordCustomerEventsPayload, record_events
from api.inputs import HireStaffInput, LeaveStaffInput, RecordCustomerEventsInput
from api.types import to_uuid
from domain.errors import DomainError


@strawberry.input
class MergeCustomersInput:
    survivor_id: strawberry.ID
    absorbed_id: strawberry.ID


@strawberry.input
class UnmergeCustomerInput:
    customer_id: strawberry.ID = strawberry.field(description="The absorbed customer.")


@strawberry.type
class MergePayload:
    customer_id: strawberry.ID
    position: strawberry.ID | None = strawberry.field(
        description="Log position of the change (for read-your-writes on customer_profile).")


@strawberry.type
class HireStaffPayload:
    staff_id: strawberry.ID


@strawberry.type
class LeaveStaffPayload:
    staff_id: strawberry.ID



@strawberry.type
class CustomerMutation:
    @strawberry.mutation(description="Record a batch of customer actions in one transaction.")
    async def record_customer_events(
        self, info: Info[Context, None], input: RecordCustomerEventsInput
    ) -> RecordCustomerEventsPayload:
        # Served by api.ingest.fast_resolver (installed by build_schema); this
        # typed resolver declares the field and is the reference behaviour.
        return await record_events(
            info.context, [e.to_item() for e in input.events], atomic=input.atomic,
            wait_for_projection=input.wait_for_projection, timeout_ms=input.timeout_ms)

    @strawberry.mutation(description="Merge two customers (OneID): the absorbed one's identities "
                                     "and history join the survivor; its id leads there.")
    async def merge_customers(self, info: Info[Context, None], input: MergeCustomersInput
                              ) -> MergePayload:
        survivor = to_uuid(input.survivor_id, "survivorId")
        absorbed = to_uuid(input.absorbed_id, "absorbedId")
        app = info.context.services.app
        by = info.context.principal.actor
        try:
            position = await to_thread.run_sync(
                lambda: app.identity.merge(survivor, absorbed, by, datetime.now(UTC)))
        except DomainError as error:
            raise ApiError(error.code, error.message, field=error.field) from None
        return MergePayload(customer_id=input.survivor_id,
                            position=strawberry.ID(str(position)) if position else None)

    @strawberry.mutation(description="Undo a merge: the absorbed customer and its identities "
                                     "are its own again (events recorded meanwhile stay with "
                                     "the survivor).")
    async def unmerge_customer(self, info: Info[Context, None], input: UnmergeCustomerInput
                               ) -> MergePayload:
        absorbed = to_uuid(input.customer_id, "customerId")
        app = info.context.services.app
        by = info.context.principal.actor
        try:
            position = await to_thread.run_sync(
                lambda: app.identity.unmerge(absorbed, by, datetime.now(UTC)))
        except DomainError as error:
            raise ApiError(error.code, error.message, field=error.field) from None
        return MergePayload(customer_id=input.customer_id,
                            position=strawberry.ID(str(position)) if position else None)

    @strawberry.mutation(description="Hire a staff member (managers and service principals).")
    async def hire_staff(self, info: Info[Context, None], input: HireStaffInput
                         ) -> HireStaffPayload:
        name = input.display_name.strip()
        if not 1 <= len(name) <= 64:
            raise ApiError(BAD_INPUT, "displayName must be 1-64 characters", field="displayName")
        policy.require_staff_admin(info.context.principal, None, input.department, input.role)
        at = input.hired_at or datetime.now(UTC)
        app = info.context.services.app
        by = info.context.principal.actor
        try:
            staff_id = await to_thread.run_sync(
                lambda: app.staff.hire(input.role, input.department, name, by, at,
                                       input.wecom_user_id))
        except DomainError as error:
            raise ApiError(error.code, error.message, field=error.field) from None
        info.context.services.principals_changed()
        return HireStaffPayload(staff_id=strawberry.ID(str(staff_id)))

    @strawberry.mutation(description="Record that a staff member left.")
    async def leave_staff(self, info: Info[Context, None], input: LeaveStaffInput
                          ) -> LeaveStaffPayload:
        staff_id = to_uuid(input.staff_id, "staffId")
        policy.require_staff_admin(info.context.principal, str(staff_id))
        at = input.left_at or datetime.now(UTC)
        app = info.context.services.app
        by = info.context.principal.actor
        try:
            await to_thread.run_sync(lambda: app.staff.leave(staff_id, by, at))
        except DomainError as error:
            code = NOT_FOUND if error.code == "UNKNOWN_STAFF" else error.code
            raise ApiError(code, error.message, field=error.field) from None
        info.context.services.principals_changed()
        return LeaveStaffPayload(staff_id=input.staff_id)
