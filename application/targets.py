"""KPI targets: set (or revise) and remove a target.

Targets are their own aggregates (:mod:`domain.target`), read fresh from the store
(managers edit them rarely, from any process). A staff target must name a known
staff member.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

from application.unit_of_work import EventStore, UnitOfWork
from domain.errors import UnknownStaff
from domain.staff import Staff
from domain.target import Target, UnknownTarget, check_kpi, check_subject, period_start


class Targets:
    def __init__(self, store: EventStore) -> None:
        self.store = store

    def set(self, scope: str, subject: str, period_kind: str, day: date, kpi: str,
            value: Decimal | float | int | str, by: str, occurred_at: datetime, *,
            met_at: Decimal | float | None = None, exceeded_at: Decimal | float | None = None,
            trial: bool = False) -> tuple[UUID, int | None]:
        """Set the target of ``kpi`` for the period holding ``day``; its id and the log
        position (None when the target already had these figures)."""
        subject = check_subject(scope, subject)
        start = period_start(period_kind, day)
        target_id = Target.create_id(scope, subject, period_kind, start.isoformat(),
                                     check_kpi(kpi))
        if scope == "staff" and self.store.find(UUID(subject), Staff) is None:
            raise UnknownStaff(f"no staff member {subject}", field="staffId")

        def decide(unit: UnitOfWork[Target]) -> None:
            target = self.store.find(target_id, Target, fresh=True)
            if target is None:
                unit.add(Target.define(scope, subject, period_kind, start, kpi, value, met_at,
                                       exceeded_at, trial, by, occurred_at))
            elif target.revise(value, met_at, exceeded_at, trial, by, occurred_at):
                unit.add(target)

        return target_id, self.store.transact(Target, decide)[1]

    def remove(self, target_id: UUID, by: str, occurred_at: datetime) -> int | None:
        """Remove a target; None when it was removed already."""
        def decide(unit: UnitOfWork[Target]) -> None:
            target = self.store.find(target_id, Target, fresh=True)
            if target is None:
                raise UnknownTarget(f"no target {target_id}", field="targetId")
            if target.remove(by, occurred_at):
                unit.add(target)

        return self.store.transact(Target, decide)[1]
