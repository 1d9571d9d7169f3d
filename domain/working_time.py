"""Working time: how long a customer waited while the staff were on duty.

A :class:`Week` lists, per ISO weekday (Monday first), the working intervals in minutes of
the business day (Asia/Shanghai, UTC+8 all year), e.g. 09:00-21:00 is ``(540, 1260)``.
A :data:`Schedule` is the history of weeks, each in force from an instant on; before the
first change every minute counts (:data:`ALWAYS`), so an organisation that never sets
working hours measures wall-clock time.

:func:`working_seconds` is the working time inside ``[start, end)``: chat response times
and timeouts (a customer message unanswered past a limit) are measured with it, so a
message sent at 23:00 and answered at 09:05 next morning under 09:00-21:00 hours waited
five minutes, not ten hours. ``projections/staff_performance/staff_performance.sql`` holds the same
computation in SQL (``staff_kpi_working_seconds``); a test checks they agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from itertools import pairwise

from domain.errors import InvalidInput

SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")
DAY_MINUTES = 24 * 60
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MAX_INTERVALS = 6

Interval = tuple[int, int]  # [start, end) minutes of the day


class InvalidWorkingHours(InvalidInput):
    code = "INVALID_WORKING_HOURS"


@dataclass(frozen=True, slots=True)
class Week:
    """Working intervals per ISO weekday (index 0 = Monday)."""

    days: tuple[tuple[Interval, ...], ...]

    def to_json(self) -> list[list[list[int]]]:
        return [[[start, end] for start, end in day] for day in self.days]

    @classmethod
    def from_json(cls, days: Sequence[Sequence[Sequence[int]]]) -> Week:
        return cls(tuple(tuple((int(s), int(e)) for s, e in day) for day in days))

    def describe(self) -> dict[str, list[str]]:
        """``{"monday": ["09:00-21:00"], …}``."""
        return {name: [f"{_clock(s)}-{_clock(e)}" for s, e in day]
                for name, day in zip(WEEKDAYS, self.days, strict=True)}


ALWAYS = Week(tuple(((0, DAY_MINUTES),) for _ in WEEKDAYS))

#: ``(in force from, week)`` sorted by time; before the first, :data:`ALWAYS`.
Schedule = Sequence[tuple[datetime, Week]]


def business_day(at: datetime) -> date:
    """The business day of an instant: its Asia/Shanghai date."""
    return at.astimezone(SHANGHAI).date()


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _minutes(value: str, field: str) -> int:
    text = value.strip()
    if text == "24:00":
        return DAY_MINUTES
    try:
        parsed = time.fromisoformat(text)
    except ValueError:
        raise InvalidWorkingHours(f"{field} must be a time like 09:00 (or 24:00)",
                                  field=field) from None
    if parsed.second or parsed.microsecond or len(text) != 5:
        raise InvalidWorkingHours(f"{field} must be HH:MM", field=field)
    return parsed.hour * 60 + parsed.minute


def parse_week(days: Mapping[str, Sequence[tuple[str, str]]]) -> Week:
    """Validate ``{"monday": [("09:00", "12:00"), ("13:00", "21:00")], …}``; a weekday
    left out or given no interval is a day off."""
    unknown = sorted(set(days) - set(WEEKDAYS))
    if unknown:
        raise InvalidWorkingHours(f"unknown weekday {unknown[0]!r}", field=unknown[0])
    week: list[tuple[Interval, ...]] = []
    for name in WEEKDAYS:
        given = list(days.get(name) or ())
        if len(given) > MAX_INTERVALS:
            raise InvalidWorkingHours(f"{name}: at most {MAX_INTERVALS} intervals", field=name)
        intervals: list[Interval] = []
        for n, (start, end) in enumerate(given):
            where = f"{name}[{n}]"
            lo, hi = _minutes(start, f"{where}.start"), _minutes(end, f"{where}.end")
            if lo >= hi:
                raise InvalidWorkingHours(f"{where}: start must be before end",
                                          field=f"{where}.end")
            intervals.append((lo, hi))
        intervals.sort()
        for (_, earlier_end), (later_start, _) in pairwise(intervals):
            if later_start < earlier_end:
                raise InvalidWorkingHours(f"{name}: intervals overlap", field=name)
        week.append(tuple(intervals))
    if not any(week):
        raise InvalidWorkingHours("at least one working interval is needed", field="monday")
    return Week(tuple(week))


_MICROSECOND = timedelta(microseconds=1)


def _week_microseconds(week: Week, start: datetime, end: datetime) -> int:
    """Working microseconds of ``week`` inside ``[start, end)`` (any length)."""
    if end <= start:
        return 0
    total = 0
    day = start.astimezone(SHANGHAI).date()
    last = end.astimezone(SHANGHAI).date()
    while day <= last:
        midnight = datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)
        for lo, hi in week.days[day.weekday()]:
            a = max(start, midnight + timedelta(minutes=lo))
            b = min(end, midnight + timedelta(minutes=hi))
            if b > a:
                total += (b - a) // _MICROSECOND
        day += timedelta(days=1)
    return total


def working_seconds(schedule: Schedule, start: datetime, end: datetime) -> int:
    """Whole working seconds in ``[start, end)`` under ``schedule`` (0 if end ≤ start)."""
    if end <= start:
        return 0
    if not schedule or end <= min(since for since, _ in schedule):  # every minute counts
        return (end - start) // _MICROSECOND // 1_000_000
    pieces: list[tuple[datetime, Week]] = [(datetime.min.replace(tzinfo=SHANGHAI), ALWAYS)]
    pieces += sorted(schedule, key=lambda p: p[0])
    total = 0
    for n, (since, week) in enumerate(pieces):
        until = pieces[n + 1][0] if n + 1 < len(pieces) else None
        a = max(start, since)
        b = end if until is None else min(end, until)
        total += _week_microseconds(week, a, b)
    return total // 1_000_000
