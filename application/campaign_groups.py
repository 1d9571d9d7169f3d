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
    GROUP_DISMISSED,
    MAX_GROUPS,
    NO_OWNER_MAPPED,
    GroupDecision,
    NoGroupsSelected,
    UnknownGroup,
    draft_group_campaign,
    launch_groups,
    plan_group,
    record_deliveries,
    record_outcomes,
    targeted,
)
from domain.errors import InvalidInput
from domain.restraint import wecom_quota_period
from projections.campaigns.group_reads import current_members, known_members, period_sends
from projections.customer_groups import queries as directory


def draft(app: Siyu, name: str, owner: str, groups: Sequence[tuple[str, str]], text: str,
          by: str, occurred_at: datetime, **options: Any) -> tuple[UUID, int | None]:
    campaign = draft_group_campaign(name, owner, groups, text, by, occurred_at, **options)
    return campaign.id, app.campaigns.store.transact(Campaign, lambda u: u.add(campaign))[1]


def select(app: Siyu, groups: Sequence[tuple[str, str | None]] = (),
           owners: Sequence[str] = (), segment_id: UUID | None = None
           ) -> list[tuple[str, str]]:
    """The groups (chat id, owner's UserID) a draft targets, from the group directory
    (``customer_group``): ``groups`` by chat id (an owner given wins over the directory's;
    none given: the directory's, else :class:`UnknownGroup`), then every group ``owners``
    own, then every group holding a member of ``segment_id`` — given twice, a chat id is
    refused; the others are sendable groups only (owner
    known, not dismissed), each once, in that order. Resolved at draft: groups created
    later are not added."""
    if segment_id is not None:
        app.segments.get(segment_id)  # UnknownSegment
    chosen: dict[str, str] = {}
    with app.factory.datastore.get_connection() as conn:  # type: ignore[attr-defined]
        known = directory.by_ids(conn, [g for g, o in groups if not o])
        for n, (chat_id, owner) in enumerate(groups):
            if chat_id in chosen:
                raise InvalidInput(f"groups[{n}].groupId must be a unique WeCom chat id",
                                   field=f"groups[{n}].groupId")
            row = known.get(chat_id)
            if not owner and (row is None or row["owner_user_id"] is None
                              or row["dismissed_at"] is not None):
                raise UnknownGroup(f"{chat_id!r} is not a group the directory can send to "
                                   "(unknown, owner not known, or dismissed): give its "
                                   "ownerUserId", field=f"groups[{n}].groupId")
            chosen.setdefault(chat_id, owner or (row or {})["owner_user_id"])
        found = directory.by_owners(conn, owners) if owners else []
        if segment_id is not None:
            found += directory.holding_segment(conn, segment_id)
    for chat_id, owner in found:
        chosen.setdefault(chat_id, owner)
    if not chosen:
        raise NoGroupsSelected("the selection holds no group that can be sent to",
                               field="groups")
    if len(chosen) > MAX_GROUPS:
        raise NoGroupsSelected(f"the selection holds {len(chosen)} groups: at most "
                               f"{MAX_GROUPS}", field="groups")
    return list(chosen.items())


def plan(app: Siyu, campaign: Campaign, now: datetime) -> list[GroupDecision]:
    """Each targeted group planned (with its sender and send time) or excluded (why): a
    group the directory has dismissed since the draft (``GROUP_DISMISSED``); its owner the
    directory's now (a transfer or inheritance the group sync recorded), else the draft's —
    a UserID no staff record has is ``NO_OWNER_MAPPED``, a member who left
    ``OWNER_NOT_A_MEMBER`` —, then the brand's rules and WeCom's quota."""
    drafted = targeted(campaign) or []
    names = [g for g, _ in drafted]
    policy = app.campaigns.contact_policy()
    periods: dict[tuple[datetime, datetime], tuple[Counter[str], int]] = {}
    with app.factory.datastore.get_connection() as conn:  # type: ignore[attr-defined]
        rows = directory.by_ids(conn, names) if names else {}
        gone = {g for g, row in rows.items() if row["dismissed_at"] is not None}
        groups = [(g, (rows.get(g) or {}).get("owner_user_id") or o) for g, o in drafted]
        owners = sorted({o for _, o in groups})
        members = current_members(conn, owners)
        mapped = known_members(conn, owners)

        def quota_used(group: str) -> Callable[[datetime], bool]:
            def used(at: datetime) -> bool:
                since, until, limit = wecom_quota_period(at, policy.wecom_quota_rule)
                if (since, until) not in periods:
                    periods[since, until] = (period_sends(conn, names, since, until, limit),
                                             limit)
                counts, limit = periods[since, until]
                return counts[group] >= limit
            return used

        return [GroupDecision(g, o, False, GROUP_DISMISSED) if g in gone
                else GroupDecision(g, o, False, NO_OWNER_MAPPED) if o not in mapped
                else plan_group(campaign, policy, g, o, o in members, quota_used(g), now)
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


def deliver(app: Siyu, campaign_id: UUID, deliveries: Sequence[tuple[str, str]],
            occurred_at: datetime) -> int:
    """Record WeCom's final word on sent groups once each; how many were new."""
    if not deliveries:
        return 0
    return app.campaigns.store.transact(Campaign, lambda u: record_deliveries(
        _held(app, campaign_id, u), deliveries, "system", occurred_at))[0]


def _held(app: Siyu, campaign_id: UUID, unit: UnitOfWork[Campaign]) -> Campaign:
    found = app.campaigns.store.find(campaign_id, Campaign)
    if found is None:
        raise UnknownCampaign(f"no campaign {campaign_id}", field="campaignId")
    return unit.add(found)
