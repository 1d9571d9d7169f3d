"""Working hours over GraphQL: when chat waits count (response times, timeouts, alerts).

Any staff or service principal may read them; managers and service principals set them.
A change is in force from the moment it is recorded (never backdated); waits already
answered before it keep their measure. Until hours are set every minute counts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum

import strawberry
from anyio import to_thread
from strawberry.types import Info

from api.context import Context
from api.errors import ApiError, forbidden
from api.projection_wait import caught_up
from domain.errors import DomainError
from domain.working_time import DAY_MINUTES, WEEKDAYS, Week

VIEW = "staff_daily_performance"


@strawberry.enum(description="ISO weekdays, Monday first.")
class Weekday(Enum):
    MONDAY = "monday"
    TUESDAY = "tuesday"
    WEDNESDAY = "wednesday"
    THURSDAY = "thursday"
    FRIDAY = "friday"
    SATURDAY = "saturday"
    SUNDAY = "sunday"


@strawberry.type(description="A working interval of the day, Asia/Shanghai, [start, end).")
class WorkingInterval:
    start: str = strawberry.field(description="HH:MM")
    end: str = strawberry.field(description="HH:MM (24:00 is the end of the day)")


@strawberry.type
class WorkingDay:
    weekday: Weekday
    intervals: list[WorkingInterval]


@strawberry.type(description="When the staff are on duty: chat waits count only then.")
class WorkingHoursInfo:
    always_on: bool = strawberry.field(description="No hours set: every minute counts.")
    days: list[WorkingDay]
    working_minutes_per_week: int


@strawberry.input
class WorkingIntervalInput:
    start: str = strawberry.field(description="HH:MM")
    end: str = strawberry.field(description="HH:MM, after start (24:00 allowed)")


@strawberry.input
class WorkingDayInput:
    weekday: Weekday
    intervals: list[WorkingIntervalInput]


@strawberry.input(description="Weekdays left out are days off.")
class SetWorkingHoursInput:
    days: list[WorkingDayInput]


@strawberry.type
class WorkingHoursPayload:
    working_hours: WorkingHoursInfo
    changed: bool = strawberry.field(description="False when the hours were already these.")
    projected: bool = strawberry.field(
        description="Whether the staff KPIs had applied the change before answering.")


def _info(week: Week, always_on: bool) -> WorkingHoursInfo:
    days = [WorkingDay(weekday=Weekday(name), intervals=[
        WorkingInterval(start=span.split("-")[0], end=span.split("-")[1]) for span in spans])
        for name, spans in week.describe().items()]
    minutes = sum(end - start for day in week.days for start, end in day)
    return WorkingHoursInfo(always_on=always_on, days=days, working_minutes_per_week=minutes)


def _always_on(week: Week) -> bool:
    return all(day == ((0, DAY_MINUTES),) for day in week.days)


def _input_path(field: str | None, order: list[str]) -> str | None:
    """``monday[0].start`` (the domain's path) → ``days[2].intervals[0].start`` (the input's)."""
    if field is None:
        return None
    weekday, bracket, rest = field.partition("[")
    if weekday not in WEEKDAYS:
        return field
    if weekday not in order:
        return "days"
    inner = f".intervals[{rest}" if bracket else ""
    return f"days[{order.index(weekday)}]{inner}"


@strawberry.type
class WorkingHoursQuery:
    @strawberry.field(description="The working hours in force (staff and service principals).")
    async def working_hours(self, info: Info[Context, None]) -> WorkingHoursInfo:
        app = info.context.services.app
        week = await to_thread.run_sync(app.working_hours.get)
        return _info(week, _always_on(week))


@strawberry.type
class WorkingHoursMutation:
    @strawberry.mutation(description="Set the working hours, in force from now on "
                                     "(managers and service principals).")
    async def set_working_hours(self, info: Info[Context, None],
                                input: SetWorkingHoursInput) -> WorkingHoursPayload:
        principal = info.context.principal
        if not principal.sees_everyone:
            raise forbidden("working hours are set by managers")
        days: dict[str, list[tuple[str, str]]] = {}
        for n, day in enumerate(input.days):
            if day.weekday.value in days:
                raise ApiError("INVALID_WORKING_HOURS", f"{day.weekday.value} is given twice",
                               field=f"days[{n}].weekday")
            days[day.weekday.value] = [(i.start, i.end) for i in day.intervals]
        app = info.context.services.app
        try:
            position = await to_thread.run_sync(
                lambda: app.working_hours.set(days, principal.actor, datetime.now(UTC)))
        except DomainError as error:
            raise ApiError(error.code, error.message,
                           field=_input_path(error.field, list(days))) from None
        projected = await caught_up(info, VIEW, position)
        week = await to_thread.run_sync(app.working_hours.get)
        return WorkingHoursPayload(working_hours=_info(week, _always_on(week)),
                                   changed=position is not None, projected=projected)
