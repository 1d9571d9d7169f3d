"""Daily reports (数据日报) over GraphQL: read what the worker compiled and sent.

Managers and service principals read every report; a staff member reads their own.
Reads come from ``daily_report`` (figures as compiled, never recomputed).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import strawberry
from strawberry.types import Info

from api import policy
from api.context import Context
from api.types import Long
from domain.daily_report import MEASURES
from projections.daily_report import queries

Row = dict[str, Any]


@strawberry.type(description="One measure of a report: the day's value and the day before.")
class ReportFigure:
    measure: str = strawberry.field(description=", ".join(MEASURES) + " (gmv in fen).")
    value: Long
    previous: Long
    change: Long


@strawberry.type(description="A staff member's (or a manager's: the team's) daily report. "
                             "Target progress is not part of it.")
class DailyReport:
    id: strawberry.ID
    recipient_id: strawberry.ID
    scope: str = strawberry.field(description="staff or manager.")
    day: date = strawberry.field(description="Calendar day in Asia/Shanghai.")
    figures: list[ReportFigure]
    compiled_at: datetime
    status: str = strawberry.field(description="compiled, sent or failed.")
    sent_at: datetime | None

    @classmethod
    def from_row(cls, row: Row) -> DailyReport:
        figures, previous = row["figures"], row["previous"]
        return cls(id=strawberry.ID(str(row["report_id"])),
                   recipient_id=strawberry.ID(row["recipient_id"]), scope=row["scope"],
                   day=row["day"], compiled_at=row["compiled_at"], status=row["status"],
                   sent_at=row["sent_at"],
                   figures=[ReportFigure(measure=m, value=Long(figures.get(m, 0)),
                                         previous=Long(previous.get(m, 0)),
                                         change=Long(figures.get(m, 0) - previous.get(m, 0)))
                            for m in MEASURES])


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
