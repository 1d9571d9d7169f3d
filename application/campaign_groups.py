"""Group campaigns (:mod:`domain.campaign_groups`): draft, plan, launch, record outcomes.

Planning reads the staff directory (is each group's owner a current member?) and the
platform's group messages this month (:mod:`projections.campaigns.group_reads`); the dry
run and the launch use the same :func:`plan`, so the dry run's groups are the launch's.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from application.app import Siyu
from application.unit_of_work import UnitOfWork
from domain.campaign import Campaign, UnknownCampaign
from domain.campaign_groups import (
    GroupDecision,
    draft_group_campaign,
    launch_groups,
    plan_group,
    record_outcomes,
    targeted,
)
from domain.restraint import DEFAULT_TZ
from projections.campaigns.group_reads import current_members, month_sends


def draft(app: Siyu, name: str, owner: str, groups: Sequence[tuple[str, str]], text: str,
          by: str, occurred_at: datetime, **options: Any) -> tuple[UUID, int | None]:
    campaign = draft_group_campaign(name, owner, groups, text, by, occurred_at, **options)
    return campaign.id, app.campaigns.store.transact(Campaign, lambda u: u.add(campaign))[1]


def month_quota(day: datetime) -> int:
    """WeCom's default rule: a group receives at most as many mass messages in a month as
    the month has days."""
    local = day.astimezone(ZoneInfo(DEFAULT_TZ))
    return calendar.monthrange(local.year, local.month)[1]


def plan(app: Siyu, campaign: Campaign, now: datetime) -> list[GroupDecision]:
    """Each targeted group planned (with its sender and send time) or excluded (why)."""
    groups = targeted(campaign) or []
    policy = app.campaigns.contact_policy()
    start = max(now, campaign.start_at or now)
    with app.factory.datastore.get_connection() as conn:  # type: ignore[attr-defined]
        members = current_members(conn, sorted({o for _, o in groups}))
        counts = month_sends(conn, [g for g, _ in groups],
                             start.astimezone(ZoneInfo(DEFAULT_TZ)).date())
    quota = month_quota(start)
    return [plan_group(campaign, policy, g, o, o in members, counts[g], quota, now)
            for g, o in groups]


def launch_if_groups(app: Siyu, campaign_id: UUID, by: str, now: datetime
                     ) -> tuple[int | None, list[GroupDecision]] | None:
    """Launch a group campaign (None: not one). Groups do not count toward customers'
    caps, so it needs none of the customer planner's locks."""
    campaign = app.campaigns.get(campaign_id)
    if targeted(campaign) is None:
        return None
    decisions = plan(app, campaign, now)

    def decide(unit: UnitOfWork[Campaign]) -> None:
        held = _held(app, campaign_id, unit)
        launch_groups(held, now, decisions, by, now)

    return app.campaigns.store.transact(Campaign, decide)[1], decisions


def record(app: Siyu, campaign_id: UUID, outcomes: Sequence[tuple[str, str, str]],
           occurred_at: datetime) -> int:
    """Record each group's outcome once; how many were new."""
    if not outcomes:
        return 0
    return app.campaigns.store.transact(Campaign, lambda u: record_outcomes(
        _held(app, campaign_id, u), outcomes, occurred_at))[0]


def _held(app: Siyu, campaign_id: UUID, unit: UnitOfWork[Campaign]) -> Campaign:
    found = app.campaigns.store.find(campaign_id, Campaign)
    if found is None:
        raise UnknownCampaign(f"no campaign {campaign_id}", field="campaignId")
    return unit.add(found)
