"""SOP steps into customer groups (``target`` ``group``): one WeCom message into the group
whose joining enrolled the customer (``add_msg_template``, ``chat_type`` ``group``).

For a due group step of an enrolment (:func:`send_group_step`):

1. the joiner's restraint is decided as for any step, with the step's message class:
   do-not-disturb and withdrawn consent skip it, quiet hours (and a holiday's, for
   marketing) defer it. The customer caps do not hold a group message (WeCom counts a
   group's mass messages per group, not per member); once sent it counts as a contact of
   the customer who triggered it, like every SOP step;
2. the group message of the (sequence, step, group, day in Asia/Shanghai) is **claimed**
   (``sop_group_send``, under the group's lock): one enrolment sends it; the steps of
   others who joined that day are skipped ``GROUP_ALREADY_SENT``. A group that had its
   quota period's mass messages from the platform, under the corp's rule
   (``Policy.wecom_quota_rule``: as many as the month has days, 7 a week or 1 a day,
   :func:`domain.restraint.wecom_quota_period`), is skipped ``WECOM_GROUP_QUOTA``;
3. the send goes through a send intent keyed ``sop-group:<sop>:<step>:<group>:<day>``
   (:mod:`workers.send_intents`, channel ``wecom_group``): a redelivered or restarted step
   finds the intent settled (or reconciles it by listing the sender's group tasks) and
   never creates a second task. The sender is the step's ``sender_user_id``, the member
   who owns the group (群主); WeCom refuses a group the sender does not own (the step fails
   ``REFUSED_BY_WECOM``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Protocol
from uuid import UUID
from zoneinfo import ZoneInfo

from domain.campaign import render
from domain.message_class import MARKETING, SERVICE, SERVICE_PURPOSE
from domain.privacy import DEFAULT_PURPOSE
from domain.restraint import (
    DEFAULT_TZ,
    WECOM_MASS,
    Plan,
    Policy,
    Recipient,
    Variant,
    decide,
    wecom_quota_period,
)
from workers.campaign_sending import CampaignDeps, RetryLater, pace
from workers.send_intents import GROUP


class GroupClaims(Protocol):
    """What a group step needs of the SOP worker's store (:class:`workers.sops.SopStore`)."""

    def claim_group(self, row: dict[str, Any], day: date, now: datetime,
                    quota: tuple[date, date, int]) -> str | None: ...
    def defer(self, enrolment: UUID, step: int, until: datetime) -> None: ...


def group_key(row: dict[str, Any], day: str) -> str:
    """The send key of one group message: (sequence, step, group, day)."""
    return f"sop-group:{row['sop_id']}:{row['step']}:{row['trigger_group']}:{day}"


def send_group_step(campaigns: CampaignDeps, store: GroupClaims, row: dict[str, Any],
                    step: dict[str, Any], policy: Policy, now: datetime,
                    outcome: Callable[..., None]) -> None:
    kind = step.get("message_class") or MARKETING
    purpose = SERVICE_PURPOSE if kind == SERVICE else DEFAULT_PURPOSE
    plan = Plan(row["sop_id"], WECOM_MASS, tuple(
        Variant(v["variant_id"], tuple(v["lifecycles"]), v["weight"])
        for v in step["variants"]), purpose=purpose, message_class=kind)
    who = Recipient(row["customer_id"], row["lifecycle"], dnd=row["dnd"],
                    consent_withdrawn=purpose in (row["consents_withdrawn"] or ()),
                    friends=("group",))  # the group is addressed, not the customer
    decision = decide(plan, policy, who, now)
    if not decision.included:
        outcome(row, "skipped", decision.reason or "EXCLUDED")
        return
    if decision.deferred and decision.send_at is not None:
        store.defer(row["enrolment_id"], row["step"], decision.send_at)
        return
    variant = next(v for v in step["variants"] if v["variant_id"] == decision.variant_id)
    vid, group = variant["variant_id"], row["trigger_group"]
    local = now.astimezone(ZoneInfo(DEFAULT_TZ)).date()
    since, until, limit = wecom_quota_period(now, policy.wecom_quota_rule)
    why_not = store.claim_group(row, local, now, (since.date(), until.date(), limit))
    if why_not is not None:
        outcome(row, "skipped", why_not, vid)
        return
    key = group_key(row, local.isoformat())
    intents = campaigns.intents()
    earlier, free, waiting = intents.resolve(GROUP, {key: group})
    if key in earlier:
        outcome(row, "sent" if earlier[key].sent else "failed", earlier[key].detail, vid)
        return
    if waiting or key not in free:
        raise RetryLater("a group message of an earlier attempt is being resolved")
    pace(campaigns, WECOM_MASS, 1)
    settled, retry = intents.mass_send(step["sender_user_id"], {key: group},
                                       render(variant["text"], {}), key, chat_type="group")
    if key in settled:
        outcome(row, "sent" if settled[key].sent else "failed", settled[key].detail, vid)
    if retry:
        raise RetryLater(retry)
