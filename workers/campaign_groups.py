"""Sending group campaigns (:mod:`domain.campaign_groups`): one message per customer group.

:func:`send_groups` sends a running group campaign's due groups:

1. groups whose outcome is recorded are done; the rest are resolved against what earlier
   attempts left (:mod:`workers.send_intents`, channel ``wecom_group``, send key
   ``campaign-group:<campaign>:<group>``): an intent settled ``sent`` is recorded sent, an
   open one is reconciled by listing its sender's group tasks (``get_groupmsg_list_v2``,
   ``chat_type`` group) — never retried blind;
2. the free groups are sent as **one task per owner** (``add_msg_template``,
   ``chat_type`` group, ``chat_id_list`` of that owner's groups, from the owner's UserID),
   each recorded as an intent before the call;
3. each group's outcome is recorded once on the campaign (``GroupMessagesRecorded``):
   ``sent`` (the task id), ``failed`` (``REFUSED_BY_WECOM``: the sender does not own it, …)
   or ``unknown``. When something must wait (an intent in flight, a lost reply not yet
   reconcilable, a rate limit), what is settled is recorded and :class:`RetryLater` raised.
   A campaign whose every group has an outcome is completed.

:class:`GroupCampaignSender` polls the running group campaigns and sends them. A cancelled
campaign sends nothing more.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from datetime import datetime
from uuid import UUID

from application import campaign_groups as groups_app
from domain.campaign_groups import group_outcomes, group_plan, group_text
from projections.campaigns.group_reads import campaign_group_key, running_group_campaign_ids
from workers.campaign_sending import CampaignDeps, RetryLater, pace
from workers.polling import NOT_CREATED_YET
from workers.send_intents import GROUP, UNKNOWN, Settled

log = logging.getLogger(__name__)


def _outcome(group: str, settled: Settled) -> tuple[str, str, str]:
    if settled.sent:
        return group, "sent", settled.detail
    return group, "unknown" if settled.detail == UNKNOWN else "failed", settled.detail


def send_groups(deps: CampaignDeps, campaign_id: UUID) -> dict[str, int]:
    """Send the campaign's due groups; the campaign's group counts after it."""
    from domain.campaign_groups import group_report

    app = deps.app
    campaign = app.campaigns.get(campaign_id)
    if campaign.state != "running":
        return group_report(campaign)
    now = deps.clock()
    done = group_outcomes(campaign)
    due = {p[0]: p[1] for p in group_plan(campaign)[0]
           if p[0] not in done and datetime.fromisoformat(p[2]) <= now}
    keys = {campaign_group_key(campaign_id, g): g for g in due}
    intents = deps.intents()
    earlier, free, waiting = intents.resolve(GROUP, keys)
    outcomes = [_outcome(keys[k], s) for k, s in earlier.items()]
    retry: str | None = "an earlier attempt's group messages are being resolved" \
        if waiting else None
    by_sender: dict[str, dict[str, str]] = defaultdict(dict)
    for key in sorted(free):
        by_sender[due[keys[key]]][key] = keys[key]
    text = group_text(campaign)
    try:
        for sender, addresses in sorted(by_sender.items()):
            pace(deps, "wecom_mass", 1)
            settled, why = intents.mass_send(sender, addresses, text,
                                             f"campaign-group:{campaign_id}:{sender}",
                                             chat_type="group")
            outcomes.extend(_outcome(keys[k], s) for k, s in settled.items())
            retry = retry or why
    finally:
        groups_app.record(app, campaign_id, outcomes, deps.clock())
    if retry:
        raise RetryLater(retry)
    report = group_report(app.campaigns.get(campaign_id))
    if report["pending"] == 0:
        app.campaigns.complete(campaign_id, "system", deps.clock())
    return report


def running_group_campaigns(deps: CampaignDeps) -> list[UUID]:
    """Running campaigns without a segment (into groups), from the ``campaign`` read model."""
    with deps.store.pool.connection() as conn:
        found = running_group_campaign_ids(conn)
        conn.commit()
    return found


class GroupCampaignSender:
    """Polls running group campaigns and sends their due groups (safe from several
    workers: the intents hold each group's key)."""

    def __init__(self, deps: CampaignDeps, *, poll_interval: float = 2.0) -> None:
        self.deps = deps
        self.poll_interval = poll_interval
        self.stopping = threading.Event()

    def run_once(self) -> int:
        """How many group campaigns were passed over."""
        found = running_group_campaigns(self.deps)
        for campaign_id in found:
            try:
                send_groups(self.deps, campaign_id)
            except RetryLater as error:
                log.info("group campaign %s: retry later (%s)", campaign_id, error)
        return len(found)

    def run_forever(self) -> None:
        while not self.stopping.is_set():
            try:
                self.run_once()
            except NOT_CREATED_YET as error:
                log.info("group campaigns wait for their read models (%s)",
                         str(error).splitlines()[0])
            except Exception:
                log.exception("group campaign pass failed; retrying")
            self.stopping.wait(self.poll_interval)

    def stop(self) -> None:
        self.stopping.set()
