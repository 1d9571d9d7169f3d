"""Campaigns into customer groups (客户群群发): the audience is groups, not customers.

A group campaign is a :class:`~domain.campaign.Campaign` on ``wecom_mass`` whose draft also
records :class:`GroupsTargeted`: the customer groups chosen by chat id, each with the WeCom
UserID of the member who owns it (群主), who is the only one WeCom lets send into it. It has
no segment (:data:`NO_SEGMENT`), one text and no holdout; the text has **no customer
variables** — the whole group reads the one message — so a ``{placeholder}`` is refused at
draft (:class:`PersonalisedGroupText`).

At launch (:func:`launch_groups`) each group is planned or excluded with a reason
(:func:`plan_group`): dismissed since the draft (``GROUP_DISMISSED``), its owner now — the
directory's, which follows a transfer — a UserID no staff record has (``NO_OWNER_MAPPED``)
or no longer a current member (``OWNER_NOT_A_MEMBER``), the
group at its quota of mass messages in the period of the corp's rule (``WECOM_GROUP_QUOTA``),
or the brand's rules (do-not-disturb, consent and caps are a customer's and do not hold a
group; quiet hours and a holiday's do). The launch records ``Campaign.Launched`` with the counts in groups and
:class:`GroupsPlanned` with every group. The worker sends one message per group and records
:class:`GroupMessagesRecorded` once per group: ``sent`` (the task id), ``failed`` (with a
reason) or ``unknown`` (:data:`workers.send_intents.UNKNOWN`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.campaign import Campaign, check_text
from domain.errors import InvalidInput
from domain.message_class import MARKETING
from domain.restraint import WECOM_MASS, Policy, Recipient, decide

#: A group campaign's segment: none (the audience is its groups).
NO_SEGMENT = UUID(int=0)
#: WeCom's maximum of ``chat_id_list`` in one ``add_msg_template`` call, and of a campaign.
MAX_GROUPS = 2000
VARIANT_ID = "group"
_CHAT_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
_USER_ID = re.compile(r"^[A-Za-z0-9_\-.@]{1,64}$")
_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")

OWNER_NOT_A_MEMBER = "OWNER_NOT_A_MEMBER"
WECOM_GROUP_QUOTA = "WECOM_GROUP_QUOTA"
#: The directory has the group dismissed since the draft (a callback or the group sync).
GROUP_DISMISSED = "GROUP_DISMISSED"
#: The group's owner now (the directory's, after a transfer) is a UserID no staff record has.
NO_OWNER_MAPPED = "NO_OWNER_MAPPED"


class PersonalisedGroupText(InvalidInput):
    """A group message is read by every member: it cannot carry one customer's values."""

    code = "GROUP_TEXT_PERSONALISED"


class UnknownGroup(InvalidInput):
    """A chat id the group directory cannot send to: never recorded, its owner not known
    (WeCom's creation callback not recorded) or dismissed."""

    code = "UNKNOWN_GROUP"


class NoGroupsSelected(InvalidInput):
    """The selection (owners, segment, chat ids) holds no group that can be sent to."""

    code = "NO_GROUPS_SELECTED"


class GroupsTargeted(Aggregate.Event):
    """The campaign's audience: customer groups ``[chat id, owner's WeCom UserID]``."""

    groups: list[list[str]]
    by: str
    occurred_at: datetime

    def apply(self, campaign: Campaign) -> None:
        campaign.__dict__["_groups"] = [list(g) for g in self.groups]


class GroupsPlanned(Aggregate.Event):
    """The frozen group audience: ``planned`` ``[chat id, sender UserID, send at]``,
    ``excluded`` ``[chat id, owner UserID, reason]``."""

    planned: list[list[str]]
    excluded: list[list[str]]

    def apply(self, campaign: Campaign) -> None:
        campaign.__dict__["_group_plan"] = ([list(p) for p in self.planned],
                                            [list(e) for e in self.excluded])


class GroupMessagesRecorded(Aggregate.Event):
    """Outcomes of group messages, each recorded once: ``[chat id, status, detail]`` with
    status ``sent`` (detail: the WeCom task id), ``failed`` or ``unknown`` (the reason)."""

    outcomes: list[list[str]]
    occurred_at: datetime

    def apply(self, campaign: Campaign) -> None:
        done: dict[str, list[str]] = campaign.__dict__.setdefault("_group_outcomes", {})
        sent_at: dict[str, datetime] = campaign.__dict__.setdefault("_group_sent_at", {})
        for chat_id, status, detail in self.outcomes:
            done[chat_id] = [status, detail]
            sent_at[chat_id] = self.occurred_at


#: What became of a group's message once its task was created (:class:`GroupsDelivered`).
DELIVERED = "delivered"
ALREADY_RECEIVED = "already_received"
EXPIRED = "expired"
DELIVERIES = (DELIVERED, ALREADY_RECEIVED, EXPIRED)


class GroupsDelivered(Aggregate.Event):
    """WeCom's final word on groups whose task was created (``sent``), each recorded once:
    ``[chat id, status]`` — ``delivered`` (the owner confirmed; WeCom status 1),
    ``already_received`` (status 3: the group had its period's mass message already, so it
    got none) or ``expired`` (not confirmed by the campaign's deadline: the task was
    cancelled and the group got nothing)."""

    deliveries: list[list[str]]
    by: str
    occurred_at: datetime

    def apply(self, campaign: Campaign) -> None:
        done: dict[str, str] = campaign.__dict__.setdefault("_group_deliveries", {})
        done.update({chat_id: status for chat_id, status in self.deliveries})


def check_groups(groups: Sequence[tuple[str, str]]) -> list[list[str]]:
    if not 1 <= len(groups) <= MAX_GROUPS:
        raise InvalidInput(f"groups: 1 to {MAX_GROUPS}", field="groups")
    seen: set[str] = set()
    out: list[list[str]] = []
    for n, (chat_id, owner) in enumerate(groups):
        if not _CHAT_ID.match(chat_id) or chat_id in seen:
            raise InvalidInput(f"groups[{n}].groupId must be a unique WeCom chat id",
                               field=f"groups[{n}].groupId")
        if not _USER_ID.match(owner):
            raise InvalidInput(f"groups[{n}].ownerUserId must be a WeCom UserID",
                               field=f"groups[{n}].ownerUserId")
        seen.add(chat_id)
        out.append([chat_id, owner])
    return out


def draft_group_campaign(name: str, owner: str, groups: Sequence[tuple[str, str]], text: str,
                         by: str, occurred_at: datetime, **options: Any) -> Campaign:
    """A draft into ``groups`` (chat id, owner's UserID); ``options``: ``cost_fen``,
    ``attribution_days``, ``harm_days``, ``message_class``, ``service_reason``,
    ``service_reference`` as :meth:`Campaign.draft` takes them."""
    cleaned = check_text(text, "text")
    if _PLACEHOLDER.search(cleaned):
        raise PersonalisedGroupText("a group message is read by the whole group: text cannot "
                                    "use customer variables", field="text")
    checked = check_groups(groups)
    campaign = Campaign.draft(name, owner, WECOM_MASS, NO_SEGMENT,
                              [{"variant_id": VARIANT_ID, "text": cleaned}], by, occurred_at,
                              **options)
    campaign.trigger_event(GroupsTargeted, groups=checked, by=by, occurred_at=occurred_at)
    return campaign


def targeted(campaign: Campaign) -> list[tuple[str, str]] | None:
    """The groups a group campaign targets (chat id, owner); None: not a group campaign."""
    groups = campaign.__dict__.get("_groups")
    return None if groups is None else [(g[0], g[1]) for g in groups]


def group_text(campaign: Campaign) -> str:
    return str(campaign.variants[0]["text"])


@dataclass(frozen=True, slots=True)
class GroupDecision:
    group_id: str
    owner: str
    included: bool
    reason: str | None = None
    send_at: datetime | None = None
    deferred: bool = False
    holiday: str | None = None

    @property
    def sender(self) -> str | None:
        return self.owner if self.included else None


def plan_group(campaign: Campaign, policy: Policy, group_id: str, owner: str, member: bool,
               quota_used: Callable[[datetime], bool], now: datetime) -> GroupDecision:
    """One group's fate: the brand's rules (:func:`domain.restraint.decide` with no customer
    facts: quiet hours and holidays), its owner, then WeCom's quota of the group in the
    period its message would go (``quota_used(send at)``: the corp's rule)."""
    if not member:
        return GroupDecision(group_id, owner, False, OWNER_NOT_A_MEMBER)
    who = Recipient(uuid5(NO_SEGMENT, group_id), "active", friends=(owner,))
    decision = decide(campaign.plan(), policy, who, now)
    if not decision.included:
        return GroupDecision(group_id, owner, False, decision.reason, holiday=decision.holiday)
    if quota_used(decision.send_at or now):
        return GroupDecision(group_id, owner, False, WECOM_GROUP_QUOTA)
    return GroupDecision(group_id, owner, True, None, decision.send_at, decision.deferred,
                         decision.holiday)


def launch_groups(campaign: Campaign, planned_at: datetime, decisions: Sequence[GroupDecision],
                  by: str, occurred_at: datetime) -> None:
    """Freeze the group audience: the summary in groups, then every group."""
    if campaign.state not in ("draft", "scheduled"):
        from domain.campaign import CampaignStateError
        raise CampaignStateError(f"a {campaign.state} campaign cannot be launched",
                                 field="campaignId")
    included = [d for d in decisions if d.included]
    excluded: dict[str, int] = {}
    for d in decisions:
        if d.reason is not None:
            excluded[d.reason] = excluded.get(d.reason, 0) + 1
    campaign.trigger_event(Campaign.Launched, planned_at=planned_at, audience=len(decisions),
                           included=len(included), deferred=sum(d.deferred for d in included),
                           excluded=dict(sorted(excluded.items())), by=by,
                           occurred_at=occurred_at)
    campaign.trigger_event(GroupsPlanned, planned=[
        [d.group_id, d.owner, d.send_at.isoformat() if d.send_at else planned_at.isoformat()]
        for d in included], excluded=[[d.group_id, d.owner, d.reason or ""]
                                      for d in decisions if not d.included])


def group_plan(campaign: Campaign) -> tuple[list[list[str]], list[list[str]]]:
    """(planned ``[chat id, sender, send at]``, excluded ``[chat id, owner, reason]``)."""
    plan: tuple[list[list[str]], list[list[str]]] = campaign.__dict__.get(
        "_group_plan", ([], []))
    return plan


def group_outcomes(campaign: Campaign) -> dict[str, list[str]]:
    outcomes: dict[str, list[str]] = campaign.__dict__.get("_group_outcomes", {})
    return outcomes


def record_outcomes(campaign: Campaign, outcomes: Sequence[tuple[str, str, str]],
                    occurred_at: datetime) -> int:
    """Record the outcomes of planned groups not recorded yet; how many were new."""
    planned = {p[0] for p in group_plan(campaign)[0]}
    done = group_outcomes(campaign)
    fresh = [[g, s, d] for g, s, d in outcomes if g in planned and g not in done]
    if fresh:
        campaign.trigger_event(GroupMessagesRecorded, outcomes=fresh, occurred_at=occurred_at)
    return len(fresh)


def group_deliveries(campaign: Campaign) -> dict[str, str]:
    """Each group's recorded delivery (:data:`DELIVERIES`), by chat id."""
    done: dict[str, str] = campaign.__dict__.get("_group_deliveries", {})
    return done


@dataclass(frozen=True, slots=True)
class OpenTask:
    """A WeCom group task created for the campaign whose groups are not all final."""

    task_id: str
    sender: str
    groups: tuple[str, ...]
    created_at: datetime


def open_tasks(campaign: Campaign) -> list[OpenTask]:
    """The campaign's group tasks with groups sent but no delivery recorded."""
    owners = {p[0]: p[1] for p in group_plan(campaign)[0]}
    sent_at: dict[str, datetime] = campaign.__dict__.get("_group_sent_at", {})
    delivered = group_deliveries(campaign)
    tasks: dict[str, list[str]] = {}
    for chat_id, (status, detail) in group_outcomes(campaign).items():
        if status == "sent" and chat_id not in delivered:
            tasks.setdefault(detail, []).append(chat_id)
    return [OpenTask(task_id, owners[chats[0]], tuple(sorted(chats)),
                     min(sent_at[c] for c in chats))
            for task_id, chats in sorted(tasks.items())]


def record_deliveries(campaign: Campaign, deliveries: Sequence[tuple[str, str]], by: str,
                      occurred_at: datetime) -> int:
    """Record the deliveries of sent groups not recorded yet; how many were new."""
    sent = {g for g, (status, _) in group_outcomes(campaign).items() if status == "sent"}
    done = group_deliveries(campaign)
    fresh = [[g, s] for g, s in deliveries if g in sent and g not in done and s in DELIVERIES]
    if fresh:
        campaign.trigger_event(GroupsDelivered, deliveries=fresh, by=by,
                               occurred_at=occurred_at)
    return len(fresh)


def group_report(campaign: Campaign) -> dict[str, int]:
    """Groups ``planned``, ``sent``, ``failed``, ``unknown``, ``excluded``, ``pending``, and
    of the sent ones ``delivered``, ``already_received``, ``expired`` and ``awaiting`` (the
    owner has not confirmed yet)."""
    planned, excluded = group_plan(campaign)
    done = group_outcomes(campaign)
    counts = {"planned": len(planned), "excluded": len(excluded), "sent": 0, "failed": 0,
              "unknown": 0}
    for status, _ in done.values():
        counts[status] = counts.get(status, 0) + 1
    counts["pending"] = len(planned) - len(done)
    deliveries = group_deliveries(campaign)
    for status in DELIVERIES:
        counts[status] = sum(1 for s in deliveries.values() if s == status)
    counts["awaiting"] = counts["sent"] - len(deliveries)
    return counts


__all__ = ["MARKETING", "GroupDecision", "GroupMessagesRecorded", "GroupsDelivered",
           "GroupsPlanned", "GroupsTargeted", "NoGroupsSelected", "OpenTask",
           "PersonalisedGroupText", "UnknownGroup", "draft_group_campaign", "group_report",
           "launch_groups", "open_tasks", "plan_group", "record_deliveries",
           "record_outcomes", "targeted"]
