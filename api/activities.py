"""Activities (活动) over GraphQL: plan, revise, cancel, and the four-level KPI tree.

Managers, activity planners (活动策划) and service principals write activities; every
staff member and service principal reads them (figures only, no personal data). Reads
come from ``activity`` and ``customer_journey``; the tree is defined in
``docs/activities.md`` and :mod:`projections.activities.tree`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum
from typing import Any
from uuid import UUID

import strawberry
from strawberry.types import Info

from api.commands import run_command
from api.context import Context
from api.errors import BAD_INPUT, NOT_FOUND, ApiError, forbidden
from api.projection_wait import caught_up
from api.read_models import decode_cursor, encode_cursor
from api.types import Long, PageInfo, to_uuid
from domain.activity import ActivityPlan
from projections.activities import queries
from projections.activities.tree import KpiTree, build

MAX_PAGE = 100
VIEW = "activity"
WRITER_ROLES = frozenset({"activity_planner"})
_CODES = {"UNKNOWN_ACTIVITY": NOT_FOUND, "UNKNOWN_CAMPAIGN": NOT_FOUND,
          "INVALID_INPUT": BAD_INPUT}
Row = dict[str, Any]


@strawberry.enum
class ActivityKind(Enum):
    PROMOTION = "promotion"
    LIVE_STREAM = "live_stream"
    ACQUISITION = "acquisition"
    QUIZ = "quiz"
    MEMBER_DAY = "member_day"


@strawberry.enum
class JourneyStep(Enum):
    REACH = "reach"
    VISIT = "visit"
    CART = "cart"
    ORDER = "order"
    PAY = "pay"


@strawberry.type(description="Customers at one journey step.")
class ActivityStep:
    step: JourneyStep
    customers: int
    rate_from_previous: float | None = strawberry.field(
        description="Customers here ÷ at the previous step (null: first step, or none there).")


@strawberry.type(description="One factor's part of the gap between GMV and its target (LMDI).")
class GapContribution:
    factor: str = strawberry.field(description="users | conversion | aov")
    actual: float | None
    target: float
    gap_fen: float | None = strawberry.field(
        description="This factor's part of GMV - target GMV, in fen; the parts sum to the gap. "
                    "Null when a factor is zero.")


@strawberry.type(description="The four levels of seed 000: achievement → GMV → users * "
                             "conversion * AOV → each factor along the journey. Ratios are "
                             "unrounded.")
class ActivityKpiTree:
    achievement_rate: float | None = strawberry.field(
        description="GMV ÷ target GMV (whole activity only).")
    gmv_fen: Long = strawberry.field(description="Paid amounts less refunds, in fen.")
    target_gmv_fen: Long | None
    users: int = strawberry.field(description="Customers at the journey's first step.")
    buyers: int
    orders: int
    conversion: float | None = strawberry.field(description="buyers ÷ users")
    aov_fen: float | None = strawberry.field(description="GMV ÷ buyers (客单价)")
    orders_per_buyer: float | None
    gmv_per_order_fen: float | None
    journey: list[ActivityStep]
    contributions: list[GapContribution] = strawberry.field(
        description="Empty unless the plan has factor targets.")

    @classmethod
    def of(cls, tree: KpiTree) -> ActivityKpiTree:
        return cls(
            achievement_rate=tree.achievement_rate, gmv_fen=Long(tree.gmv_fen),
            target_gmv_fen=None if tree.target_gmv_fen is None else Long(tree.target_gmv_fen),
            users=tree.users, buyers=tree.buyers, orders=tree.orders,
            conversion=tree.conversion, aov_fen=tree.aov_fen,
            orders_per_buyer=tree.orders_per_buyer, gmv_per_order_fen=tree.gmv_per_order_fen,
            journey=[ActivityStep(step=JourneyStep(s.step), customers=s.customers,
                                  rate_from_previous=s.rate_from_previous)
                     for s in tree.journey],
            contributions=[GapContribution(factor=c.factor, actual=c.actual, target=c.target,
                                           gap_fen=c.gap_fen) for c in tree.contributions])


@strawberry.type(description="The tree of one channel (participants by the channel they "
                             "came through) or one business day (Asia/Shanghai).")
class ActivitySlice:
    key: str
    tree: ActivityKpiTree


@strawberry.type
class ActivityFigures:
    total: ActivityKpiTree
    by_channel: list[ActivitySlice]
    by_day: list[ActivitySlice]


@strawberry.type(description="An activity (read model `activity`).")
class Activity:
    row: strawberry.Private[Row]
    id: strawberry.ID
    name: str
    kind: ActivityKind
    starts_at: datetime
    ends_at: datetime
    channels: list[str]
    campaign_ids: list[strawberry.ID]
    products: list[str]
    steps: list[JourneyStep]
    target_gmv_fen: Long
    target_users: int | None
    target_aov_fen: Long | None
    planned_by: str
    planned_at: datetime
    cancelled_at: datetime | None

    @classmethod
    def from_row(cls, row: Row) -> Activity:
        aov = row["target_aov_fen"]
        return cls(row=row, id=strawberry.ID(str(row["activity_id"])), name=row["name"],
                   kind=ActivityKind(row["kind"]), starts_at=row["starts_at"],
                   ends_at=row["ends_at"], channels=list(row["channels"]),
                   campaign_ids=[strawberry.ID(str(c)) for c in row["campaign_ids"]],
                   products=list(row["products"]),
                   steps=[JourneyStep(s) for s in row["steps"]],
                   target_gmv_fen=Long(row["target_gmv_fen"]),
                   target_users=row["target_users"],
                   target_aov_fen=None if aov is None else Long(aov),
                   planned_by=row["planned_by"], planned_at=row["planned_at"],
                   cancelled_at=row["cancelled_at"])

    @strawberry.field(description="The KPI tree: whole activity, per channel, per day.")
    async def figures(self, info: Info[Context, None]) -> ActivityFigures:
        steps, money = await queries.figures(info.context.services.read_models.pool,
                                             self.row["activity_id"])
        return ActivityFigures(**figures(self.row, steps, money))


def figures(row: Row, step_rows: list[Row], money_rows: list[Row]) -> dict[str, Any]:
    """``total``, ``by_channel`` and ``by_day`` trees from the attribution query's rows."""
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for r in step_rows:
        counts.setdefault((r["slice"], r["key"]), {})[r["step"]] = int(r["customers"])
    money = {(r["slice"], r["key"]): r for r in money_rows}
    steps = list(row["steps"])

    def tree(key: tuple[str, str], targets: bool) -> ActivityKpiTree:
        m = money.get(key)
        buyers, orders = (int(m["buyers"]), int(m["orders"])) if m else (0, 0)
        gmv = int(m["gmv_fen"] or 0) if m else 0
        return ActivityKpiTree.of(build(
            steps, counts.get(key, {}), buyers, orders, gmv,
            row["target_gmv_fen"] if targets else None,
            row["target_users"] if targets else None,
            row["target_aov_fen"] if targets else None))

    keys = set(counts) | set(money)
    return {"total": tree(("all", ""), True),
            "by_channel": [ActivitySlice(key=k, tree=tree(("channel", k), False))
                           for s, k in sorted(keys) if s == "channel"],
            "by_day": [ActivitySlice(key=k, tree=tree(("day", k), False))
                       for s, k in sorted(keys) if s == "day"]}


@strawberry.type
class ActivityEdge:
    cursor: str
    node: Activity


@strawberry.type
class ActivityConnection:
    edges: list[ActivityEdge]
    page_info: PageInfo


@strawberry.input(description="An activity's plan (docs/activities.md).")
class ActivityPlanInput:
    name: str
    kind: ActivityKind
    starts_at: datetime
    ends_at: datetime
    target_gmv_fen: Long
    channels: list[str] = strawberry.field(default_factory=list)
    campaign_ids: list[strawberry.ID] = strawberry.field(default_factory=list)
    products: list[str] = strawberry.field(default_factory=list)
    steps: list[JourneyStep] = strawberry.field(
        default_factory=lambda: [JourneyStep.REACH, JourneyStep.VISIT, JourneyStep.CART,
                                 JourneyStep.ORDER, JourneyStep.PAY])
    target_users: int | None = None
    target_aov_fen: Long | None = None

    def plan(self) -> ActivityPlan:
        return ActivityPlan(
            name=self.name, kind=self.kind.value, starts_at=self.starts_at,
            ends_at=self.ends_at, channels=tuple(self.channels),
            campaign_ids=tuple(str(c) for c in self.campaign_ids),
            products=tuple(self.products), steps=tuple(s.value for s in self.steps),
            target_gmv_fen=int(self.target_gmv_fen), target_users=self.target_users,
            target_aov_fen=None if self.target_aov_fen is None else int(self.target_aov_fen))


@strawberry.input
class ReviseActivityInput:
    activity_id: strawberry.ID
    plan: ActivityPlanInput


@strawberry.input
class CancelActivityInput:
    activity_id: strawberry.ID
    reason: str


@strawberry.type
class ActivityPayload:
    activity: Activity | None
    projected: bool


def _reader(info: Info[Context, None]) -> None:
    if info.context.principal.kind not in ("staff", "service"):
        raise forbidden("activities are for staff and service principals")


def _writer(info: Info[Context, None]) -> None:
    principal = info.context.principal
    if not (principal.sees_everyone or principal.role in WRITER_ROLES):
        raise forbidden("activities are planned by managers and activity planners")


async def _run(command: Callable[[], Any]) -> Any:
    return await run_command(command, _CODES)


async def _payload(info: Info[Context, None], activity_id: UUID, position: int | None
                   ) -> ActivityPayload:
    done = await caught_up(info, VIEW, position)
    row = await queries.activity(info.context.services.read_models.pool, activity_id)
    return ActivityPayload(activity=Activity.from_row(row) if row else None, projected=done)


@strawberry.type
class ActivityQuery:
    @strawberry.field(description="Activities, newest plan first.")
    async def activities(self, info: Info[Context, None], include_cancelled: bool = False,
                         first: int = 50, after: str | None = None) -> ActivityConnection:
        _reader(info)
        if not 1 <= first <= MAX_PAGE:
            raise ApiError(BAD_INPUT, f"first must be between 1 and {MAX_PAGE}", field="first")
        try:
            before = None if after is None else decode_cursor("a", after)
        except ValueError:
            raise ApiError(BAD_INPUT, "after is not a cursor of this list", field="after") from None
        rows = await queries.activities(info.context.services.read_models.pool,
                                        include_cancelled=include_cancelled, before=before,
                                        limit=first + 1)
        edges = [ActivityEdge(cursor=encode_cursor("a", r["position"]),
                              node=Activity.from_row(r)) for r in rows[:first]]
        return ActivityConnection(edges=edges, page_info=PageInfo(
            has_next_page=len(rows) > first, end_cursor=edges[-1].cursor if edges else None))

    @strawberry.field(description="One activity (null if unknown).")
    async def activity(self, info: Info[Context, None], id: strawberry.ID) -> Activity | None:
        _reader(info)
        row = await queries.activity(info.context.services.read_models.pool, to_uuid(id, "id"))
        return Activity.from_row(row) if row else None


@strawberry.type
class ActivityMutation:
    @strawberry.mutation(description="Plan an activity: period, channels, linked campaigns, "
                                     "products, the journey it tracks and its targets.")
    async def plan_activity(self, info: Info[Context, None], input: ActivityPlanInput
                            ) -> ActivityPayload:
        _writer(info)
        app, by, plan = info.context.services.app, info.context.principal.actor, input.plan()
        activity_id, position = await _run(
            lambda: app.activities.plan(plan, by, datetime.now(UTC)))
        return await _payload(info, activity_id, position)

    @strawberry.mutation(description="Replace an activity's plan (its figures follow: they "
                                     "are attributed on the current plan). The kind stays.")
    async def revise_activity(self, info: Info[Context, None], input: ReviseActivityInput
                              ) -> ActivityPayload:
        _writer(info)
        aid = to_uuid(input.activity_id, "activityId")
        app, by, plan = info.context.services.app, info.context.principal.actor, input.plan.plan()
        position = await _run(lambda: app.activities.revise(aid, plan, by, datetime.now(UTC)))
        return await _payload(info, aid, position)

    @strawberry.mutation(description="Cancel an activity; its figures stay readable.")
    async def cancel_activity(self, info: Info[Context, None], input: CancelActivityInput
                              ) -> ActivityPayload:
        _writer(info)
        aid = to_uuid(input.activity_id, "activityId")
        app, by = info.context.services.app, info.context.principal.actor
        position = await _run(lambda: app.activities.cancel(aid, input.reason, by,
                                                             datetime.now(UTC)))
        return await _payload(info, aid, position)
