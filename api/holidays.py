"""GraphQL for the holiday calendar (:mod:`domain.holidays`): list, define, remove.

Managers define holidays (Spring Festival, National Day …) with stricter caps and quiet
hours; every change is an event on the contact policy. Errors: ``INVALID_HOLIDAY`` (end
before start, too long, already over, a bad cap or clock), ``HOLIDAY_OVERLAP``,
``HOLIDAY_NOT_STRICTER`` (caps looser or quiet hours shorter than the normal policy's),
``UNKNOWN_HOLIDAY``."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import strawberry
from anyio import to_thread
from strawberry.types import Info

from api.contact_policy_types import ChannelCapsInput, ContactPolicyCaps
from api.context import Context
from api.errors import ApiError
from domain.errors import DomainError
from domain.holidays import Holiday
from domain.restraint import DEFAULT_TZ


@strawberry.type(description="A holiday of the calendar: on its dates (the customer's local "
                             "dates, inclusive) marketing is held to its stricter caps and "
                             "quiet hours as well as the normal ones; service messages are "
                             "not.")
class HolidayType:
    holiday_id: strawberry.ID
    name: str
    start: date
    end: date
    caps: list[ContactPolicyCaps] = strawberry.field(
        description="Caps per channel on the holiday (channels not listed: the normal caps).")
    total: int | None = strawberry.field(
        description="Messages per customer over the whole holiday, all channels (null: no "
                    "such cap). Excluded: HOLIDAY_CAP_TOTAL.")
    quiet_start: str
    quiet_end: str

    @classmethod
    def of(cls, h: Holiday) -> HolidayType:
        return cls(holiday_id=strawberry.ID(h.holiday_id), name=h.name, start=h.start,
                   end=h.end, caps=[ContactPolicyCaps(channel=ch, day=c.day, week=c.week,
                                                      month=c.month)
                                    for ch, c in sorted(h.caps.items())],
                   total=h.total, quiet_start=h.quiet_start.strftime("%H:%M"),
                   quiet_end=h.quiet_end.strftime("%H:%M"))


@strawberry.input
class HolidayInput:
    name: str
    start: date
    end: date = strawberry.field(description="The last day (inclusive); at most 31 days.")
    caps: list[ChannelCapsInput] = strawberry.field(
        default_factory=list, description="Per channel, each at most the normal cap.")
    total: int | None = None
    quiet_start: str = "20:00"
    quiet_end: str = "10:00"


@strawberry.type
class HolidayPayload:
    holiday: HolidayType
    position: strawberry.ID | None


def _error(error: DomainError) -> ApiError:
    return ApiError(error.code, error.message, field=error.field)


@strawberry.type
class HolidayQuery:
    @strawberry.field(description="The holiday calendar, by start date.")
    async def holidays(self, info: Info[Context, None]) -> list[HolidayType]:
        policy = await to_thread.run_sync(info.context.services.app.campaigns.contact_policy)
        return [HolidayType.of(h) for h in policy.holidays]


@strawberry.type
class HolidayMutation:
    @strawberry.mutation(description=(
        "Add a holiday to the calendar (recorded as an event). Errors: INVALID_HOLIDAY, "
        "HOLIDAY_OVERLAP, HOLIDAY_NOT_STRICTER."))
    async def define_holiday(self, info: Info[Context, None], input: HolidayInput
                             ) -> HolidayPayload:
        app = info.context.services.app
        by = info.context.principal.actor
        caps = {c.channel: {"day": c.day, "week": c.week, "month": c.month} for c in input.caps}
        now = datetime.now(UTC)
        try:
            holiday_id, position = await to_thread.run_sync(lambda: app.campaigns.define_holiday(
                input.name, input.start, input.end, caps, input.total, input.quiet_start,
                input.quiet_end, by, now, now.astimezone(ZoneInfo(DEFAULT_TZ)).date()))
        except DomainError as error:
            raise _error(error) from None
        policy = await to_thread.run_sync(app.campaigns.contact_policy)
        held = next(h for h in policy.holidays if h.holiday_id == holiday_id)
        return HolidayPayload(holiday=HolidayType.of(held),
                              position=strawberry.ID(str(position)) if position else None)

    @strawberry.mutation(description="Remove a holiday from the calendar. Errors: "
                                     "UNKNOWN_HOLIDAY.")
    async def remove_holiday(self, info: Info[Context, None], holiday_id: strawberry.ID
                             ) -> list[HolidayType]:
        app = info.context.services.app
        by = info.context.principal.actor
        try:
            await to_thread.run_sync(lambda: app.campaigns.remove_holiday(
                str(holiday_id), by, datetime.now(UTC)))
        except DomainError as error:
            raise _error(error) from None
        return await HolidayQuery.holidays(HolidayQuery(), info)  # type: ignore[no-any-return]
