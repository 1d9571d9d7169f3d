"""Daily reports (日报): compiled once per (recipient, day), then their send recorded.

Reports are their own aggregates (:mod:`domain.daily_report`), read fresh from the
store: the report worker may run in several processes.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from application.unit_of_work import EventStore, UnitOfWork
from domain.daily_report import DailyReport, report_id


class DailyReports:
    def __init__(self, store: EventStore) -> None:
        self.store = store

    def compile(self, recipient_id: str, scope: str, day: date, figures: dict[str, int],
                previous: dict[str, int], occurred_at: datetime,
                targets: list[dict[str, Any]] | None = None,
                members: list[dict[str, Any]] | None = None) -> tuple[DailyReport, bool]:
        """Record the report of (recipient, day) once; returns it and whether it is new."""
        aggregate_id = report_id(recipient_id, day)

        def decide(unit: UnitOfWork[DailyReport]) -> tuple[DailyReport, bool]:
            found = self.store.find(aggregate_id, DailyReport, fresh=True)
            if found is not None:
                return found, False
            return unit.add(DailyReport.compile(recipient_id, scope, day, figures, previous,
                                                occurred_at, targets, members)), True

        try:
            return self.store.transact(DailyReport, decide, attempts=1)[0]
        except IntegrityError:  # compiled concurrently: the stored one stands
            again = self.store.find(aggregate_id, DailyReport, fresh=True)
            if again is None:
                raise
            return again, False

    def record_outcome(self, aggregate_id: UUID, gateway_message_id: str | None,
                       failure: str | None, occurred_at: datetime) -> bool:
        """Record the report's send once; False when an outcome was recorded already."""
        def decide(unit: UnitOfWork[DailyReport]) -> bool:
            report = self.store.find(aggregate_id, DailyReport, fresh=True)
            if report is None:
                raise KeyError(aggregate_id)
            if not report.record_outcome(gateway_message_id, failure, occurred_at):
                return False
            unit.add(report)
            return True

        return self.store.transact(DailyReport, decide)[0]
