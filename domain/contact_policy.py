"""``ContactPolicy``: the brand's rules of restraint, shared by every campaign.

One aggregate (a fixed id); each change is an event, so the plan of every campaign can
be explained by the policy in force when it was launched. Defaults: per channel at most
1 message a day, 2 a week and 6 a month per customer; WeCom's mass-send quota under the
corp's rule ``month`` (as many per natural month as the month has days; ``week``: 7,
``day``: 1 — what the corp chose in WeCom's mass-send settings); quiet hours 21:00-09:00.
The holiday calendar (:mod:`domain.holidays`) is part of it: ``HolidayDefined`` /
``HolidayRemoved``.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput
from domain.holidays import UnknownHoliday, check_holiday, from_record
from domain.restraint import CHANNELS, WECOM_QUOTA_RULES, Caps, Policy

POLICY_ID = uuid5(NAMESPACE_URL, "https://siyu.invalid/contact-policy")
MAX_CAP = 1000


def _cap(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_CAP:
        raise InvalidInput(f"{field} must be 0-{MAX_CAP} or null (no cap)", field=field)
    return value


def _clock(value: str, field: str) -> str:
    try:
        return time.fromisoformat(value).strftime("%H:%M")
    except ValueError:
        raise InvalidInput(f"{field} must be a time like 21:00", field=field) from None


class ContactPolicy(Aggregate):
    class Created(Aggregate.Created):
        pass

    class Changed(Aggregate.Event):
        """v2: WeCom's quota is the corp's rule (``wecom_quota_rule``); v1's fixed
        ``wecom_monthly_quota`` (4, WeCom's old rule) reads as the ``month`` rule."""

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.pop("wecom_monthly_quota", None)
            state["wecom_quota_rule"] = "month"

        caps: dict[str, dict[str, int | None]]
        wecom_quota_rule: str
        quiet_start: str
        quiet_end: str
        by: str
        occurred_at: datetime

        def apply(self, policy: ContactPolicy) -> None:
            policy.settings = {"caps": self.caps, "wecom_quota_rule": self.wecom_quota_rule,
                               "quiet_start": self.quiet_start, "quiet_end": self.quiet_end}

    class HolidayDefined(Aggregate.Event):
        """A holiday of the calendar: its dates (inclusive, the customer's local dates),
        caps per channel, ``total`` over the holiday and quiet hours."""

        holiday_id: str
        name: str
        start: str
        end: str
        caps: dict[str, dict[str, int | None]]
        total: int | None
        quiet_start: str
        quiet_end: str
        by: str
        occurred_at: datetime

        def apply(self, policy: ContactPolicy) -> None:
            policy.calendar()[self.holiday_id] = {
                "name": self.name, "start": self.start, "end": self.end, "caps": self.caps,
                "total": self.total, "quiet_start": self.quiet_start,
                "quiet_end": self.quiet_end}

    class HolidayRemoved(Aggregate.Event):
        holiday_id: str
        by: str
        occurred_at: datetime

        def apply(self, policy: ContactPolicy) -> None:
            policy.calendar().pop(self.holiday_id, None)

    @classmethod
    def create(cls) -> ContactPolicy:
        return cls._create(cls.Created, id=POLICY_ID)

    @event(Created)
    def __init__(self) -> None:
        self.settings: dict[str, Any] | None = None

    def change(self, caps: dict[str, dict[str, Any]], wecom_quota_rule: str,
               quiet_start: str, quiet_end: str, by: str, occurred_at: datetime) -> None:
        unknown = sorted(set(caps) - CHANNELS)
        if unknown:
            raise InvalidInput(f"unknown channel {unknown[0]!r}", field=f"caps.{unknown[0]}")
        checked = {ch: {k: _cap(v.get(k), f"caps.{ch}.{k}") for k in ("day", "week", "month")}
                   for ch, v in sorted(caps.items())}
        if wecom_quota_rule not in WECOM_QUOTA_RULES:
            raise InvalidInput(f"wecomQuotaRule must be one of {list(WECOM_QUOTA_RULES)}",
                               field="wecomQuotaRule")
        self.trigger_event(self.Changed, caps=checked, wecom_quota_rule=wecom_quota_rule,
                           quiet_start=_clock(quiet_start, "quietStart"),
                           quiet_end=_clock(quiet_end, "quietEnd"), by=by, occurred_at=occurred_at)

    def calendar(self) -> dict[str, dict[str, Any]]:
        """The holidays by id, as recorded (state added after the first snapshots)."""
        held: dict[str, dict[str, Any]] = self.__dict__.setdefault("_holidays", {})
        return held

    def define_holiday(self, name: str, start: date, end: date,
                       caps: dict[str, dict[str, Any]], total: int | None, quiet_start: str,
                       quiet_end: str, by: str, occurred_at: datetime, today: date) -> str:
        """Add a holiday to the calendar; returns its id."""
        current = self.policy()
        fields = check_holiday(name, start, end, caps, total, quiet_start, quiet_end,
                               policy=current, others=current.holidays, today=today)
        holiday_id = str(uuid4())
        self.trigger_event(self.HolidayDefined, holiday_id=holiday_id, **fields, by=by,
                           occurred_at=occurred_at)
        return holiday_id

    def remove_holiday(self, holiday_id: str, by: str, occurred_at: datetime) -> None:
        if holiday_id not in self.calendar():
            raise UnknownHoliday(f"no holiday {holiday_id}", field="holidayId")
        self.trigger_event(self.HolidayRemoved, holiday_id=holiday_id, by=by,
                           occurred_at=occurred_at)

    def policy(self) -> Policy:
        holidays = tuple(sorted((from_record(k, v) for k, v in self.calendar().items()),
                                key=lambda h: h.start))
        if self.settings is None:
            return Policy(holidays=holidays)
        caps = {c: Caps() for c in CHANNELS}
        caps.update({ch: Caps(**v) for ch, v in self.settings["caps"].items()})
        return Policy(caps=caps,
                      wecom_quota_rule=self.settings.get("wecom_quota_rule", "month"),
                      quiet_start=time.fromisoformat(self.settings["quiet_start"]),
                      quiet_end=time.fromisoformat(self.settings["quiet_end"]),
                      holidays=holidays)


def current_id() -> UUID:
    return POLICY_ID
