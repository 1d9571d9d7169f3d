"""The working hours (工作时间): when the staff are on duty, so waits count working time.

One aggregate (:class:`domain.working_hours.WorkingHours`, a fixed id); until its
first change every minute counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from application.unit_of_work import EventStore, UnitOfWork
from domain.working_hours import WORKING_HOURS_ID, WorkingHours
from domain.working_time import ALWAYS, Week


class WorkingHoursSetting:
    def __init__(self, store: EventStore) -> None:
        self.store = store

    def get(self) -> Week:
        found = self.store.find(WORKING_HOURS_ID, WorkingHours)
        return ALWAYS if found is None else found.current()

    def set(self, days: Mapping[str, Sequence[tuple[str, str]]], by: str,
            occurred_at: datetime) -> int | None:
        """Returns the log position of the change (None if the hours were already these)."""
        def decide(unit: UnitOfWork[WorkingHours]) -> None:
            hours = self.store.find(WORKING_HOURS_ID, WorkingHours) or WorkingHours.create()
            if hours.change(days, by, occurred_at):
                unit.add(hours)

        return self.store.transact(WorkingHours, decide)[1]
