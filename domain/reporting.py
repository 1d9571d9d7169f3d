"""Daily-report commands, mixed into the application: compile once, record the send."""

from __future__ import annotations

import contextlib
from datetime import date, datetime
from typing import Any, Protocol, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Repository
from eventsourcing.persistence import IntegrityError, Recording

from domain.daily_report import DailyReport, report_id

ATTEMPTS = 8


class _Host(Protocol):
    @property
    def repository(self) -> Repository[UUID]: ...

    _write_lock: Any

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]: ...


class ReportCommands:
    def compile_daily_report(self: _Host, recipient_id: str, scope: str, day: date,
                             figures: dict[str, int], previous: dict[str, int],
                             occurred_at: datetime, targets: list[dict[str, Any]] | None = None
                             ) -> tuple[DailyReport, bool]:
        """Record the report of (recipient, day) once; returns it and whether it is new."""
        with self._write_lock:
            found = _report(self, report_id(recipient_id, day))
            if found is not None:
                return found, False
            report = DailyReport.compile(recipient_id, scope, day, figures, previous,
                                         occurred_at, targets)
            try:
                self.save(report)
            except IntegrityError:
                again = _report(self, report.id)
                if again is None:
                    raise
                return again, False
            return report, True

    def record_report_outcome(self: _Host, aggregate_id: UUID, gateway_message_id: str | None,
                              failure: str | None, occurred_at: datetime) -> bool:
        with self._write_lock:
            for attempt in range(ATTEMPTS):
                report = _report(self, aggregate_id)
                if report is None:
                    raise KeyError(aggregate_id)
                if not report.record_outcome(gateway_message_id, failure, occurred_at):
                    return False
                try:
                    self.save(report)
                    return True
                except IntegrityError:
                    if attempt == ATTEMPTS - 1:
                        raise
                finally:
                    _forget(self, aggregate_id)
        return False  # pragma: no cover


def _report(host: _Host, aggregate_id: UUID) -> DailyReport | None:
    _forget(host, aggregate_id)
    try:
        found: Any = host.repository.get(aggregate_id)
    except AggregateNotFoundError:
        return None
    return found if isinstance(found, DailyReport) else None


def _forget(host: _Host, aggregate_id: UUID) -> None:
    cache = host.repository.cache
    if cache is not None:
        with contextlib.suppress(KeyError):
            cast(Any, cache).get(aggregate_id, evict=True)
