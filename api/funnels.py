"""Funnels, cohorts, customer value, spread and satisfaction over GraphQL (docs/funnels.md).

``funnel`` and ``cohortRetention`` are company-wide figures (no customer, no staff member
named): managers, operators and auditors read them. ``satisfaction`` names staff members:
every staff principal reads it, narrowed to the staff in their scope
(:func:`api.policy.staff_scope`) — totals included.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from api import policy
from api.context import Context
from api.errors import BAD_INPUT, ApiError
from api.team_scope import department_for
from api.types import Long
from domain.organisation import DEPARTMENTS
from projections.funnels import queries
from projections.funnels.rows import CHECKPOINTS, FUNNEL_COUNTS, ZONE
from projections.reads import Row

MAX_DAYS = 731
From = Annotated[date, strawberry.argument(name="from")]
DAYS_PER_MONTH = 30.4375


@strawberry.enum(description="Group by the top-level channel (`qr`) or the exact code "
                             "(`qr:store-shanghai-01`).")
class ChannelLevel(Enum):
    CHANNEL = "channel"
    CODE = "code"


@strawberry.enum(description="Where a cohort joined the private domain.")
class Touchpoint(Enum):
    WECOM_FRIEND = "wecom_friend"
    PERSONAL_WECHAT = "personal_wechat"
    GROUP = "group"
    MINI_PROGRAM = "mini_program"


def _ratio(part: float, whole: float) -> float | None:
    return None if not whole else part / whole


@strawberry.type(description="AARRR stages of the customers acquired in the period, with "
                             "every later fact up to now (docs/funnels.md). Ratios unrounded.")
class FunnelStages:
    acquired: int
    activated: int
    retained: int
    paying: int = strawberry.field(description="Revenue: at least one paid order.")
    referrers: int = strawberry.field(description="Referral: brought a new customer.")
    activation_rate: float | None
    retention_rate: float | None
    revenue_rate: float | None
    referral_rate: float | None
    repeat_buyers: int
    repurchase_rate: float | None = strawberry.field(description="repeatBuyers ÷ paying.")
    paid_orders: int
    net_fen: Long = strawberry.field(description="Paid less refunded, fen.")
    realised_ltv_fen: float | None = strawberry.field(description="netFen ÷ acquired.")
    projected_ltv_fen: float | None = strawberry.field(
        description="Net revenue per customer-month so far x lifetimeMonths.")
    sharers: int
    invite_codes: int
    invitees: int
    spread_rate: float | None = strawberry.field(description="sharers ÷ acquired.")
    invites_per_user: float | None = strawberry.field(description="inviteCodes ÷ acquired.")
    invite_conversion: float | None = strawberry.field(description="invitees ÷ inviteCodes.")
    k_factor: float | None = strawberry.field(description="invitees ÷ acquired.")

    @classmethod
    def of(cls, r: Row, lifetime_months: int) -> FunnelStages:
        n = {k: int(v or 0) for k, v in r.items() if k != "key"}
        acquired, months = n["acquired"], n["customer_days"] / DAYS_PER_MONTH
        rate = _ratio(n["net_fen"], months)
        return cls(
            acquired=acquired, activated=n["activated"], retained=n["retained"],
            paying=n["paying"], referrers=n["referrers"],
            activation_rate=_ratio(n["activated"], acquired),
            retention_rate=_ratio(n["retained"], acquired),
            revenue_rate=_ratio(n["paying"], acquired),
            referral_rate=_ratio(n["referrers"], acquired), repeat_buyers=n["repeat_buyers"],
            repurchase_rate=_ratio(n["repeat_buyers"], n["paying"]),
            paid_orders=n["paid_orders"], net_fen=Long(n["net_fen"]),
            realised_ltv_fen=_ratio(n["net_fen"], acquired),
            projected_ltv_fen=None if rate is None else rate * lifetime_months,
            sharers=n["sharers"], invite_codes=n["invite_codes"], invitees=n["invitees"],
            spread_rate=_ratio(n["sharers"], acquired),
            invites_per_user=_ratio(n["invite_codes"], acquired),
            invite_conversion=_ratio(n["invitees"], n["invite_codes"]),
            k_factor=_ratio(n["invitees"], acquired))


@strawberry.type
class FunnelSlice:
    key: str
    stages: FunnelStages


@strawberry.type(description="The funnel of a period: all channels, then per channel.")
class Funnel:
    total: FunnelStages
    by_channel: list[FunnelSlice]
    cost_fen: Long = strawberry.field(
        description="Costs of the campaigns launched in the period (under `channel` if "
                    "given); acquisition cost per channel is not recorded.")
    realised_roi: float | None = strawberry.field(description="total.netFen ÷ costFen.")
    long_term_roi: float | None = strawberry.field(
        description="total.projectedLtvFen x total.acquired ÷ costFen.")


@strawberry.type(description="The funnel of one department's customers (docs/funnels.md).")
class DepartmentFunnel:
    department: str
    stages: FunnelStages


@strawberry.type
class CohortCheckpoint:
    name: str = strawberry.field(description="D1, D7, D30, M1 … M6.")
    due: int = strawberry.field(description="Members whose checkpoint day has come.")
    retained: int
    rate: float | None = strawberry.field(description="retained ÷ due (unrounded).")


@strawberry.type(description="One acquisition month (and channel; `key` null: all).")
class CohortRow:
    month: date
    key: str | None
    joined: int
    checkpoints: list[CohortCheckpoint]


@strawberry.type
class SatisfactionFigures:
    survey_kind: str = strawberry.field(description="CSAT or NPS.")
    answers: int
    average_score: float
    score: float | None = strawberry.field(
        description="CSAT: share of answers 4-5; NPS: % promoters (9-10) - % detractors "
                    "(0-6), -100 to 100.")


@strawberry.type
class StaffSatisfaction:
    staff_id: strawberry.ID
    figures: list[SatisfactionFigures]


@strawberry.type(description="Survey answers of the period, in the reader's staff scope.")
class Satisfaction:
    total: list[SatisfactionFigures]
    by_staff: list[StaffSatisfaction]


def _figures(r: Row) -> SatisfactionFigures:
    answers = int(r["answers"])
    if r["survey_kind"] == "csat":
        score = _ratio(int(r["satisfied"]), answers)
    else:
        score = 100 * (int(r["promoters"]) - int(r["detractors"])) / answers
    return SatisfactionFigures(survey_kind=r["survey_kind"].upper(), answers=answers,
                               average_score=int(r["score_sum"]) / answers, score=score)


def _nothing(key: str | None) -> Row:
    """The counts of a slice without a customer."""
    return {"key": key, "customer_days": 0, **dict.fromkeys(FUNNEL_COUNTS, 0)}


def period(start: date, end: date) -> None:
    if end < start or (end - start).days >= MAX_DAYS:
        raise ApiError(BAD_INPUT, f"the period must run forward, at most {MAX_DAYS} days",
                       field="to")


def today() -> date:
    return datetime.now(ZONE).date()


def _pool(info: Info[Context, None]) -> Any:
    return info.context.services.read_models.pool


@strawberry.type
class FunnelQuery:
    @strawberry.field(description="AARRR funnel of the customers acquired in [from, to] "
                                  "(business days), by channel (docs/funnels.md).")
    async def funnel(self, info: Info[Context, None], from_: From, to: date,
                     channel: str | None = None, by: ChannelLevel = ChannelLevel.CHANNEL,
                     lifetime_months: int = 24) -> Funnel:
        period(from_, to)
        if not 1 <= lifetime_months <= 120:
            raise ApiError(BAD_INPUT, "lifetimeMonths must be 1-120", field="lifetimeMonths")
        pool = _pool(info)
        rows = await queries.funnel(pool, from_, to, channel, by.value, today())
        costs = await queries.campaign_costs(pool, from_, to, channel)
        empty = _nothing(None)
        total = FunnelStages.of(next((r for r in rows if r["key"] is None), empty),
                                lifetime_months)
        cost = costs.get(None, 0)
        value = (total.projected_ltv_fen or 0) * total.acquired
        return Funnel(total=total, by_channel=[
            FunnelSlice(key=r["key"], stages=FunnelStages.of(r, lifetime_months))
            for r in rows if r["key"] is not None],
            cost_fen=Long(cost), realised_roi=_ratio(total.net_fen, cost),
            long_term_roi=_ratio(value, cost))

    @strawberry.field(description="AARRR funnel per department: the customers acquired in "
                                  "[from, to], each credited to the department their owner "
                                  "(at the end of the acquisition day) was in that day. A "
                                  "department manager reads their own department only.")
    async def department_funnel(self, info: Info[Context, None], from_: From, to: date,
                                department: str | None = None, lifetime_months: int = 24
                                ) -> list[DepartmentFunnel]:
        period(from_, to)
        if not 1 <= lifetime_months <= 120:
            raise ApiError(BAD_INPUT, "lifetimeMonths must be 1-120", field="lifetimeMonths")
        if department is not None and department not in DEPARTMENTS:
            raise ApiError(BAD_INPUT, f"unknown department; expected one of "
                           f"{sorted(DEPARTMENTS)}", field="department")
        department = department_for(info.context.principal, department, "departmentFunnel")
        rows = await queries.department_funnel(_pool(info), from_, to, department, today())
        found = {r["key"]: r for r in rows}
        if department is not None:  # the department asked for, even without a customer
            found.setdefault(department, _nothing(department))
        return [DepartmentFunnel(department=key, stages=FunnelStages.of(r, lifetime_months))
                for key, r in sorted(found.items())]

    @strawberry.field(description="Retention D1/D7/D30 and M1-M6 of the members who joined "
                                  "a touchpoint in [from, to], per join month and channel.")
    async def cohort_retention(self, info: Info[Context, None], touchpoint: Touchpoint,
                               from_: From, to: date, channel: str | None = None,
                               by: ChannelLevel = ChannelLevel.CHANNEL,
                               as_of: date | None = None) -> list[CohortRow]:
        period(from_, to)
        rows = await queries.cohorts(_pool(info), touchpoint.value, from_, to, channel,
                                     by.value, as_of or today())
        return [CohortRow(month=r["month"], key=r["key"], joined=int(r["joined"]),
                          checkpoints=[CohortCheckpoint(
                              name=c.upper(), due=int(r[f"{c}_eligible"] or 0),
                              retained=int(r[c] or 0),
                              rate=_ratio(int(r[c] or 0), int(r[f"{c}_eligible"] or 0)))
                              for c, _, _ in CHECKPOINTS]) for r in rows]

    @strawberry.field(description="CSAT and NPS of the survey answers in [from, to], per "
                                  "staff member in your scope and in total.")
    async def satisfaction(self, info: Info[Context, None], from_: From, to: date
                           ) -> Satisfaction:
        period(from_, to)
        scope = policy.staff_scope(info.context.principal)
        rows = await queries.satisfaction(_pool(info), from_, to, scope.everyone,
                                          sorted(scope.staff_ids))
        staff: dict[str, list[SatisfactionFigures]] = {}
        for r in rows:
            if r["staff_id"] is not None and not r["grouped"]:
                staff.setdefault(r["staff_id"], []).append(_figures(r))
        return Satisfaction(
            total=[_figures(r) for r in rows if r["grouped"]],
            by_staff=[StaffSatisfaction(staff_id=strawberry.ID(s), figures=f)
                      for s, f in staff.items()])
