"""Staff KPIs over GraphQL: ``staffKpis`` (a staff member or a department, one period) and
``kpiCatalogue`` (names, units, definitions).

Reads ``staff_kpi_rollup`` over ``staff_daily_performance`` (business days in
Asia/Shanghai). Company managers, operators and auditors read anyone and any department;
a department manager their department's members and the department itself; front-line
staff their own figures only (anyone or anything else is ``FORBIDDEN``); customers read
none. Unknown KPIs or departments, and asking for
both or neither of ``staffId`` and ``department``, are ``BAD_INPUT``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import Enum
from typing import Any

import strawberry
from psycopg import AsyncConnection
from psycopg.rows import DictRow
from psycopg_pool import AsyncConnectionPool
from strawberry.types import Info

from api import policy
from api.context import Context
from api.errors import BAD_INPUT, ApiError, forbidden
from api.team_scope import require_department_figures
from api.types import to_uuid
from domain.organisation import DEPARTMENTS
from projections.staff_performance import queries as kpi_queries


@dataclass(frozen=True, slots=True)
class KpiDoc:
    name: str  # the rollup column
    unit: str
    definition: str


KPIS: tuple[KpiDoc, ...] = (
    KpiDoc("friends_new", "count", "FriendAdded events with the member in the period."),
    KpiDoc("friends_deleted_by_customer", "count", "Friends who deleted the member."),
    KpiDoc("friends_deleted_by_staff", "count", "Friends the member deleted."),
    KpiDoc("friends_net", "count", "New friends minus both kinds of deletion."),
    KpiDoc("friends_total", "count", "Net friends of all time up to the period's last day "
                                     "(a department: of the days each member held it)."),
    KpiDoc("retained_7d", "count", "New friends still friends 7 days after being added."),
    KpiDoc("retained_30d", "count", "New friends still friends 30 days after being added."),
    KpiDoc("retention_7d", "ratio", "retained_7d ÷ friends_new (null without new friends)."),
    KpiDoc("retention_30d", "ratio", "retained_30d ÷ friends_new."),
    KpiDoc("messages_received", "count", "Messages from customers to the member."),
    KpiDoc("messages_sent", "count", "Messages from the member to customers."),
    KpiDoc("first_responses", "count", "Waits answered: a customer message after the member's "
                                       "last reply, up to the member's next message."),
    KpiDoc("first_response_median_s", "seconds", "Median first-response time (nearest rank)."),
    KpiDoc("first_response_p90_s", "seconds", "90th percentile first-response time."),
    KpiDoc("chats_timed_out", "count", "Waits answered after the chat-timeout limit "
                                       "(SIYU_CHAT_TIMEOUT_MINUTES, default 30) of working "
                                       "time, or still unanswered that long."),
    KpiDoc("orders_paid", "count", "Paid orders of customers the member owned when paid."),
    KpiDoc("gmv_fen", "fen", "Amount of those orders."),
    KpiDoc("refunds", "count", "Refunds of customers the member owned when refunded."),
    KpiDoc("refund_fen", "fen", "Amount of those refunds."),
    KpiDoc("average_order_value_fen", "fen", "gmv_fen ÷ orders_paid (客单价)."),
    KpiDoc("owned_customers", "count", "Customers the member owned at any time in the period."),
    KpiDoc("converted_customers", "count", "Owned customers with a paid order credited to the "
                                           "member in the period."),
    KpiDoc("conversion_rate", "ratio", "converted_customers ÷ owned_customers (转化率)."),
    KpiDoc("moments_posts", "count", "Moments posts (朋友圈)."),
    KpiDoc("greetings_sent", "count", "Holiday greetings sent (节日问候)."),
    KpiDoc("follow_ups", "count", "Follow-up records (跟进记录)."),
    KpiDoc("sensitive_word_hits", "count", "Messages of the member that hit the sensitive-word "
                                           "lexicon (敏感词), on the message's day (a "
                                           "customer's hits are not the member's: "
                                           "customer_sensitive_word_hits)."),
    KpiDoc("customer_sensitive_word_hits", "count", "Customers' messages that hit the "
                                                    "sensitive-word lexicon in the member's "
                                                    "chats (the member serving the chat), one "
                                                    "per message, on the message's day: not the "
                                                    "member's offence, where to step in."),
    KpiDoc("customer_abuse_hits", "count", "Of those, the messages with an abuse term (辱骂)."),
    KpiDoc("customer_private_order_hits", "count", "Of those, the messages with a private-order "
                                                   "term (私单)."),
    KpiDoc("customer_diverted_order_hits", "count", "Of those, the messages with a "
                                                    "diverted-order term (飞单)."),
    KpiDoc("customer_custom_category_hits", "count", "Of those, the messages with a term of a "
                                                     "brand-defined category (a message counts "
                                                     "once in each category it hit)."),
    KpiDoc("marketing_tasks_assigned", "count", "Marketing tasks (营销任务) due in the period "
                                                "and assigned to the member (by due day; "
                                                "cancelled ones excluded)."),
    KpiDoc("marketing_tasks_completed", "count", "Marketing tasks the member completed in the "
                                                 "period (by completion day)."),
    KpiDoc("marketing_task_completion_rate", "ratio", "marketing_tasks_completed ÷ "
                                                      "marketing_tasks_assigned (above 1 when "
                                                      "tasks due later were done early)."),
    KpiDoc("campaign_tasks_created", "count", "WeCom mass-send tasks created for the member "
                                              "to confirm (by creation day)."),
    KpiDoc("campaign_sends_confirmed", "count", "Of those, the tasks the member confirmed."),
    KpiDoc("campaign_execution_rate", "ratio", "campaign_sends_confirmed ÷ "
                                               "campaign_tasks_created (执行率)."),
    KpiDoc("campaign_cost_fen", "fen", "Recorded cost of the campaigns the selection owns, "
                                       "launched in the period."),
    KpiDoc("campaign_gmv_fen", "fen", "GMV attributed to those campaigns, as their reports "
                                      "count it (recipients' paid orders in the attribution "
                                      "window)."),
    KpiDoc("roi", "ratio", "campaign_gmv_fen ÷ campaign_cost_fen (null without costs; 0 for "
                           "costed campaigns that reached nobody)."),
)
_BY_NAME = {k.name: k for k in KPIS}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


_FROM_CAMEL = {_camel(k.name): k.name for k in KPIS}


@strawberry.enum
class PeriodKind(Enum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"


@strawberry.input(description="The period holding `start` (weeks start on Monday).")
class KpiPeriodInput:
    kind: PeriodKind
    start: date


@strawberry.type(description="One KPI of the catalogue.")
class KpiDefinition:
    name: str
    unit: str = strawberry.field(description="count, ratio, seconds or fen.")
    definition: str


@strawberry.type
class KpiValue:
    name: str
    unit: str
    value: float | None = strawberry.field(
        description="Null when undefined (a ratio of 0). Not rounded (docs/staff-kpis.md).")


@strawberry.type(description="KPIs of a staff member or a department over one period.")
class StaffKpis:
    staff_id: strawberry.ID | None
    department: str | None
    period_kind: PeriodKind
    first_day: date
    last_day: date
    values: list[KpiValue]


def _authorise(info: Info[Context, None], staff_id: str | None, department: str | None
               ) -> None:
    """Company managers, operators and auditors read anyone; a department manager their
    department's members and the department; front-line staff themselves."""
    principal = info.context.principal
    if principal.sees_everyone:
        return
    if principal.kind != "staff":
        raise forbidden("staff KPIs are for staff principals")
    if staff_id is not None:
        policy.require_staff_in_scope(principal, staff_id, "staff KPIs")
    elif department is not None:
        require_department_figures(principal, department, "staff KPIs")


def _wanted(kpis: list[str] | None) -> list[KpiDoc]:
    if kpis is None:
        return list(KPIS)
    unknown = [k for k in kpis if k not in _FROM_CAMEL]
    if unknown:
        raise ApiError(BAD_INPUT, f"unknown KPI(s) {unknown}; see kpiCatalogue", field="kpis")
    return [_BY_NAME[_FROM_CAMEL[k]] for k in kpis]


def kpi_column(name: str, field: str = "kpi") -> KpiDoc:
    """The catalogue entry of a GraphQL KPI name (``gmvFen``); BAD_INPUT if unknown."""
    if name not in _FROM_CAMEL:
        raise ApiError(BAD_INPUT, f"unknown KPI {name!r}; see kpiCatalogue", field=field)
    return _BY_NAME[_FROM_CAMEL[name]]


def kpi_name(column: str) -> str:
    """The GraphQL name of a rollup column (``gmv_fen`` → ``gmvFen``)."""
    return _camel(column)


async def kpi_rollup(pool: AsyncConnectionPool[AsyncConnection[DictRow]], kind: str, start: date,
                     staff_id: str | None, department: str | None, timeout_seconds: int
                     ) -> dict[str, Any]:
    """``first_day``, ``last_day`` and every rollup column of one selection and period."""
    return await kpi_queries.rollup(pool, kind, start, staff_id, department, timeout_seconds)


def _value(raw: Any) -> float | None:
    return None if raw is None else float(raw)


@strawberry.type
class StaffKpiQuery:
    @strawberry.field(description="The KPIs staffKpis can compute: names, units, definitions.")
    def kpi_catalogue(self, info: Info[Context, None]) -> list[KpiDefinition]:
        return [KpiDefinition(name=_camel(k.name), unit=k.unit, definition=k.definition)
                for k in KPIS]

    @strawberry.field(description="KPIs of one staff member or one department over a day, "
                                  "week, month or quarter (Asia/Shanghai business days).")
    async def staff_kpis(self, info: Info[Context, None], period: KpiPeriodInput,
                         staff_id: strawberry.ID | None = None,
                         department: str | None = None,
                         kpis: list[str] | None = None) -> StaffKpis:
        if (staff_id is None) == (department is None):
            raise ApiError(BAD_INPUT, "give exactly one of staffId and department",
                           field="staffId")
        sid = None if staff_id is None else str(to_uuid(staff_id, "staffId"))
        _authorise(info, sid, department)
        if department is not None and department not in DEPARTMENTS:
            raise ApiError(BAD_INPUT, f"unknown department; expected one of "
                                      f"{sorted(DEPARTMENTS)}", field="department")
        wanted = _wanted(kpis)
        row = await kpi_rollup(info.context.services.read_models.pool, period.kind.value,
                               period.start, sid, department,
                               info.context.services.chat_timeout_seconds)
        return StaffKpis(
            staff_id=None if sid is None else strawberry.ID(sid), department=department,
            period_kind=period.kind, first_day=row["first_day"], last_day=row["last_day"],
            # .get: a KPI the live read model lacks (the previous version still serving while
            # the new one is built beside it, docs/operations.md) is null until the switch
            values=[KpiValue(name=_camel(k.name), unit=k.unit, value=_value(row.get(k.name)))
                    for k in wanted])
