"""The leaderboard (排行榜): staff ranked by a KPI over a period, queried or pushed live.

``leaderboard(kpi, period, department, measure, first)`` ranks the staff
employed during the period (within a department: those assigned to it at any
time in the period) by their KPI over the whole period, best first (for KPIs
where less is better, lowest first; members without a value last). With
``measure: TARGET_ACHIEVEMENT`` the ranking is by the achievement ratio of each
member's target for that KPI and period (months and quarters only); members
without a target, or whose target is a trial one, are not ranked. Ties share a
rank (1, 2, 2, 4).

``leaderboardChanged`` (a subscription over graphql-transport-ws) sends the
ranking at once, then again whenever it changes: see :mod:`api.live`.

Staff read leaderboards — the ranking is meant to be shown to the team: company
managers, operators and auditors any department or the whole company; a department
manager or a front-line member their own department only (no department given: theirs;
another: ``FORBIDDEN``). Customers read none.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any

import strawberry
from psycopg import AsyncConnection
from psycopg.rows import DictRow
from psycopg_pool import AsyncConnectionPool
from strawberry.types import Info

from api.context import Context
from api.errors import BAD_INPUT, ApiError
from api.live import LeaderboardKey, TooManySubscribers
from api.staff_kpis import KpiPeriodInput, PeriodKind, kpi_column, kpi_name
from api.targets import TargetAchievement, assess
from api.team_scope import department_for
from domain.organisation import DEPARTMENTS
from domain.target import KPI_HIGHER_IS_BETTER, period_start
from projections.staff_performance import queries as kpi_queries

MAX_FIRST = 100

@strawberry.enum
class LeaderboardMeasure(Enum):
    VALUE = "value"
    TARGET_ACHIEVEMENT = "target_achievement"


@dataclass(frozen=True, slots=True)
class Entry:
    rank: int
    staff_id: str
    value: float | None
    achievement: TargetAchievement | None


@dataclass(frozen=True, slots=True)
class Ranking:
    """One computed leaderboard; equal rankings are not sent again."""

    first_day: date
    last_day: date
    entries: tuple[Entry, ...]


@strawberry.type
class LeaderboardEntry:
    rank: int
    staff_id: strawberry.ID
    value: float | None = strawberry.field(description="The KPI over the period.")
    achievement: TargetAchievement | None = strawberry.field(
        description="The member's target for this KPI and period, if any (trial ones too).")


@strawberry.type(description="Staff ranked by one KPI (or its target achievement) over a "
                             "period.")
class Leaderboard:
    kpi: str
    measure: LeaderboardMeasure
    period_kind: PeriodKind
    first_day: date
    last_day: date
    department: str | None
    entries: list[LeaderboardEntry]
    computed_at: datetime


def _sort_key(kpi: str, measure: str) -> Any:
    higher = KPI_HIGHER_IS_BETTER[kpi] or measure == LeaderboardMeasure.TARGET_ACHIEVEMENT.value

    def key(item: tuple[str, Decimal | None]) -> tuple[bool, Decimal, str]:
        staff_id, score = item
        if score is None:
            return True, Decimal(0), staff_id
        return False, -score if higher else score, staff_id
    return key


async def compute(pool: AsyncConnectionPool[AsyncConnection[DictRow]], key: LeaderboardKey,
                  timeout_seconds: int = 1800) -> Ranking:
    """Rank the staff for ``key`` (one query: a rollup per member)."""
    rows = await kpi_queries.leaderboard(pool, key.period_kind, key.start, key.department,
                                         key.kpi, timeout_seconds)
    if not rows:
        period = await kpi_queries.period(pool, key.period_kind, key.start)
        return Ranking(period["first_day"], period["last_day"], ())
    by_achievement = key.measure == LeaderboardMeasure.TARGET_ACHIEVEMENT.value
    scored: list[tuple[str, Decimal | None]] = []
    details: dict[str, tuple[float | None, TargetAchievement | None]] = {}
    for row in rows:
        value = row["value"]
        target = row["target"]
        achieved = None if target is None else assess(target, value)
        details[row["staff_id"]] = (None if value is None else float(value), achieved)
        if by_achievement:
            if achieved is None or not achieved.ranked:
                continue
            score = None if achieved.ratio is None else Decimal(str(achieved.ratio))
        else:
            score = value
        scored.append((row["staff_id"], score))
    scored.sort(key=_sort_key(key.kpi, key.measure))
    entries: list[Entry] = []
    previous: Decimal | None = None
    for index, (staff_id, score) in enumerate(scored[:key.first]):
        rank = entries[-1].rank if entries and score == previous else index + 1
        previous = score
        value, achieved = details[staff_id]
        entries.append(Entry(rank, staff_id, value, achieved))
    return Ranking(rows[0]["first_day"], rows[0]["last_day"], tuple(entries))


def to_leaderboard(key: LeaderboardKey, ranking: Ranking, at: datetime) -> Leaderboard:
    return Leaderboard(
        kpi=kpi_name(key.kpi), measure=LeaderboardMeasure(key.measure),
        period_kind=PeriodKind(key.period_kind), first_day=ranking.first_day,
        last_day=ranking.last_day, department=key.department, computed_at=at,
        entries=[LeaderboardEntry(rank=e.rank, staff_id=strawberry.ID(e.staff_id),
                                  value=e.value, achievement=e.achievement)
                 for e in ranking.entries])


def first_day(kind: PeriodKind, day: date) -> date:
    """The first day of the day / ISO week / month / quarter holding ``day`` (as kpi_period)."""
    if kind is PeriodKind.DAY:
        return day
    if kind is PeriodKind.WEEK:
        return day - timedelta(days=day.weekday())
    return period_start(kind.value, day)


def leaderboard_key(info: Info[Context, None], kpi: str, period: KpiPeriodInput,
                    department: str | None, measure: LeaderboardMeasure, first: int
                    ) -> LeaderboardKey:
    """Authorise and validate; the normalised key (the period by its first day)."""
    column = kpi_column(kpi).name
    if department is not None and department not in DEPARTMENTS:
        raise ApiError(BAD_INPUT, f"unknown department; expected one of {sorted(DEPARTMENTS)}",
                       field="department")
    department = department_for(info.context.principal, department, "leaderboard")
    if not 1 <= first <= MAX_FIRST:
        raise ApiError(BAD_INPUT, f"first must be between 1 and {MAX_FIRST}", field="first")
    if measure is LeaderboardMeasure.TARGET_ACHIEVEMENT and period.kind not in (
            PeriodKind.MONTH, PeriodKind.QUARTER):
        raise ApiError(BAD_INPUT, "targets are per MONTH or QUARTER", field="period")
    return LeaderboardKey(kpi=column, period_kind=period.kind.value,
                          start=first_day(period.kind, period.start),
                          department=department, measure=measure.value, first=first)


@strawberry.type
class LeaderboardQuery:
    @strawberry.field(description="Staff ranked by a KPI (or by target achievement) over a "
                                  "day, week, month or quarter, optionally within a "
                                  "department.")
    async def leaderboard(self, info: Info[Context, None], kpi: str, period: KpiPeriodInput,
                          department: str | None = None,
                          measure: LeaderboardMeasure = LeaderboardMeasure.VALUE,
                          first: int = 20) -> Leaderboard:
        key = leaderboard_key(info, kpi, period, department, measure, first)
        ranking = await compute(info.context.services.read_models.pool, key)
        return to_leaderboard(key, ranking, datetime.now().astimezone())


@strawberry.type
class LeaderboardSubscription:
    @strawberry.subscription(description="The leaderboard now, then again each time it changes "
                                         "(within a second of the event that changed it).")
    async def leaderboard_changed(self, info: Info[Context, None], kpi: str,
                                  period: KpiPeriodInput, department: str | None = None,
                                  measure: LeaderboardMeasure = LeaderboardMeasure.VALUE,
                                  first: int = 20) -> AsyncGenerator[Leaderboard, None]:
        key = leaderboard_key(info, kpi, period, department, measure, first)
        hub = info.context.services.leaderboards
        if hub is None:
            raise ApiError("UNAVAILABLE", "live leaderboards are not running in this process")
        try:
            subscription = hub.subscribe(key)
        except TooManySubscribers:
            raise ApiError("TOO_MANY_SUBSCRIBERS", "too many live leaderboards: try later"
                           ) from None
        async with subscription:
            async for ranking, at in subscription:
                yield to_leaderboard(key, ranking, at)
