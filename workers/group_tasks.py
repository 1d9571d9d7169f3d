"""Following group campaigns' WeCom tasks to their end, as customer tasks are followed
(:mod:`workers.mass_send_lifecycle`).

A group task (``chat_type`` group) is created by :mod:`workers.campaign_groups` and waits,
like any mass send, for its owner to confirm it in the WeCom client. Each pass of
:class:`GroupTaskLifecycle`, for every task of a group campaign with groups not final
(:func:`domain.campaign_groups.open_tasks`):

1. reads the groups' statuses (``get_groupmsg_send_result`` by the owner's UserID: per
   ``chat_id``) and records the final ones once (``GroupsDelivered``): status 1
   ``delivered``, status 3 ``already_received`` (the group had its period's mass message);
2. while unconfirmed and before the campaign's deadline (``confirmHours``, else
   ``confirm_within``, from the task's creation), reminds the owner
   (``remind_groupmsg_send``) at a quarter, half and three quarters of it — three at most,
   within WeCom's three per task per 24 hours, each noted before it is asked for;
3. past the deadline — or at once when the campaign was cancelled: no owner is reminded
   to send what was called off — cancels the task (``cancel_groupmsg_send``), reads it once
   more (a last-moment confirmation wins) and records every group still pending ``expired``.

Campaigns are looked at until :data:`FOLLOW_FOR` after they end (longer than the longest
deadline, 30 days).
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from adapters.campaign_gateway import Delivery, RecipientStatus, ResultUnavailable, TaskResult
from application import campaign_groups as groups_app
from domain.campaign import Campaign
from domain.campaign_groups import ALREADY_RECEIVED, DELIVERED, EXPIRED, OpenTask, open_tasks
from projections.campaigns.group_reads import followed_group_campaign_ids
from workers.campaign_sending import CampaignDeps
from workers.mass_send_lifecycle import remind
from workers.polling import keep_running

log = logging.getLogger(__name__)

FOLLOW_FOR = timedelta(days=31)
_FINAL = {RecipientStatus.SENT: DELIVERED, RecipientStatus.QUOTA_EXCEEDED: ALREADY_RECEIVED,
          RecipientStatus.EXPIRED: EXPIRED}


def deliveries(task: OpenTask, result: TaskResult, *, expire: bool) -> list[tuple[str, str]]:
    """The task's groups WeCom's result makes final; ``expire``: every other one expired."""
    out = [(g, _FINAL[s]) for g, s in result.statuses.items()
           if g in task.groups and s in _FINAL]
    if expire:
        final = {g for g, _ in out}
        out += [(g, EXPIRED) for g in task.groups if g not in final]
    return out


class GroupTaskLifecycle:
    """Syncs, reminds and, past the deadline, cancels group campaigns' open WeCom tasks."""

    def __init__(self, deps: CampaignDeps, *, confirm_within: timedelta = timedelta(hours=24),
                 poll_interval: float = 60.0) -> None:
        self.deps = deps
        self.confirm_within = confirm_within
        self.poll_interval = poll_interval
        self.stopping = threading.Event()

    def sync(self, campaign: Campaign, task: OpenTask) -> int:
        """One task: what is final recorded, then a reminder or the cancellation if due;
        how many groups' deliveries were recorded."""
        result = self.deps.gateway.mass_send_result(task.task_id, task.sender)
        recorded = self._record(campaign, deliveries(task, result, expire=False))
        if result.confirmed:
            return recorded
        hours = campaign.confirm_hours
        deadline = self.confirm_within if hours is None else timedelta(hours=hours)
        age = self.deps.clock() - task.created_at
        if age < deadline and campaign.state != "cancelled":
            remind(self.deps, campaign.id, task.task_id, age / deadline)
            return recorded
        cancelled = self.deps.gateway.cancel_mass_send(task.task_id)
        if cancelled.delivery is not Delivery.ACCEPTED:
            log.warning("a group task of campaign %s not cancelled: %s", campaign.id,
                        cancelled.reason)
            return recorded
        final = self.deps.gateway.mass_send_result(task.task_id, task.sender)
        return recorded + self._record(campaign, deliveries(task, final,
                                                            expire=not final.confirmed))

    def _record(self, campaign: Campaign, found: list[tuple[str, str]]) -> int:
        return groups_app.deliver(self.deps.app, campaign.id, found, self.deps.clock())

    def run_once(self) -> int:
        """How many groups' deliveries were recorded."""
        with self.deps.store.pool.connection() as conn:
            found = followed_group_campaign_ids(conn, self.deps.clock() - FOLLOW_FOR)
            conn.commit()
        recorded = 0
        for campaign_id in found:
            campaign = self.deps.app.campaigns.get(campaign_id)
            for task in open_tasks(campaign):
                try:
                    recorded += self.sync(campaign, task)
                except ResultUnavailable as error:
                    log.info("a group task of campaign %s not read: %s", campaign_id,
                             error.reason)
        return recorded

    def run_forever(self) -> None:
        keep_running("group-task lifecycle", self.run_once, self.stopping, self.poll_interval)

    def stop(self) -> None:
        self.stopping.set()
