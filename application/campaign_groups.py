"""Group campaigns (:mod:`domain.campaign_groups`): draft, plan, launch, record outcomes.

Planning reads the staff directory (is each group's owner a current member?) and the
platform's group messages in the group's WeCom quota period (the corp's rule,
:func:`domain.restraint.wecom_quota_period`) (:mod:`projections.campaigns.group_reads`); the dry
run and the launch use the same :func:`plan`, so the dry run's groups are the launch's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

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
from domain.restraint import wecom_quota_period
from projections.campaigns.group_reads import current_members, period_sends


def draft(app: Siyu, name: str, owner: str, groups: Sequence[tuple[str, str]], text: str,
          by: str, occurred_at: datetime, **options: Any) -> tuple[UUID, int | None]:
    campaign = draft_group_campaign(name, owner, groups, text, by, occurred_at, **options)
    return campaign.id, app.campaigns.store.transact(Campaign, lambda u: u.add(campaign))[1]


def plan(app: Siyu, campaign: Campaign, now: datetime) -> list[GroupDecision]:
    """Each targeted group planned (with its sender and send time) or excluded (why)."""
    groups = targeted(campaign) or []
    names = [g for g, _ in groups]
    policy = app.campaigns.contact_policy()
    periods: dict[tuple[datetime, datetime], tuple[Counter[str], int]] = {}
    with app.factory.datastore.get_connection() as conn:  # type: ignore[attr-defined]
        members = current_members(conn, sorted({o for _, o in groups}))

        def quota_used(group: str) -> Callable[[datetime], bool]:
            def used(at: datetime) -> bool:
                since, until, limit = wecom_quota_period(at, policy.wecom_quota_rule)
                if (since, until) not in periods:
                    periods[since, until] = (period_sends(conn, names, since, until), limit)
                counts, limit = periods[since, until]
                return counts[group] >= limit
            return used

        return [plan_group(campaign, policy, g, o, o in members, quota_used(g), now)
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
