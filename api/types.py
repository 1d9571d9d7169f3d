"""GraphQL building blocks shared across the schema, built from read-model rows.

The ``Long`` scalar, the ``Lifecycle`` stage, ``PageInfo``, the staff member, masking and
id parsing. The customer's own types (profile, segments, events) are in
:mod:`api.customer_types`.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, NewType
from uuid import UUID

import strawberry
from strawberry.types import Info

from api.context import Context
from api.policy import sees_staff_name
from api.read_models import Row

Long = NewType("Long", int)
LONG_SCALAR = strawberry.scalar(
    name="Long",
    description="A 53-bit integer (money in fen, counters that outgrow 32 bits).",
    serialize=int,
    parse_value=lambda v: _parse_long(v),
)


def _parse_long(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("Long must be an integer")
    if abs(value) > 2**53:
        raise ValueError("Long is outside ±2^53")
    return value


@strawberry.enum(description="Lifecycle stage, computed from the profile at read time.")
class Lifecycle(Enum):
    NEW = "NEW"
    ACTIVE = "ACTIVE"
    SILENT = "SILENT"
    CHURNED = "CHURNED"


def mask(value: str) -> str:
    return "*" * max(len(value) - 4, 0) + value[-4:] if len(value) > 4 else "****"


@strawberry.enum(description="Which clock a history is read by: BUSINESS (when it happened, "
                             "the events' occurredAt) or RECORDED (when the platform stored and "
                             "evaluated it).")
class TimeBasis(Enum):
    BUSINESS = "occurred_at"
    RECORDED = "at"


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type(description="A staff member (read model `staff_directory`).")
class StaffMember:
    row: strawberry.Private[Row]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row["staff_id"]))

    @strawberry.field
    def role(self) -> str:
        return str(self.row["role"])

    @strawberry.field
    def department(self) -> str:
        return str(self.row["department"])

    @strawberry.field
    def wecom_user_id(self) -> str | None:
        return self.row["wecom_user_id"]  # type: ignore[no-any-return]

    @strawberry.field
    def hired_at(self) -> datetime:
        return self.row["hired_at"]  # type: ignore[no-any-return]

    @strawberry.field
    def left_at(self) -> datetime | None:
        return self.row["left_at"]  # type: ignore[no-any-return]

    @strawberry.field(description="From the personal-data vault; masked to its first "
                                  "character for operators, front-line staff and auditors "
                                  "without audit:pii (their own name in clear).")
    async def display_name(self, info: Info[Context, None]) -> str | None:
        personal = await info.context.personal.load(self.row["staff_id"])
        value = personal.get("display_name")
        if value is None or sees_staff_name(info.context.principal, str(self.row["staff_id"])):
            return value
        return value[:1] + "*" * (len(value) - 1)


def to_uuid(value: str, field: str) -> UUID:
    from api.errors import BAD_INPUT, ApiError

    try:
        return UUID(str(value))
    except ValueError:
        raise ApiError(BAD_INPUT, f"{field} is not a valid id", field=field) from None
