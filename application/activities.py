"""Activities (活动): plan, revise, cancel.

An activity is edited rarely and from any process: each change reads it fresh from the
store, decides, saves, and decides again on a storage conflict. Linked campaigns must
exist when the plan names them (``UNKNOWN_CAMPAIGN``, naming ``campaignIds``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from application.unit_of_work import EventStore, UnitOfWork
from domain.activity import Activity, ActivityPlan, UnknownActivity
from domain.campaign import Campaign, UnknownCampaign


class Activities:
    def __init__(self, store: EventStore) -> None:
        self.store = store

    def plan(self, plan: ActivityPlan, by: str, occurred_at: datetime) -> tuple[UUID, int]:
        def decide(unit: UnitOfWork[Activity]) -> UUID:
            activity = Activity.plan(plan, by, occurred_at)
            self._check_campaigns(activity.current.campaign_ids)
            return unit.add(activity).id

        activity_id, position = self.store.transact(Activity, decide)
        assert position is not None  # a new activity records its plan
        return activity_id, position

    def revise(self, activity_id: UUID, plan: ActivityPlan, by: str,
               occurred_at: datetime) -> int | None:
        def change(activity: Activity) -> bool:
            changed = activity.revise(plan, by, occurred_at)
            self._check_campaigns(activity.current.campaign_ids)
            return changed

        return self._change(activity_id, change)

    def cancel(self, activity_id: UUID, reason: str, by: str, occurred_at: datetime
               ) -> int | None:
        return self._change(activity_id, lambda a: a.cancel(reason, by, occurred_at))

    def _check_campaigns(self, campaign_ids: tuple[str, ...]) -> None:
        for campaign_id in campaign_ids:
            if self.store.find(UUID(campaign_id), Campaign) is None:
                raise UnknownCampaign(f"no campaign {campaign_id}", field="campaignIds")

    def _change(self, activity_id: UUID, change: Callable[[Activity], bool]) -> int | None:
        def decide(unit: UnitOfWork[Activity]) -> None:
            activity = self.store.find(activity_id, Activity, fresh=True)
            if activity is None:
                raise UnknownActivity(f"no activity {activity_id}", field="activityId")
            if change(activity):
                unit.add(activity)

        return self.store.transact(Activity, decide)[1]
