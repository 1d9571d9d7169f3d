"""WeCom's own count of each customer's mass messages, brought into the quota ledger.

WeCom counts every mass message a customer receives against the corp's quota (per natural
month as many as the month has days, 7 a week or 1 a day, as the corp set), whoever created
it. The platform's own sends are in the ``campaign`` read model, and a status 3 ("already
received the period's mass messages") of its tasks is recorded by
:mod:`workers.mass_send_lifecycle` as ``quota_exceeded``. What the platform did not create —
mass sends a member made from the WeCom client (群发助手) — it learns here: each pass of
:class:`WeComQuotaSync` lists the tasks members created themselves in the last
:data:`WINDOW` (``get_groupmsg_list_v2``, ``filter_type`` 1), skips any the platform
created (a msgid one of its send intents holds), reads each new or unsettled task's
recipients (``get_groupmsg_send_result`` by its creator) and records, per customer, a mass
message received (status 1) or a full period (status 3) in ``siyu_wecom_member_send``, which
planning reads (:data:`projections.campaign_planning.MEMBER_CONTACTS`). A task is read again
until none of its recipients is pending. External user ids are matched to customers through
the keyed blind index of ``wecom_external:<corp id>`` (never stored in clear).

Members' own sends **into their customer groups** (``get_groupmsg_list_v2`` with
``chat_type`` group, ``filter_type`` 1: ``create_type`` 1) are read the same way, per
``chat_id``, into ``siyu_wecom_member_group_send``: a group campaign's or SOP group step's
planning counts them in the group's quota period
(:func:`projections.campaigns.group_reads.period_sends`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from adapters.campaign_gateway import ListedTask, RecipientStatus, ResultUnavailable
from domain.identity import Identity, blind_index
from projections.campaigns import dispatch
from workers.campaign_sending import CampaignDeps
from workers.polling import NOT_CREATED_YET

log = logging.getLogger(__name__)

#: How far back member-created tasks are listed (WeCom lists at most 31 days at once).
WINDOW = timedelta(days=31) - timedelta(minutes=5)
KINDS = {RecipientStatus.SENT: "sent", RecipientStatus.QUOTA_EXCEEDED: "quota_full"}


class WeComQuotaSync:
    """Syncs members' own WeCom mass sends into the quota ledger (one pass: :meth:`run_once`)."""

    def __init__(self, deps: CampaignDeps, corp_id: str, *, poll_interval: float = 300.0
                 ) -> None:
        self.deps = deps
        self.namespace = f"wecom_external:{corp_id}"
        self.poll_interval = poll_interval
        self.stopping = threading.Event()

    def run_once(self) -> int:
        """Read the new or unsettled member-created tasks; how many customers' receipts
        (or full periods) were recorded."""
        now = self.deps.clock()
        recorded = 0
        for chat_type in ("single", "group"):
            listed = self.deps.gateway.list_member_mass_sends(
                (now - WINDOW).timestamp(), now.timestamp(), chat_type)
            for task in self._unsettled(listed):
                try:
                    result = self.deps.gateway.mass_send_result(task.task_id, task.creator)
                except ResultUnavailable as error:
                    log.info("a member's mass send not read: %s", error.reason)
                    continue
                record = self._record if chat_type == "single" else self._record_groups
                recorded += record(task, result.statuses, result.sent_at)
        return recorded

    def _unsettled(self, listed: Sequence[ListedTask]) -> list[ListedTask]:
        ids = [t.task_id for t in listed if t.by_member]
        if not ids:
            return []
        with self.deps.store.pool.connection() as conn:
            done = dispatch.settled_member_tasks(conn, ids)
            conn.commit()
        return [t for t in listed if t.by_member and t.task_id not in done]

    def _record(self, task: ListedTask, statuses: dict[str, RecipientStatus],
                sent_at: datetime | None) -> int:
        """``sent_at``: when the member sent it (WeCom's ``send_time``), else its creation."""
        blinds = {blind_index(self.deps.app.blind_key, Identity(self.namespace, external)):
                  KINDS[status] for external, status in statuses.items() if status in KINDS}
        owners = self.deps.app.index.owners_of(sorted(blinds)) if blinds else {}
        kinds = [(customer, kind) for blind, kind in blinds.items()
                 if (customer := owners.get(blind)) is not None]
        settled = all(s is not RecipientStatus.PENDING for s in statuses.values())
        with self.deps.store.pool.connection() as conn, conn.transaction():
            dispatch.record_member_sends(conn, task.task_id, task.creator,
                                         sent_at or datetime.fromtimestamp(task.created_at, UTC),
                                         settled, kinds)
        return len(kinds)

    def _record_groups(self, task: ListedTask, statuses: dict[str, RecipientStatus],
                       sent_at: datetime | None) -> int:
        """A member's own send into groups: each group's result, by chat id (not personal
        data)."""
        kinds = [(chat, KINDS[status]) for chat, status in sorted(statuses.items())
                 if status in KINDS]
        settled = all(s is not RecipientStatus.PENDING for s in statuses.values())
        with self.deps.store.pool.connection() as conn, conn.transaction():
            dispatch.record_member_group_sends(
                conn, task.task_id, task.creator,
                sent_at or datetime.fromtimestamp(task.created_at, UTC), settled, kinds)
        return len(kinds)

    def run_forever(self) -> None:
        while not self.stopping.is_set():
            try:
                self.run_once()
            except ResultUnavailable as error:
                log.info("members' mass sends not listed: %s", error.reason)
            except NOT_CREATED_YET as error:
                log.info("WeCom quota sync waits for its read models (%s)",
                         str(error).splitlines()[0])
            except Exception:
                log.exception("WeCom quota sync pass failed; retrying")
            self.stopping.wait(self.poll_interval)

    def stop(self) -> None:
        self.stopping.set()
