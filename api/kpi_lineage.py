"""``kpiLineage``: the events that make a staff KPI figure (docs/staff-kpis.md, *Lineage*).

Same selection and access rules as ``staffKpis`` (front-line staff: their own figures; a
department manager: their department and its members), plus: customers are named by id
only, and only when the reader may see that customer (otherwise ``customerId`` is null).
A KPI without lineage (ratios, percentiles, retention, …) is ``BAD_INPUT``: its figure is
made from other KPIs' lineages, listed in the error.
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import strawberry
from strawberry.types import Info

from api.context import Context
from api.errors import BAD_INPUT, ApiError, forbidden
from api.policy import DM, staff_scope
from api.read_models import decode_cursor, encode_cursor
from api.staff_kpis import KpiPeriodInput, kpi_column, kpi_name, kpi_rollup
from api.types import Long, PageInfo, to_uuid
from domain.organisation import DEPARTMENTS
from projections.staff_performance import lineage as queries

MAX_PAGE = 500
_KIND = "lineage"


@strawberry.type(description="One event counted in a KPI figure: who, when, how much.")
class LineageEvent:
    position: Long = strawberry.field(description="The event's position in the log.")
    kind: str = strawberry.field(description="friend_added, order_paid, first_response, …")
    staff_id: str = strawberry.field(description="The staff member credited.")
    customer_id: strawberry.ID | None = strawberry.field(
        description="Null where the reader may not see the customer.")
    at: datetime = strawberry.field(description="Business time of the event.")
    day: date = strawberry.field(description="Its business day (Asia/Shanghai).")
    channel: str | None
    amount_fen: Long | None
    response_seconds: int | None
    categories: list[str] | None = strawberry.field(
        description="A sensitive-word hit's lexicon categories (abuse, private_order, …).")
    contribution: float = strawberry.field(
        description="What it adds to the figure (+1, -1, or an amount in fen).")


@strawberry.type(description="The events that make one KPI figure, in log order.")
class KpiLineage:
    kpi: str
    staff_id: strawberry.ID | None
    department: str | None
    first_day: date
    last_day: date
    value: float | None = strawberry.field(description="The figure, as staffKpis gives it.")
    events: list[LineageEvent]
    page_info: PageInfo


def _authorise(info: Info[Context, None], staff_id: str | None, department: str | None) -> None:
    principal = info.context.principal
    scope = staff_scope(principal)
    if scope.everyone:
        return
    if department is not None:
        if principal.access is not DM or department != principal.department:
            raise forbidden("a department's lineage is for its manager and company managers")
        return
    if staff_id is None or not scope.covers_staff(staff_id):
        raise forbidden("front-line staff can only open their own figures")


def _contribution(kpi: str, row: dict[str, object]) -> float:
    if kpi in queries.WAIT_KPIS:
        return 1.0
    if kpi in queries.AMOUNT_KPIS:
        return float(row["amount_fen"])  # type: ignore[arg-type]
    return float(queries.LEDGER_KPIS[kpi][str(row["kind"])])


@strawberry.type
class KpiLineageQuery:
    @strawberry.field(description="The events that make a staff KPI figure (who, when, how "
                                  "much), in log order, paginated; see docs/staff-kpis.md.")
    async def kpi_lineage(self, info: Info[Context, None], kpi: str, period: KpiPeriodInput,
                          staff_id: strawberry.ID | None = None,
                          department: str | None = None, first: int = 100,
                          after: str | None = None) -> KpiLineage:
        if (staff_id is None) == (department is None):
            raise ApiError(BAD_INPUT, "give exactly one of staffId and department",
                           field="staffId")
        if department is not None and department not in DEPARTMENTS:
            raise ApiError(BAD_INPUT, f"unknown department; expected one of "
                                      f"{sorted(DEPARTMENTS)}", field="department")
        column = kpi_column(kpi).name
        if column not in queries.LINEAGE_KPIS:
            raise ApiError(BAD_INPUT, f"{kpi} has no lineage of its own; open one of "
                                      f"{sorted(kpi_name(k) for k in queries.LINEAGE_KPIS)}",
                           field="kpi")
        if not 1 <= first <= MAX_PAGE:
            raise ApiError(BAD_INPUT, f"first must be 1..{MAX_PAGE}", field="first")
        try:
            position = 0 if after is None else decode_cursor(_KIND, after)
        except ValueError as error:
            raise ApiError(BAD_INPUT, str(error), field="after") from error
        sid = None if staff_id is None else str(to_uuid(staff_id, "staffId"))
        _authorise(info, sid, department)
        services = info.context.services
        pool = services.read_models.pool
        rollup = await kpi_rollup(pool, period.kind.value, period.start, sid, department,
                                  services.chat_timeout_seconds)
        rows = await queries.lineage(pool, column, sid, department, rollup["first_day"],
                                     rollup["last_day"], position, first + 1)
        page, more = rows[:first], len(rows) > first
        principal = info.context.principal
        return KpiLineage(
            kpi=kpi, staff_id=None if sid is None else strawberry.ID(sid),
            department=department, first_day=rollup["first_day"],
            last_day=rollup["last_day"],
            value=None if rollup.get(column) is None else float(rollup[column]),
            events=[LineageEvent(
                position=Long(r["position"]), kind=r["kind"], staff_id=r["staff_id"],
                customer_id=strawberry.ID(str(r["customer_id"]))
                if r["customer_id"] is not None and principal.may_see(
                    UUID(str(r["customer_id"])), list(r["current_staff_ids"] or []))
                else None,
                at=r["at"], day=r["day"], channel=r["channel"],
                amount_fen=None if r["amount_fen"] is None else Long(r["amount_fen"]),
                response_seconds=r["response_seconds"], categories=r["categories"],
                contribution=_contribution(column, r))
                for r in page],
            page_info=PageInfo(has_next_page=more, end_cursor=encode_cursor(
                _KIND, page[-1]["position"]) if page else None))
