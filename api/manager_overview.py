"""The manager overview (``managerOverview``): the private-domain manager's own numbers over
GraphQL — users by touchpoint as a daily series by business time, retention per channel,
GMV, short- and long-term ROI, and each role's KPI set with targets (docs/manager-overview.md).

Company managers and auditors read the company or any department; a department manager
reads their own department only (anything else is ``FORBIDDEN``). Figures are unrounded.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import strawberry
from strawberry.types import Info

from api.context import Context
from api.errors import BAD_INPUT, ApiError, forbidden
from api.kpi_lineage import KpiLineageQuery
from api.policy import DM
from api.staff_kpis import KpiPeriodInput, kpi_name, kpi_rollup
from api.targets import TargetAchievement, assess
from domain.organisation import DEPARTMENTS
from projections.content import queries as content_queries
from projections.private_domain import queries

#: The seeds' roles and the catalogue KPIs each is measured by (docs/manager-overview.md).
ROLE_KPIS: dict[str, tuple[str, ...]] = {
    "activity_planner": ("campaign_cost_fen", "campaign_gmv_fen", "roi",
                         "marketing_task_completion_rate", "campaign_execution_rate"),
    "copywriter": ("moments_posts", "greetings_sent", "campaign_execution_rate"),
    "content_operator": ("moments_posts", "marketing_tasks_completed",
                         "marketing_task_completion_rate", "friends_new"),
    "user_operator": ("friends_new", "friends_net", "retention_7d", "retention_30d",
                      "messages_sent", "first_response_median_s", "chats_timed_out"),
    "sales": ("gmv_fen", "orders_paid", "conversion_rate", "average_order_value_fen",
              "friends_new", "follow_ups", "moments_posts"),
    "service": ("first_responses", "first_response_median_s", "first_response_p90_s",
                "chats_timed_out", "refunds", "sensitive_word_hits",
                "customer_sensitive_word_hits"),
}
#: Content figures (docs/content.md) added to the writers' sets: a copywriter's as the
#: pieces' author, a content operator's as their operator. No targets exist for them.
CONTENT_KPIS = ("produced", "views", "readers", "forwards", "friend_adds", "gmv_fen")
CONTENT_ROLES = {"copywriter": "author", "content_operator": "operator"}
SHANGHAI = ZoneInfo("Asia/Shanghai")


@strawberry.type(description="Customers in each touchpoint at the end of one business day "
                             "(Asia/Shanghai). A department: null where not a department's.")
class PrivateDomainDay:
    day: date
    mini_program: int | None
    groups: int | None
    members: int | None
    wecom_friends: int
    personal_wechat: int
    total: int = strawberry.field(description="Customers in at least one touchpoint "
                                              "(a department: one of its two).")


@strawberry.type(description="New WeCom friends of the period from one channel and their "
                             "retention at 7 and 30 days: only adds whose window has fully "
                             "passed by today (business time) are due and count; the others "
                             "are open (docs/manager-overview.md).")
class ChannelRetention:
    channel: str
    friends_new: int
    due_7d: int = strawberry.field(name="due7D", description="Adds whose 7-day window has "
                                                            "passed.")
    open_7d: int = strawberry.field(name="open7D", description="Adds whose 7-day window has "
                                                              "not passed yet (not counted).")
    retained_7d: int = strawberry.field(name="retained7D")
    due_30d: int = strawberry.field(name="due30D")
    open_30d: int = strawberry.field(name="open30D")
    retained_30d: int = strawberry.field(name="retained30D")
    retention_7d: float | None = strawberry.field(name="retention7D",
                                                  description="retained7D ÷ due7D.")
    retention_30d: float | None = strawberry.field(name="retention30D",
                                                   description="retained30D ÷ due30D.")


@strawberry.type(description="One KPI of a member's role set, with the member's target.")
class RoleKpi:
    name: str
    value: float | None
    target: float | None
    achievement: TargetAchievement | None


@strawberry.type
class RoleMember:
    staff_id: strawberry.ID
    kpis: list[RoleKpi]


@strawberry.type(description="A role's KPI set and each member's figures in the period.")
class RoleKpiSet:
    role: str
    kpis: list[str]
    members: list[RoleMember]


@strawberry.type(description="The manager's own numbers for one period (docs/manager-overview.md).")
class ManagerOverview:
    department: str | None
    first_day: date
    last_day: date
    users_daily: list[PrivateDomainDay]
    retention_by_channel: list[ChannelRetention]
    gmv_fen: float | None
    orders_paid: float | None
    campaign_cost_fen: float | None
    campaign_gmv_fen: float | None
    roi: float | None = strawberry.field(
        description="Short-term ROI: campaign GMV ÷ campaign cost (null without a cost).")
    acquired_customers: int | None = strawberry.field(
        description="Customers first seen in the period (company only).")
    lifetime_gmv_fen: float | None = strawberry.field(
        description="Their realised lifetime GMV: every paid order up to now (company only).")
    long_term_roi: float | None = strawberry.field(
        description="lifetimeGmvFen ÷ campaignCostFen (company only; null without a cost).")
    roles: list[RoleKpiSet]


def _scope(info: Info[Context, None], department: str | None) -> str | None:
    principal = info.context.principal
    if department is not None and department not in DEPARTMENTS:
        raise ApiError(BAD_INPUT, f"unknown department; expected one of {sorted(DEPARTMENTS)}",
                       field="department")
    if principal.access is DM:
        if department not in (None, principal.department):
            raise forbidden("a department manager reads their own department only")
        return principal.department
    return department


def _ratio(part: Any, whole: Any) -> float | None:
    return None if not whole else float(Decimal(part) / Decimal(whole))


def _num(raw: Any) -> float | None:
    return None if raw is None else float(raw)


def _role_sets(staff: list[dict[str, Any]], kpis: dict[str, dict[str, Any]],
               content: dict[str, dict[str, dict[str, Any]]]) -> list[RoleKpiSet]:
    sets = []
    for role, names in ROLE_KPIS.items():
        members = []
        writing = CONTENT_KPIS if role in CONTENT_ROLES else ()
        for member in (s for s in staff if s["role"] == role):
            row = kpis.get(member["staff_id"], {})
            targets = {t["kpi"]: t for t in row.get("targets", [])}
            values = row.get("kpis", {})
            wrote = content.get(role, {}).get(member["staff_id"], {})
            members.append(RoleMember(staff_id=strawberry.ID(member["staff_id"]), kpis=[
                *(RoleKpi(name=kpi_name(n), value=_num(values.get(n)),
                          target=_num(targets[n]["value"]) if n in targets else None,
                          achievement=assess(targets[n], values.get(n))
                          if n in targets else None) for n in names),
                *(RoleKpi(name=_content_name(n), value=float(wrote.get(n) or 0), target=None,
                          achievement=None) for n in writing)]))
        sets.append(RoleKpiSet(role=role, kpis=[*(kpi_name(n) for n in names),
                                                *(_content_name(n) for n in writing)],
                               members=members))
    return sets


def _content_name(figure: str) -> str:
    return kpi_name(f"content_{figure}")


async def _content(pool: Any, first: date, last: date) -> dict[str, dict[str, dict[str, Any]]]:
    """Content figures of the period's business days, per writer role and staff id."""
    start = datetime.combine(first, time(0), tzinfo=SHANGHAI)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=SHANGHAI)
    return {role: {r["key"]: r for r in await content_queries.figures(
        pool, by=by, starts_at=start, ends_at=end) if r["key"] is not None}  # type: ignore[arg-type]
        for role, by in CONTENT_ROLES.items()}


def _retention(c: dict[str, Any]) -> ChannelRetention:
    new = int(c["friends_new"])
    return ChannelRetention(
        channel=c["channel"], friends_new=new,
        due_7d=c["due_7d"], open_7d=new - int(c["due_7d"]), retained_7d=c["retained_7d"],
        due_30d=c["due_30d"], open_30d=new - int(c["due_30d"]), retained_30d=c["retained_30d"],
        retention_7d=_ratio(c["retained_7d"], c["due_7d"]),
        retention_30d=_ratio(c["retained_30d"], c["due_30d"]))


@strawberry.type
class ManagerOverviewQuery:
    @strawberry.field(description="The manager's numbers for a day, week, month or quarter: "
                                  "private-domain users by touchpoint per business day, "
                                  "retention per channel, GMV, ROI, role KPI sets with targets.")
    async def manager_overview(self, info: Info[Context, None], period: KpiPeriodInput,
                               department: str | None = None) -> ManagerOverview:
        department = _scope(info, department)
        services = info.context.services
        pool = services.read_models.pool
        rollup = await (
            queries.company_rollup(pool, period.kind.value, period.start,
                                   services.chat_timeout_seconds) if department is None
            else kpi_rollup(pool, period.kind.value, period.start, None, department,
                            services.chat_timeout_seconds))
        first, last = rollup["first_day"], rollup["last_day"]
        days = await queries.users_daily(pool, first, last, department)
        channels = await queries.retention_by_channel(pool, first, last, department,
                                                      datetime.now(SHANGHAI).date())
        staff = await queries.staff_with_roles(pool, first, last, department)
        measured = [s["staff_id"] for s in staff if s["role"] in ROLE_KPIS]
        kpis = {r["staff_id"]: r for r in await queries.member_kpis(
            pool, measured, period.kind.value, first, last, services.chat_timeout_seconds)}
        value = None if department is not None else await queries.long_term_value(
            pool, first, last)
        lifetime = None if value is None else value["gmv_fen"]
        return ManagerOverview(
            department=department, first_day=first, last_day=last,
            users_daily=[PrivateDomainDay(**d) for d in days],
            retention_by_channel=[_retention(c) for c in channels],
            gmv_fen=_num(rollup["gmv_fen"]), orders_paid=_num(rollup["orders_paid"]),
            campaign_cost_fen=_num(rollup["campaign_cost_fen"]),
            campaign_gmv_fen=_num(rollup["campaign_gmv_fen"]), roi=_num(rollup["roi"]),
            acquired_customers=None if value is None else value["customers"],
            lifetime_gmv_fen=_num(lifetime),
            long_term_roi=None if lifetime is None else _ratio(lifetime,
                                                               rollup["campaign_cost_fen"]),
            roles=_role_sets(staff, kpis, await _content(pool, first, last)))


#: The manager's read fields, merged into Query by :mod:`api.schema`.
MANAGER_QUERIES: tuple[type, ...] = (ManagerOverviewQuery, KpiLineageQuery)
