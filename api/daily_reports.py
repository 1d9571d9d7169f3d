"""Daily reports (数据日报) over GraphQL: read what the worker compiled and sent.

Managers and service principals read every report; a staff member reads their own.
Reads come from ``daily_report`` (figures, target progress and a manager's per-member
breakdown as compiled, never recomputed).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import strawberry
from strawberry.types import Info

from api import policy
from api.context import Context
from api.staff_kpis import kpi_name
from api.targets import GRADE_ZH, TargetGrade
from api.types import Long
from domain.daily_report import MEASURES
from domain.target import Grade
from projections.daily_report import queries

Row = dict[str, Any]


@strawberry.type(description="One measure of a report: the day's value and the day before.")
class ReportFigure:
    measure: str = strawberry.field(description=", ".join(MEASURES) + " (gmv in fen).")
    value: Long
    previous: Long
    change: Long


def _figures(figures: dict[str, int], previous: dict[str, int]) -> list[ReportFigure]:
    return [ReportFigure(measure=m, value=Long(figures.get(m, 0)),
                         previous=Long(previous.get(m, 0)),
                         change=Long(figures.get(m, 0) - previous.get(m, 0))) for m in MEASURES]


def _number(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


@strawberry.type(description="One target's progress from the start of its period to the "
                             "report's day, as compiled.")
class ReportTargetProgress:
    kpi: str = strawberry.field(description="A KPI of kpiCatalogue (gmvFen, friendsNew …).")
    subject: str = strawberry.field(description="staff:<id> or department:<name>.")
    target: Decimal
    actual: Decimal | None = strawberry.field(
        description="The KPI from the period's first day to the report's day, unrounded "
                    "(null: not measurable yet).")
    ratio: Decimal | None = strawberry.field(
        description="Achievement ratio shown to 4 decimal places; the grade was decided on "
                    "the unrounded ratio.")
    grade: TargetGrade | None
    grade_zh: str | None = strawberry.field(description="未达成 / 达成 / 超额达成.")
    trial: bool = strawberry.field(description="A trial target (试行): graded, not ranked.")

    @classmethod
    def of(cls, t: dict[str, Any]) -> ReportTargetProgress:
        graded = None if t.get("grade") is None else Grade(t["grade"])
        return cls(kpi=kpi_name(t["kpi"]), subject=t["subject"], target=Decimal(t["target"]),
                   actual=_number(t.get("actual")), ratio=_number(t.get("ratio")),
                   grade=None if graded is None else TargetGrade(graded.value),
                   grade_zh=None if graded is None else GRADE_ZH[graded],
                   trial=bool(t.get("trial")))


@strawberry.type(description="One team member's figures in a manager's report.")
class ReportMemberFigures:
    staff_id: strawberry.ID
    figures: list[ReportFigure]


@strawberry.type(description="A staff member's (or a manager's: the team's totals and each "
                             "member's figures) daily report, with target progress.")
class DailyReport:
    id: strawberry.ID
    recipient_id: strawberry.ID
    scope: str = strawberry.field(description="staff or manager.")
    day: date = strawberry.field(description="Calendar day in Asia/Shanghai.")
    figures: list[ReportFigure]
    targets: list[ReportTargetProgress] = strawberry.field(
        description="The period's targets up to the day: a member's own; for a manager, "
                    "every department's.")
    members: list[ReportMemberFigures] = strawberry.field(
        description="A manager's report: each front-line member employed that day (the "
                    "totals in `figures` also count everyone else's activity, managers' "
                    "own included). Empty for a member's own report.")
    compiled_at: datetime
    status: str = strawberry.field(description="compiled, sent or failed.")
    sent_at: datetime | None

    @classmethod
    def from_row(cls, row: Row) -> DailyReport:
        return cls(id=strawberry.ID(str(row["report_id"])),
                   recipient_id=strawberry.ID(row["recipient_id"]), scope=row["scope"],
                   day=row["day"], compiled_at=row["compiled_at"], status=row["status"],
                   sent_at=row["sent_at"], figures=_figures(row["figures"], row["previous"]),
                   targets=[ReportTargetProgress.of(t) for t in row["targets"]],
                   members=[ReportMemberFigures(staff_id=strawberry.ID(m["staff_id"]),
                                                figures=_figures(m["figures"], m["previous"]))
                            for m in row["members"]])


@strawberry.type
class DailyReportQuery:
    @strawberry.field(description="Reports of a day (managers, service: everyone's; staff: "
                                  "their own), or of the latest day when ``day`` is null.")
    async def daily_reports(self, info: Info[Context, None], day: date | None = None,
                            recipient_id: strawberry.ID | None = None) -> list[DailyReport]:
        principal = info.context.principal
        recipient = None if recipient_id is None else str(recipient_id)
        if not principal.sees_everyone:
            if recipient is not None and recipient != principal.subject_id:
                policy.require_staff_in_scope(principal, recipient, "daily reports")
            else:
                recipient = principal.subject_id
        rows = await queries.reports(info.context.services.read_models.pool, recipient, day)
        return [DailyReport.from_row(r) for r in rows]
