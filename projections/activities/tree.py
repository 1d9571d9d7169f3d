"""The four-level KPI tree of an activity (seed 000), from its attributed counts.

1. **Achievement**: GMV ÷ target GMV.
2. **GMV**: paid amounts less refunds (fen).
3. **GMV = users * conversion * average order value**: users are the customers at the
   journey's first step, conversion is buyers ÷ users, the average order value (客单价)
   is GMV ÷ buyers — so the product is the GMV exactly.
4. **Each factor along the journey**: users by step; conversion as the product of the
   step-to-step rates (it telescopes to buyers ÷ users); the average order value as orders
   per buyer * GMV per order.

With factor targets (target users and average order value; the target conversion is
target GMV ÷ (users * AOV)), the gap from target is split between the three factors by the
logarithmic mean Divisia index (LMDI): ``L(G, Gt) * ln(F / Ft)`` for each factor, where
``L(a, b) = (a - b) / (ln a - ln b)``; the three parts sum to ``G - Gt`` exactly. LMDI
needs every factor positive: with a zero (no users, no buyers) the parts are ``None``.

Ratios are not rounded here; the API returns them unrounded (clients round for display).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StepFigure:
    step: str
    customers: int
    rate_from_previous: float | None  # None for the first step, or after a step of 0


@dataclass(frozen=True, slots=True)
class Contribution:
    factor: str  # users | conversion | aov
    actual: float | None
    target: float
    gap_fen: float | None  # this factor's part of GMV - target GMV (LMDI)


@dataclass(frozen=True, slots=True)
class KpiTree:
    target_gmv_fen: int | None
    achievement_rate: float | None
    gmv_fen: int
    users: int
    buyers: int
    orders: int
    conversion: float | None
    aov_fen: float | None
    orders_per_buyer: float | None
    gmv_per_order_fen: float | None
    journey: tuple[StepFigure, ...]
    contributions: tuple[Contribution, ...]


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def _log_mean(a: float, b: float) -> float:
    return a if a == b else (a - b) / (math.log(a) - math.log(b))


def build(steps: Sequence[str], customers: Mapping[str, int], buyers: int, orders: int,
          gmv_fen: int, target_gmv_fen: int | None = None, target_users: int | None = None,
          target_aov_fen: int | None = None) -> KpiTree:
    """The tree for one slice (all, a channel, a day); targets only for the whole activity."""
    journey: list[StepFigure] = []
    for i, step in enumerate(steps):
        count = int(customers.get(step, 0))
        rate = None if i == 0 else _ratio(count, journey[-1].customers)
        journey.append(StepFigure(step, count, rate))
    users = journey[0].customers if journey else 0
    conversion, aov = _ratio(buyers, users), _ratio(gmv_fen, buyers)
    contributions: tuple[Contribution, ...] = ()
    if target_gmv_fen and target_users and target_aov_fen:
        targets = {"users": float(target_users),
                   "conversion": target_gmv_fen / (target_users * target_aov_fen),
                   "aov": float(target_aov_fen)}
        actual = {"users": float(users), "conversion": conversion, "aov": aov}
        positive = gmv_fen > 0 and all(v for v in actual.values())
        weight = _log_mean(gmv_fen, target_gmv_fen) if positive else 0.0
        contributions = tuple(
            Contribution(factor, actual[factor], target,
                         weight * math.log((actual[factor] or 0.0) / target) if positive
                         else None)
            for factor, target in targets.items())
    return KpiTree(
        target_gmv_fen=target_gmv_fen,
        achievement_rate=_ratio(gmv_fen, target_gmv_fen) if target_gmv_fen else None,
        gmv_fen=gmv_fen, users=users, buyers=buyers, orders=orders, conversion=conversion,
        aov_fen=aov, orders_per_buyer=_ratio(orders, buyers),
        gmv_per_order_fen=_ratio(gmv_fen, orders), journey=tuple(journey),
        contributions=contributions)
