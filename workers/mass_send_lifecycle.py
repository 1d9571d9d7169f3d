"""The life of a WeCom mass-send task after its creation, until every recipient is final.

WeCom delivers a task only when its member confirms it in the WeCom client, and documents
no expiry: an unconfirmed task stays pending for ever. So, for every open task (a campaign
task with recipients not final yet), each pass of :class:`MassSendLifecycle`:

1. reads the recipients' statuses (``get_groupmsg_send_result``, by the member's UserID)
   and records the final ones once (sent, not a friend, quota reached);
2. while the task is unconfirmed and before its **deadline** (the campaign's
   ``confirmHours``, else ``confirm_within``, counted from the task's creation), reminds the
   member (``remind_groupmsg_send``) at a quarter, half and three quarters of it — at most
   three reminders, within WeCom's limit of three per task per 24 hours; each reminder is
   noted (``siyu_task_reminder``) before it is asked for, so a restart never repeats one;
3. past the deadline, cancels the task (``cancel_groupmsg_send``), reads it once more (a
   member who confirmed at the last moment wins) and records every recipient still pending
   ``expired``: not sent, because the member did not confirm in time. The task is then
   finished and its confirmation marketing task closes ``expired``
   (:mod:`workers.confirmation_tasks`).
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from adapters.campaign_gateway import Delivery, RecipientStatus, ResultUnavailable, TaskResult
from domain.errors import DomainError
from projections.campaigns import dispatch
from workers.campaign_sending import CampaignDeps, addresses_on
from workers.polling import keep_running

log = logging.getLogger(__name__)

FINAL = {"sent", "not_friend", "quota_exceeded", "expired"}
#: When reminders go out, as fractions of the confirmation deadline (three at most: WeCom
#: allows three per task per 24 hours).
REMINDERS = (0.25, 0.5, 0.75)


def remind(deps: CampaignDeps, campaign_id: UUID, task_id: str, elapsed: float) -> None:
    """Remind the member of an unconfirmed task if a reminder is due at ``elapsed`` (the
    fraction of its deadline gone): each reminder noted before it is asked for, so a restart
    or a second worker never repeats one."""
    due = sum(1 for at in REMINDERS if elapsed >= at)
    if due == 0:
        return
    with deps.store.pool.connection() as conn, conn.transaction():
        noted = dispatch.note_reminder(conn, campaign_id, task_id, due)
    if not noted:
        return  # this reminder went out already (or another worker sends it)
    answer = deps.gateway.remind_mass_send(task_id)
    if answer.delivery is not Delivery.ACCEPTED:
        log.info("reminder %d of a task of campaign %s not sent: %s", due, campaign_id,
                 answer.reason)


class MassSendLifecycle:
    """Syncs, reminds and, past the deadline, cancels the open WeCom mass-send tasks."""

    def __init__(self, deps: CampaignDeps, *, confirm_within: timedelta = timedelta(hours=24),
                 poll_interval: float = 60.0, batch: int = 50) -> None:
        self.deps = deps
        self.confirm_within = confirm_within
        self.poll_interval = poll_interval
        self.batch = batch
        self.stopping = threading.Event()
        self._deadlines: dict[UUID, timedelta] = {}

    def open_tasks(self) -> list[dict[str, Any]]:
        with self.deps.store.pool.connection() as conn:
            rows = dispatch.open_tasks(conn, self.batch)
            conn.commit()
        return list(rows)

    def deadline(self, campaign_id: UUID) -> timedelta:
        """The campaign's confirmation deadline (read once per process and campaign)."""
        if campaign_id not in self._deadlines:
            try:
                hours = self.deps.app.campaigns.get(campaign_id).confirm_hours
            except DomainError:
                hours = None
            self._deadlines[campaign_id] = self.confirm_within if hours is None \
                else timedelta(hours=hours)
        return self._deadlines[campaign_id]

    def sync(self, campaign_id: UUID, task_id: str, sender: str,
             created_at: datetime | None = None) -> int:
        """One task: what is final recorded, then a reminder or the cancellation if due;
        how many recipients' final statuses were recorded."""
        with self.deps.store.pool.connection() as conn:
            rows = dispatch.undelivered(conn, campaign_id, task_id)
            conn.commit()
        if not rows:
            return 0
        userid = self.deps.store.sender_userids([sender]).get(sender)
        if userid is None:
            return 0
        result = self.deps.gateway.mass_send_result(task_id, userid)
        recorded = self._record(campaign_id, rows, result, expire=False)
        if result.confirmed or created_at is None:
            return recorded
        age = self.deps.clock() - created_at
        deadline = self.deadline(campaign_id)
        if age >= deadline:
            return recorded + self._expire(campaign_id, task_id, userid, rows)
        self._remind(campaign_id, task_id, age / deadline)
        return recorded

    def _record(self, campaign_id: UUID, rows: list[dict[str, Any]], result: TaskResult, *,
                expire: bool) -> int:
        by_address = {a: c for c, a in addresses_on(self.deps, "wecom_mass", rows).items()}
        statuses: dict[UUID, str] = {}
        for address, status in result.statuses.items():
            if address not in by_address:
                continue
            if expire and status is RecipientStatus.PENDING:
                status = RecipientStatus.EXPIRED
            if status.value in FINAL:
                statuses[by_address[address]] = str(status.value)
        if expire:  # recipients WeCom no longer lists are not sent either
            statuses.update({c: "expired" for c in by_address.values() if c not in statuses})
        if not statuses:
            return 0
        # business time: when the member sent the task (its quota period), else now (expiry)
        return self.deps.app.campaigns.record_deliveries(campaign_id, 0, statuses,
                                                         result.sent_at or self.deps.clock())

    def _expire(self, campaign_id: UUID, task_id: str, userid: str,
                rows: list[dict[str, Any]]) -> int:
        cancelled = self.deps.gateway.cancel_mass_send(task_id)
        if cancelled.delivery is not Delivery.ACCEPTED:
            log.warning("a mass-send task of campaign %s not cancelled: %s", campaign_id,
                        cancelled.reason)
            return 0
        final = self.deps.gateway.mass_send_result(task_id, userid)  # a late confirmation wins
        return self._record(campaign_id, rows, final, expire=not final.confirmed)

    def _remind(self, campaign_id: UUID, task_id: str, elapsed: float) -> None:
        remind(self.deps, campaign_id, task_id, elapsed)

    def run_once(self) -> int:
        recorded = 0
        for t in self.open_tasks():
            try:
                recorded += self.sync(t["campaign_id"], t["task_id"], t["sender"] or "",
                                      t["created_at"])
            except ResultUnavailable as error:
                log.info("a mass-send task of campaign %s not read: %s", t["campaign_id"],
                         error.reason)
        return recorded

    def run_forever(self) -> None:
        keep_running("mass-send lifecycle", self.run_once,
                     self.stopping, self.poll_interval)

    def stop(self) -> None:
        self.stopping.set()
