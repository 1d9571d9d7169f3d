"""The holiday calendar: dates when marketing is held to stricter caps and quiet hours.

The seeds' central harm story is the holiday mass send (无差别群发 over Spring Festival):
customers mute or delete the brand. A manager defines holidays (``ContactPolicy``
records each as an event); on a customer's local date within one, a **marketing** message
is planned under the holiday's rules as well as the normal ones (:func:`domain.restraint.decide`):

* its caps per channel (``HOLIDAY_CAP_DAY`` / ``_WEEK`` / ``_MONTH``; a channel it does not
  name keeps the normal caps), and ``total``: at most that many messages, all channels,
  over the whole holiday (``HOLIDAY_CAP_TOTAL``);
* its quiet hours, on top of the normal ones (deferred to their end, never dropped).

Refused with a typed error (:func:`check_holiday`): an end before the start, a holiday
longer than :data:`MAX_DAYS`, one already over, one overlapping another
(``HOLIDAY_OVERLAP``), caps looser than the normal policy's or quiet hours that do not
cover the normal ones (``HOLIDAY_NOT_STRICTER``). Should the normal policy later become the
stricter one, the stricter of the two applies. Service messages
(:mod:`domain.message_class`) are not held by a holiday.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, time
from typing import Any, Protocol

from domain.caps import CHANNELS, Caps
from domain.errors import DomainError, InvalidInput

MAX_DAYS = 31  # within the contacts read around a send (planning.CONTACT_WINDOW)
MAX_CAP = 1000


class NormalRules(Protocol):
    """What a holiday is checked against: the normal policy (:class:`domain.restraint.Policy`)."""

    @property
    def quiet_start(self) -> time: ...
    @property
    def quiet_end(self) -> time: ...
    def caps_for(self, channel: str) -> Caps: ...


class InvalidHoliday(InvalidInput):
    code = "INVALID_HOLIDAY"


class HolidayOverlap(DomainError):
    code = "HOLIDAY_OVERLAP"


class HolidayNotStricter(DomainError):
    code = "HOLIDAY_NOT_STRICTER"


class UnknownHoliday(DomainError):
    code = "UNKNOWN_HOLIDAY"


@dataclass(frozen=True, slots=True)
class Holiday:
    holiday_id: str
    name: str
    start: date
    end: date  # inclusive
    caps: dict[str, Caps]  # channels not named keep the normal caps
    total: int | None  # messages per customer over the whole holiday, all channels
    quiet_start: time
    quiet_end: time

    def covers(self, day: date) -> bool:
        return self.start <= day <= self.end


def on(holidays: Iterable[Holiday], day: date) -> Holiday | None:
    """The holiday ``day`` falls in (holidays never overlap)."""
    return next((h for h in holidays if h.covers(day)), None)


def quiet_minutes(start: time, end: time) -> frozenset[int]:
    """The minutes of the day in a quiet window (``start == end``: none)."""
    first, last = start.hour * 60 + start.minute, end.hour * 60 + end.minute
    if first == last:
        return frozenset()
    if first < last:
        return frozenset(range(first, last))
    return frozenset(range(first, 1440)) | frozenset(range(last))


def stricter(limit: int | None, normal: int | None) -> int | None:
    """The tighter of two caps (None: no cap)."""
    if limit is None:
        return normal
    return limit if normal is None else min(limit, normal)


def _cap(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_CAP:
        raise InvalidHoliday(f"{field} must be 0-{MAX_CAP} or null", field=field)
    return value


def _clock(value: str, field: str) -> time:
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise InvalidHoliday(f"{field} must be a time like 20:00", field=field) from None


def check_holiday(name: str, start: date, end: date, caps: dict[str, dict[str, Any]],
                  total: int | None, quiet_start: str, quiet_end: str, *, policy: NormalRules,
                  others: Iterable[Holiday], today: date) -> dict[str, Any]:
    """The holiday's fields as recorded, or a typed refusal."""
    label = name.strip()
    if not 1 <= len(label) <= 64:
        raise InvalidHoliday("name must be 1-64 characters", field="name")
    if end < start:
        raise InvalidHoliday("end is before start", field="end")
    if (end - start).days + 1 > MAX_DAYS:
        raise InvalidHoliday(f"a holiday lasts at most {MAX_DAYS} days", field="end")
    if end < today:
        raise InvalidHoliday("the holiday is over already", field="end")
    for other in others:
        if start <= other.end and other.start <= end:
            raise HolidayOverlap(f"overlaps {other.name!r} ({other.start} to {other.end})",
                                 field="start")
    unknown = sorted(set(caps) - CHANNELS)
    if unknown:
        raise InvalidHoliday(f"unknown channel {unknown[0]!r}", field=f"caps.{unknown[0]}")
    checked: dict[str, dict[str, int | None]] = {}
    for channel, given in sorted(caps.items()):
        normal = policy.caps_for(channel)
        checked[channel] = {}
        for window in ("day", "week", "month"):
            field = f"caps.{channel}.{window}"
            value, usual = _cap(given.get(window), field), getattr(normal, window)
            if usual is not None and (value is None or value > usual):
                raise HolidayNotStricter(f"{field} is looser than the normal cap ({usual})",
                                         field=field)
            checked[channel][window] = value
    quiet = (_clock(quiet_start, "quietStart"), _clock(quiet_end, "quietEnd"))
    if not quiet_minutes(policy.quiet_start, policy.quiet_end) <= quiet_minutes(*quiet):
        raise HolidayNotStricter("the holiday's quiet hours must cover the normal ones ("
                                 f"{policy.quiet_start:%H:%M}-{policy.quiet_end:%H:%M})",
                                 field="quietStart")
    return {"name": label, "start": start.isoformat(), "end": end.isoformat(),
            "caps": checked, "total": _cap(total, "total"),
            "quiet_start": quiet[0].strftime("%H:%M"), "quiet_end": quiet[1].strftime("%H:%M")}


def from_record(holiday_id: str, record: dict[str, Any]) -> Holiday:
    return Holiday(holiday_id, record["name"], date.fromisoformat(record["start"]),
                   date.fromisoformat(record["end"]),
                   {ch: Caps(**v) for ch, v in record["caps"].items()}, record["total"],
                   time.fromisoformat(record["quiet_start"]),
                   time.fromisoformat(record["quiet_end"]))
