"""``WorkingHours``: when the staff are on duty, so waits are measured in working time.

One aggregate (a fixed id). Each change is an event in force from its ``occurred_at``
on (never backdated: the command records the time it is given, and a wait is measured
piecewise under the hours in force at each instant — see :mod:`domain.working_time`).
Until the first change every minute counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from uuid import NAMESPACE_URL, uuid5

from eventsourcing.domain import Aggregate, event

from domain.working_time import ALWAYS, Week, parse_week

WORKING_HOURS_ID = uuid5(NAMESPACE_URL, "https://siyu.invalid/working-hours")


class WorkingHours(Aggregate):
    class Created(Aggregate.Created):
        pass

    class Changed(Aggregate.Event):
        """The working hours from ``occurred_at`` on: per ISO weekday (Monday first),
        ``[start, end)`` minute pairs of the Asia/Shanghai day."""

        week: list[list[list[int]]]
        by: str
        occurred_at: datetime

        def apply(self, hours: WorkingHours) -> None:
            hours.week = self.week

    @classmethod
    def create(cls) -> WorkingHours:
        return cls._create(cls.Created, id=WORKING_HOURS_ID)

    @event(Created)
    def __init__(self) -> None:
        self.week: list[list[list[int]]] | None = None

    def change(self, days: Mapping[str, Sequence[tuple[str, str]]], by: str,
               occurred_at: datetime) -> bool:
        """Set the hours; False (nothing recorded) when they are already these."""
        week = parse_week(days).to_json()
        if week == self.week:
            return False
        self.trigger_event(self.Changed, week=week, by=by, occurred_at=occurred_at)
        return True

    def current(self) -> Week:
        return ALWAYS if self.week is None else Week.from_json(self.week)
