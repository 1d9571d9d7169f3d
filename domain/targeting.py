"""Target commands, mixed into the application: set (or revise) and remove a KPI target.

Targets are their own aggregates (:mod:`domain.target`), read fresh from the
store (managers edit them rarely, from any process). A staff target must name
a known staff member.
"""

from __future__ import annotations

import contextlib
import threading
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from domain.errors import UnknownStaff
from domain.staff import Staff
from domain.target import Target, UnknownTarget, check_kpi, check_subject, period_start

ATTEMPTS = 8


class TargetCommands(Application[UUID]):
    _write_lock: threading.RLock

    def set_target(self, scope: str, subject: str, period_kind: str, day: date, kpi: str,
                   value: Decimal | float | int | str, by: str, occurred_at: datetime, *,
                   met_at: Decimal | float | None = None,
                   exceeded_at: Decimal | float | None = None,
                   trial: bool = False) -> tuple[UUID, int | None]:
        """Set the target of ``kpi`` for the period holding ``day``; its id and the log
        position (None when the target already had these figures)."""
        subject = check_subject(scope, subject)
        start = period_start(period_kind, day)
        target_id = Target.create_id(scope, subject, period_kind, start.isoformat(),
                                     check_kpi(kpi))
        if scope == "staff":
            self._known_staff(UUID(subject))
        with self._write_lock:
            for attempt in range(ATTEMPTS):
                try:
                    target = self._target(target_id)
                except UnknownTarget:
                    target = Target.define(scope, subject, period_kind, start, kpi, value,
                                           met_at, exceeded_at, trial, by, occurred_at)
                else:
                    if not target.revise(value, met_at, exceeded_at, trial, by, occurred_at):
                        return target_id, None
                try:
                    recordings = self.save(target)
                    return target_id, max(r.notification.id for r in recordings)
                except IntegrityError:  # set concurrently: decide again on the stored one
                    if attempt == ATTEMPTS - 1:
                        raise
                finally:
                    self._forget_target(target_id)
        raise AssertionError("unreachable")  # pragma: no cover

    def remove_target(self, target_id: UUID, by: str, occurred_at: datetime) -> int | None:
        """Remove a target; None when it was removed already."""
        with self._write_lock:
            for attempt in range(ATTEMPTS):
                target = self._target(target_id)
                try:
                    if not target.remove(by, occurred_at):
                        return None
                    recordings = self.save(target)
                    return max(r.notification.id for r in recordings)
                except IntegrityError:
                    if attempt == ATTEMPTS - 1:
                        raise
                finally:
                    self._forget_target(target_id)
        raise AssertionError("unreachable")  # pragma: no cover

    def _target(self, target_id: UUID) -> Target:
        self._forget_target(target_id)
        try:
            found: Any = self.repository.get(target_id)
        except AggregateNotFoundError:
            raise UnknownTarget(f"no target {target_id}", field="targetId") from None
        if not isinstance(found, Target):
            raise UnknownTarget(f"no target {target_id}", field="targetId")
        return found

    def _known_staff(self, staff_id: UUID) -> None:
        try:
            found: Any = self.repository.get(staff_id)
        except AggregateNotFoundError:
            raise UnknownStaff(f"no staff member {staff_id}", field="staffId") from None
        if not isinstance(found, Staff):
            raise UnknownStaff(f"no staff member {staff_id}", field="staffId")

    def _forget_target(self, target_id: UUID) -> None:
        cache = self.repository.cache
        if cache is not None:
            with contextlib.suppress(KeyError):
                cast(Any, cache).get(target_id, evict=True)
