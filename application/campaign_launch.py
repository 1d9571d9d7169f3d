"""Launching a campaign: plan its audience through the restraint rules, then record it.

The plan reads the ``campaign`` and ``sop`` read models (other campaigns' planned
sends and SOP steps count toward each customer's caps,
:func:`projections.campaign_planning.plan_audience`), so a launch waits — under a
PostgreSQL advisory lock that serialises launches — until those projections have
every event before it, plans, records the launch (the plan and every recipient, in
one transaction), and waits until the projection has it too.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.postgres import PostgresFactory

from application.app import Siyu
from application.campaign_groups import launch_if_groups
from projections.campaign_planning import LAUNCH_LOCK, PlanResult, plan_audience
from projections.runner import Tracker


class LaunchRefused(Exception):
    """The campaign projection is not caught up: planning now could exceed caps."""


def launch(app: Siyu, tracker: Tracker, campaign_id: UUID, by: str, now: datetime, *,
           wait_seconds: float = 10.0) -> tuple[int | None, PlanResult]:
    """Plan and launch one campaign, serialised with every other launch: the log position
    of the launch (None: nothing recorded) and the plan. A campaign into customer groups
    is launched by :func:`application.campaign_groups.launch_if_groups`: its plan is of
    groups (``PlanResult.groups``, each with its sender or the reason it is excluded)."""
    grouped = launch_if_groups(app, campaign_id, by, now)
    if grouped is not None:
        return grouped[0], PlanResult(groups=grouped[1])
    factory = app.factory
    if not isinstance(factory, PostgresFactory):
        raise TypeError("a campaign is planned on the PostgreSQL read models")
    datastore = factory.datastore
    with datastore.get_connection() as lock:
        lock.execute("SELECT pg_advisory_lock(%s)", (LAUNCH_LOCK,))
        try:
            latest = app.recorder.max_notification_id() or 0
            if not tracker.wait("campaign", latest, wait_seconds):
                raise LaunchRefused("the campaign projection is behind the log")
            # SOP steps sent count toward the caps too (where the sop read model runs)
            if tracker.position("sop") and not tracker.wait("sop", latest, wait_seconds):
                raise LaunchRefused("the sop projection is behind the log")
            campaign = app.campaigns.get(campaign_id)
            with datastore.get_connection() as conn:
                result = plan_audience(conn, campaign.plan(), UUID(campaign.segment_id),
                                       app.campaigns.contact_policy(), now)
            position = app.campaigns.launch(campaign_id, now, result.decisions, by, now)
            if position is not None and not tracker.wait("campaign", position, wait_seconds):
                raise LaunchRefused("the launch is recorded; the projection is behind")
            return position, result
        finally:
            lock.execute("SELECT pg_advisory_unlock(%s)", (LAUNCH_LOCK,))
