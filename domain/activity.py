"""The ``Activity`` aggregate: a marketing activity (活动) and the plan it is judged against.

An activity — a promotion, a live stream, an acquisition activity, a quiz, a member day —
runs over a period, through channels (channel codes, hierarchical: ``qr`` covers
``qr:store-shanghai-01``), with linked campaigns and, optionally, its products. Its plan
names the customer journey it tracks (``reach → visit → cart → order → pay``, or a
subset ending with ``pay``) and its targets: the GMV, and optionally the users and the
average order value (客单价) that make it, so that the gap from target can be split
between the factors of GMV = users * conversion * average order value (seed 000's four
levels; the read model ``projections/activities`` computes them, ``docs/activities.md``
defines every figure).

Customer events are attributed to an activity by the read model, never stored here: an
activity is revised freely and its figures follow (they are recomputed from the log).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError, InvalidInput
from domain.tag_group import check_label

KINDS = frozenset({"promotion", "live_stream", "acquisition", "quiz", "member_day"})
#: The journey steps an activity may track, in journey order.
STEPS: tuple[str, ...] = ("reach", "visit", "cart", "order", "pay")
LONGEST = timedelta(days=366)
MAX_CHANNELS, MAX_CAMPAIGNS, MAX_PRODUCTS = 50, 50, 500
MAX_FEN = 10**12  # ten billion yuan: beyond any activity, well within bigint
MAX_USERS = 10**9


class UnknownActivity(DomainError):
    code = "UNKNOWN_ACTIVITY"


class ActivityCancelled(DomainError):
    code = "ACTIVITY_CANCELLED"


@dataclass(frozen=True, slots=True)
class ActivityPlan:
    """What an activity is and what it is judged against (validated by :func:`check_plan`)."""

    name: str
    kind: str
    starts_at: datetime
    ends_at: datetime
    channels: tuple[str, ...] = ()
    campaign_ids: tuple[str, ...] = ()
    products: tuple[str, ...] = ()
    steps: tuple[str, ...] = STEPS
    target_gmv_fen: int = 0
    target_users: int | None = None
    target_aov_fen: int | None = None

    def fields(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "starts_at": self.starts_at,
                "ends_at": self.ends_at, "channels": list(self.channels),
                "campaign_ids": list(self.campaign_ids), "products": list(self.products),
                "steps": list(self.steps), "target_gmv_fen": self.target_gmv_fen,
                "target_users": self.target_users, "target_aov_fen": self.target_aov_fen}


def _distinct(values: Sequence[str], field: str, most: int) -> tuple[str, ...]:
    found = tuple(dict.fromkeys(check_label(v, field) for v in values))
    if len(found) > most:
        raise InvalidInput(f"at most {most} {field}", field=field)
    return found


def check_plan(plan: ActivityPlan) -> ActivityPlan:
    """The plan, normalised; ``InvalidInput`` naming the first field at fault."""
    if plan.kind not in KINDS:
        raise InvalidInput(f"kind must be one of {sorted(KINDS)}", field="kind")
    if plan.starts_at.tzinfo is None or plan.ends_at.tzinfo is None:
        raise InvalidInput("startsAt and endsAt need a time zone", field="startsAt")
    if not plan.starts_at < plan.ends_at <= plan.starts_at + LONGEST:
        raise InvalidInput("endsAt must be after startsAt, at most 366 days later",
                           field="endsAt")
    campaigns = _distinct(plan.campaign_ids, "campaignIds", MAX_CAMPAIGNS)
    for campaign in campaigns:
        try:
            UUID(campaign)
        except ValueError:
            raise InvalidInput(f"campaign id {campaign!r} is not a UUID",
                               field="campaignIds") from None
    steps = tuple(dict.fromkeys(plan.steps))
    if (len(steps) < 2 or any(s not in STEPS for s in steps) or steps[-1] != "pay"
            or list(steps) != sorted(steps, key=STEPS.index)):
        raise InvalidInput(f"steps must be two or more of {list(STEPS)}, in that order, "
                           "ending with pay", field="steps")
    if not 1 <= plan.target_gmv_fen <= MAX_FEN:
        raise InvalidInput(f"targetGmvFen must be 1-{MAX_FEN}", field="targetGmvFen")
    _check_factor_targets(plan)
    return ActivityPlan(
        name=check_label(plan.name, "name"), kind=plan.kind, starts_at=plan.starts_at,
        ends_at=plan.ends_at, channels=_distinct(plan.channels, "channels", MAX_CHANNELS),
        campaign_ids=tuple(str(UUID(c)) for c in campaigns),
        products=_distinct(plan.products, "products", MAX_PRODUCTS), steps=steps,
        target_gmv_fen=plan.target_gmv_fen, target_users=plan.target_users,
        target_aov_fen=plan.target_aov_fen)


def _check_factor_targets(plan: ActivityPlan) -> None:
    users, aov = plan.target_users, plan.target_aov_fen
    if (users is None) != (aov is None):
        raise InvalidInput("give both targetUsers and targetAovFen, or neither",
                           field="targetUsers" if users is None else "targetAovFen")
    if users is None or aov is None:
        return
    if not 1 <= users <= MAX_USERS:
        raise InvalidInput(f"targetUsers must be 1-{MAX_USERS}", field="targetUsers")
    if not 1 <= aov <= MAX_FEN:
        raise InvalidInput(f"targetAovFen must be 1-{MAX_FEN}", field="targetAovFen")
    if users * aov < plan.target_gmv_fen:
        # The target conversion (GMV / (users * AOV)) would exceed 1: more buyers than users.
        raise InvalidInput("targetUsers * targetAovFen must be at least targetGmvFen",
                           field="targetUsers")


class Activity(Aggregate):
    class Event(Aggregate.Event):
        by: str
        occurred_at: datetime

    class Planned(Aggregate.Created):
        name: str
        kind: str
        starts_at: datetime
        ends_at: datetime
        channels: list[str]
        campaign_ids: list[str]
        products: list[str]
        steps: list[str]
        target_gmv_fen: int
        target_users: int | None
        target_aov_fen: int | None
        by: str
        occurred_at: datetime

    class Revised(Event):
        """The whole plan as it stands after the revision (the kind never changes)."""

        name: str
        starts_at: datetime
        ends_at: datetime
        channels: list[str]
        campaign_ids: list[str]
        products: list[str]
        steps: list[str]
        target_gmv_fen: int
        target_users: int | None
        target_aov_fen: int | None

    class Cancelled(Event):
        reason: str

    @classmethod
    def plan(cls, plan: ActivityPlan, by: str, occurred_at: datetime) -> Activity:
        return cls(**check_plan(plan).fields(), by=by, occurred_at=occurred_at)

    @event(Planned)
    def __init__(self, name: str, kind: str, starts_at: datetime, ends_at: datetime,
                 channels: list[str], campaign_ids: list[str], products: list[str],
                 steps: list[str], target_gmv_fen: int, target_users: int | None,
                 target_aov_fen: int | None, by: str, occurred_at: datetime) -> None:
        self.kind = kind
        self.current = ActivityPlan(name, kind, starts_at, ends_at, tuple(channels),
                                    tuple(campaign_ids), tuple(products), tuple(steps),
                                    target_gmv_fen, target_users, target_aov_fen)
        self.cancelled = False

    def revise(self, plan: ActivityPlan, by: str, occurred_at: datetime) -> bool:
        """Replace the plan; False (no event) when nothing changes."""
        if self.cancelled:
            raise ActivityCancelled("the activity was cancelled", field="activityId")
        if plan.kind != self.kind:
            raise InvalidInput("an activity's kind cannot change", field="kind")
        checked = check_plan(plan)
        if checked == self.current:
            return False
        fields = checked.fields()
        del fields["kind"]
        self._revise(**fields, by=by, occurred_at=occurred_at)
        return True

    def cancel(self, reason: str, by: str, occurred_at: datetime) -> bool:
        if self.cancelled:
            return False
        self._cancel(reason=check_label(reason, "reason"), by=by, occurred_at=occurred_at)
        return True

    @event(Revised)
    def _revise(self, name: str, starts_at: datetime, ends_at: datetime, channels: list[str],
                campaign_ids: list[str], products: list[str], steps: list[str],
                target_gmv_fen: int, target_users: int | None, target_aov_fen: int | None,
                by: str, occurred_at: datetime) -> None:
        self.current = ActivityPlan(name, self.kind, starts_at, ends_at, tuple(channels),
                                    tuple(campaign_ids), tuple(products), tuple(steps),
                                    target_gmv_fen, target_users, target_aov_fen)

    @event(Cancelled)
    def _cancel(self, reason: str, by: str, occurred_at: datetime) -> None:
        self.cancelled = True
