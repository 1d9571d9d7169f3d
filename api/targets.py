"""KPI targets over GraphQL: ``setTarget``, ``removeTarget`` and ``targets`` with achievement.

Company managers set and remove targets; they, operators and auditors read any; a
department manager reads their department's and its members'; front-line staff read
their own (a department's or another member's is ``FORBIDDEN``); customers none.
Targets are per month or quarter (the period holding ``period.start``). Achievement:
the actual from ``staff_kpi_rollup`` over the target's period, the ratio and the
grade of :mod:`domain.target`. Reads come from ``staff_target``; mutations wait (a few
seconds at most) for it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

import strawberry
from strawberry.types import Info

from api import policy
from api.commands import run_command
from api.context import Context
from api.errors import BAD_INPUT, NOT_FOUND, ApiError, forbidden
from api.projection_wait import caught_up
from api.staff_kpis import KpiPeriodInput, PeriodKind, kpi_column, kpi_name, kpi_rollup
from api.team_scope import require_department_figures
from api.types import to_uuid
from domain.organisation import DEPARTMENTS
from domain.target import Grade, achievement, grade
from projections.targets import queries

_NOT_FOUND_CODES = frozenset({"UNKNOWN_STAFF", "UNKNOWN_TARGET"})

Row = dict[str, Any]


@strawberry.enum(description="未达成 MISSED / 达成 MET / 超额达成 EXCEEDED.")
class TargetGrade(Enum):
    MISSED = "missed"
    MET = "met"
    EXCEEDED = "exceeded"


GRADE_ZH = {Grade.MISSED: "未达成", Grade.MET: "达成", Grade.EXCEEDED: "超额达成"}


@strawberry.type(description="How far a target is reached.")
class TargetAchievement:
    actual: float | None = strawberry.field(description="The KPI over the target's period "
                                                        "(null: not measurable yet).")
    ratio: float | None = strawberry.field(
        description="actual ÷ target (target ÷ actual where less is better), capped at 10, "
                    "not rounded: the grade is decided on it.")
    grade: TargetGrade | None
    grade_zh: str | None
    ranked: bool = strawberry.field(description="False for trial targets: graded, but kept "
                                                "out of rankings and penalty views.")


@strawberry.type(description="A KPI target of a staff member or a department for a period.")
class Target:
    id: strawberry.ID
    staff_id: strawberry.ID | None
    department: str | None
    period_kind: PeriodKind
    first_day: date
    last_day: date
    kpi: str
    value: Decimal
    met_at: Decimal = strawberry.field(description="Ratio from which the grade is MET.")
    exceeded_at: Decimal = strawberry.field(description="Ratio from which it is EXCEEDED.")
    trial: bool
    set_by: str
    set_at: datetime
    updated_by: str
    updated_at: datetime
    removed_at: datetime | None
    achievement: TargetAchievement | None = strawberry.field(
        description="Null for a removed target.")


@strawberry.input
class SetTargetInput:
    staff_id: strawberry.ID | None = None
    department: str | None = None
    period: KpiPeriodInput
    kpi: str = strawberry.field(description="A KPI of kpiCatalogue (gmvFen, friendsNew …).")
    value: Decimal
    met_at: Decimal | None = strawberry.field(default=None, description="Default 1.00 (100 %).")
    exceeded_at: Decimal | None = strawberry.field(default=None,
                                                   description="Default 1.20 (120 %).")
    trial: bool = strawberry.field(default=False, description="Test phase: graded, unranked.")


@strawberry.type
class TargetPayload:
    target: Target | None
    projected: bool = strawberry.field(description="True when staff_target shows it.")


def assess(row: Row, actual_raw: Any) -> TargetAchievement:
    """Grade one ``staff_target`` row against the KPI's actual value."""
    actual = None if actual_raw is None else Decimal(str(actual_raw))
    ratio = achievement(row["kpi"], Decimal(row["value"]), actual)
    graded = grade(ratio, Decimal(row["met_at"]), Decimal(row["exceeded_at"]))
    return TargetAchievement(
        actual=None if actual is None else float(actual),
        ratio=None if ratio is None else float(ratio),
        grade=None if graded is None else TargetGrade(graded.value),
        grade_zh=None if graded is None else GRADE_ZH[graded], ranked=not row["trial"])


def to_target(row: Row, actuals: Row | None) -> Target:
    staff = row["scope"] == "staff"
    return Target(
        id=strawberry.ID(str(row["target_id"])),
        staff_id=strawberry.ID(row["subject"]) if staff else None,
        department=None if staff else row["subject"], period_kind=PeriodKind(row["period_kind"]),
        first_day=row["period_start"], last_day=row["period_end"], kpi=kpi_name(row["kpi"]),
        value=Decimal(row["value"]), met_at=Decimal(row["met_at"]),
        exceeded_at=Decimal(row["exceeded_at"]), trial=row["trial"], set_by=row["set_by"],
        set_at=row["set_at"], updated_by=row["updated_by"], updated_at=row["updated_at"],
        removed_at=row["removed_at"],
        achievement=None if actuals is None or row["removed_at"] is not None
        else assess(row, actuals[row["kpi"]]))


def _target_period(period: KpiPeriodInput) -> str:
    if period.kind not in (PeriodKind.MONTH, PeriodKind.QUARTER):
        raise ApiError(BAD_INPUT, "targets are per MONTH or QUARTER", field="period")
    return str(period.kind.value)


def _subject(staff_id: strawberry.ID | None, department: str | None) -> tuple[str, str]:
    if (staff_id is None) == (department is None):
        raise ApiError(BAD_INPUT, "give exactly one of staffId and department", field="staffId")
    if staff_id is not None:
        return "staff", str(to_uuid(staff_id, "staffId"))
    assert department is not None
    if department not in DEPARTMENTS:
        raise ApiError(BAD_INPUT, f"unknown department; expected one of {sorted(DEPARTMENTS)}",
                       field="department")
    return "department", department


async def _run(command: Callable[[], Any]) -> Any:
    return await run_command(command, dict.fromkeys(_NOT_FOUND_CODES, NOT_FOUND))


async def _payload(info: Info[Context, None], target_id: UUID, position: int | None
                   ) -> TargetPayload:
    projected = await caught_up(info, "staff_target", position)
    row = await queries.target(info.context.services.read_models.pool, target_id)
    if row is None:
        return TargetPayload(target=None, projected=projected)
    actuals = await kpi_rollup(
        info.context.services.read_models.pool, row["period_kind"], row["period_start"],
        row["subject"] if row["scope"] == "staff" else None,
        row["subject"] if row["scope"] == "department" else None,
        info.context.services.chat_timeout_seconds)
    return TargetPayload(target=to_target(row, actuals), projected=projected)


def _may_set(info: Info[Context, None], scope: str, subject: str) -> None:
    """Company managers set any target; a department manager those of their department and
    of its members (the policy admits no one else)."""
    principal = info.context.principal
    if principal.sees_everyone:
        return
    if principal.access is not policy.DM:
        raise forbidden("targets are set by company and department managers")
    if scope == "staff":
        policy.require_staff_in_scope(principal, subject, "targets")
    else:
        require_department_figures(principal, subject, "targets")


@strawberry.type
class TargetQuery:
    @strawberry.field(description="The targets of a staff member or a department for a month "
                                  "or quarter, with achievement; front-line staff read their "
                                  "own.")
    async def targets(self, info: Info[Context, None], period: KpiPeriodInput,
                      staff_id: strawberry.ID | None = None, department: str | None = None,
                      include_removed: bool = False) -> list[Target]:
        kind = _target_period(period)
        scope, subject = _subject(staff_id, department)
        principal = info.context.principal
        if not principal.sees_everyone:
            if principal.kind != "staff":
                raise forbidden("targets are for staff principals")
            if scope == "staff":
                policy.require_staff_in_scope(principal, subject, "targets")
            else:
                require_department_figures(principal, subject, "targets")
        actuals = await kpi_rollup(info.context.services.read_models.pool, kind, period.start,
                                   subject if scope == "staff" else None,
                                   subject if scope == "department" else None,
                                   info.context.services.chat_timeout_seconds)
        rows = await queries.targets_of(info.context.services.read_models.pool, scope, subject,
                                        kind, actuals["first_day"],
                                        include_removed=include_removed)
        return [to_target(r, actuals) for r in rows]


@strawberry.type
class TargetMutation:
    @strawberry.mutation(description="Set (or revise) the target of a KPI for a staff member or "
                                      "a department, for the month or quarter holding "
                                      "period.start.")
    async def set_target(self, info: Info[Context, None], input: SetTargetInput
                         ) -> TargetPayload:
        kind = _target_period(input.period)
        scope, subject = _subject(input.staff_id, input.department)
        _may_set(info, scope, subject)
        kpi = kpi_column(input.kpi).name
        app, by = info.context.services.app, info.context.principal.actor
        target_id, position = await _run(lambda: app.targets.set(
            scope, subject, kind, input.period.start, kpi, input.value, by, datetime.now(UTC),
            met_at=input.met_at, exceeded_at=input.exceeded_at, trial=input.trial))
        return await _payload(info, target_id, position)

    @strawberry.mutation(description="Remove a target (it stays in the history).")
    async def remove_target(self, info: Info[Context, None], target_id: strawberry.ID
                            ) -> TargetPayload:
        tid = to_uuid(target_id, "targetId")
        row = await queries.target(info.context.services.read_models.pool, tid)
        if row is not None:  # an unknown one: NOT_FOUND from the command
            _may_set(info, row["scope"], row["subject"])
        app, by = info.context.services.app, info.context.principal.actor
        position = await _run(lambda: app.targets.remove(tid, by, datetime.now(UTC)))
        return await _payload(info, tid, position)
