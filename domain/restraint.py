"""Restraint, decided before anything is sent: who gets a campaign message, when, and why not.

:func:`decide` is a pure function of the campaign, the contact policy, one recipient's
facts and the planning time. Rules, in order (the first that applies is the reason):

| reason | rule |
|---|---|
| ``DO_NOT_DISTURB`` | the customer set do-not-disturb (a marketing opt-out, PIPL Art. 24) |
| ``CONSENT_WITHDRAWN`` | the customer withdrew the consent for the message's purpose |
| ``NO_CONSENT`` | the campaign needs consent (opt-in) and the customer never gave it |
| ``NO_ADDRESS`` | the customer has no identity the channel addresses (:data:`ADDRESS_NAMESPACES`) |
| ``HOLDOUT`` | drawn into the campaign's random control group (kept for comparison) |
| ``NOT_FRIEND`` | WeCom mass send, and no staff member is the customer's friend now |
| ``CAP_DAY`` / ``CAP_WEEK`` / ``CAP_MONTH`` | the channel's cap per customer, across campaigns and SOPs |
| ``HOLIDAY_CAP_DAY`` / ``_WEEK`` / ``_MONTH`` | on a holiday: its stricter cap for the channel |
| ``HOLIDAY_CAP_TOTAL`` | on a holiday: its cap on messages over the whole holiday, all channels |
| ``WECOM_QUOTA`` | WeCom mass send: the customer's mass messages in WeCom's period are used up |
| ``NO_VARIANT`` | no content variant is meant for the customer's lifecycle stage |
| ``MISSING_VALUE`` | the variant drawn uses a variable the customer has no value for, no fallback |

WeCom's quota (:func:`wecom_quota_period`) follows the corp's rule (``Policy.wecom_quota_rule``,
as set in WeCom's mass-send settings): per natural month as many mass messages as the month
has days, 7 per natural week, or 1 per day, in Beijing time. It counts the platform's WeCom
mass sends that were not refused (:data:`WECOM_MASS` contacts), the mass sends members made
in the WeCom client (:data:`MEMBER_MASS`), and a period WeCom reported full for the customer
(status 3, :data:`QUOTA_FULL`).

Quiet hours (default 21:00-09:00 in the customer's time zone) defer a send to their end:
deferred, never dropped; on a holiday (:mod:`domain.holidays`) its quiet hours apply too.
A ``service`` message (:mod:`domain.message_class`) is held by DND, consent, quiet hours
(the normal ones) and the WeCom quota only: not by the caps nor by a holiday.
Days, weeks and months are counted in the customer's time zone
(default Asia/Shanghai); the weekly cap counts the sends within 7 days either side of this
one (planned sends of other campaigns count as well as sent ones).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

__all__ = ["CHANNELS", "DEFAULT_TZ", "REASONS", "WECOM_MASS", "Caps", "Decision", "Plan",
           "Policy", "Recipient", "Variant", "decide", "draw"]

from domain import holidays as calendar
from domain.caps import CHANNELS, WECOM_MASS, Caps
from domain.holidays import Holiday
from domain.message_class import MARKETING, SERVICE

DEFAULT_TZ = "Asia/Shanghai"
REASONS = ("DO_NOT_DISTURB", "CONSENT_WITHDRAWN", "NO_CONSENT", "NO_ADDRESS", "HOLDOUT",
           "NOT_FRIEND", "CAP_DAY", "CAP_WEEK", "CAP_MONTH", "HOLIDAY_CAP_DAY",
           "HOLIDAY_CAP_WEEK", "HOLIDAY_CAP_MONTH", "HOLIDAY_CAP_TOTAL", "WECOM_QUOTA",
           "NO_VARIANT", "MISSING_VALUE",
           "WECOM_MONTHLY_QUOTA")  # the last: plans launched before the quota rule
#: The corp's WeCom mass-send rule: per natural month (the month's days), week (7), day (1).
WECOM_QUOTA_RULES = ("month", "week", "day")
WECOM_TZ = ZoneInfo("Asia/Shanghai")
#: Contacts that are not sends of a channel: a mass message a member sent from the WeCom
#: client, and a WeCom period the customer's quota was reported full in (status 3).
MEMBER_MASS = "wecom_member_mass"
QUOTA_FULL = "wecom_quota_full"

#: The identity namespace (a prefix) each channel addresses a customer by: a WeCom external
#: id for mass sends, a mini-program openid for subscribe messages, a phone for SMS. The
#: sender reads the address (sealed in the vault) from the same identity.
ADDRESS_NAMESPACES = {WECOM_MASS: "wecom_external:", "mini_program": "wx_openid:", "sms": "phone"}


def addressable(channel: str, namespaces: Sequence[str]) -> bool:
    """Whether a customer with identities in ``namespaces`` can be addressed on ``channel``."""
    prefix = ADDRESS_NAMESPACES.get(channel)
    return prefix is None or any(n.startswith(prefix) for n in namespaces)


@dataclass(frozen=True, slots=True)
class Policy:
    """The contact policy shared by every campaign (``ContactPolicy`` records changes)."""

    caps: dict[str, Caps] = field(default_factory=lambda: {c: Caps() for c in CHANNELS})
    wecom_quota_rule: str = "month"  # WeCom's mass-send setting (WECOM_QUOTA_RULES)
    quiet_start: time = time(21, 0)
    quiet_end: time = time(9, 0)
    holidays: tuple[Holiday, ...] = ()  # the calendar (domain.holidays), never overlapping

    def caps_for(self, channel: str) -> Caps:
        return self.caps.get(channel, Caps())


@dataclass(frozen=True, slots=True)
class Variant:
    variant_id: str
    lifecycles: tuple[str, ...] = ()  # empty: any stage
    weight: int = 1  # A/B split among the variants that fit a customer
    needs: tuple[str, ...] = ()  # variables its text uses without a fallback


@dataclass(frozen=True, slots=True)
class Plan:
    """What planning needs of a campaign."""

    campaign_id: UUID
    channel: str
    variants: tuple[Variant, ...]
    holdout_percent: int = 0
    start_at: datetime | None = None
    purpose: str = "marketing"  # the consent the messages need (domain.privacy)
    requires_consent: bool = False  # opt-in: only customers who gave that consent
    message_class: str = MARKETING  # service: not held by caps nor holidays


@dataclass(frozen=True, slots=True)
class Recipient:
    customer_id: UUID
    lifecycle: str
    dnd: bool = False
    consent_withdrawn: bool = False  # withdrew the consent for the plan's purpose
    consented: bool = False  # holds the consent for the plan's purpose
    friends: tuple[str, ...] = ()  # staff ids currently friends, the owner first
    contacts: Sequence[tuple[datetime, str]] = ()  # other campaigns' sends (planned or sent)
    tz: str = DEFAULT_TZ
    #: The namespaces of the customer's identities; None: not known (not checked).
    namespaces: tuple[str, ...] | None = None
    missing: frozenset[str] = frozenset()  # template variables without a value
    #: Why ``friends[0]`` sends a WeCom mass send (``LAST_CHATTED``, ``OWNER``, ``FRIEND``).
    sender_basis: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    customer_id: UUID
    included: bool
    reason: str | None = None  # why excluded
    variant_id: str | None = None
    send_at: datetime | None = None
    deferred: bool = False  # moved out of quiet hours
    sender: str | None = None  # WeCom: the staff member whose task carries the message
    sender_basis: str | None = None  # why that member (Recipient.sender_basis)
    holiday: str | None = None  # the holiday whose rules the send was planned under


def draw(campaign_id: UUID, customer_id: UUID, salt: str) -> float:
    """A stable number in [0, 1) per (campaign, customer, salt): holdout and A/B draws."""
    digest = hashlib.sha256(f"{campaign_id}:{customer_id}:{salt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def out_of_quiet_hours(at: datetime, policy: Policy, tz: str,
                       window: tuple[time, time] | None = None) -> tuple[datetime, bool]:
    local = at.astimezone(ZoneInfo(tz))
    start, end = window or (policy.quiet_start, policy.quiet_end)
    now = local.time()
    quiet = (now >= start or now < end) if start > end else (start <= now < end)
    if not quiet:
        return at, False
    day = local.date() if now < end else local.date() + timedelta(days=1)
    resumed = datetime.combine(day, end, tzinfo=local.tzinfo)
    return resumed.astimezone(at.tzinfo), True


def _count(contacts: Sequence[tuple[datetime, str]], channel: str | None,
           since: datetime, until: datetime) -> int:
    """Contacts of ``channel`` (None: every message, so not a quota-full marker) in the window."""
    return sum(1 for at, ch in contacts
               if (ch == channel if channel is not None else ch != QUOTA_FULL)
               and since <= at < until)


def decide(plan: Plan, policy: Policy, who: Recipient, now: datetime) -> Decision:
    cid = who.customer_id
    if who.dnd:
        return Decision(cid, False, "DO_NOT_DISTURB")
    if who.consent_withdrawn:
        return Decision(cid, False, "CONSENT_WITHDRAWN")
    if plan.requires_consent and not who.consented:
        return Decision(cid, False, "NO_CONSENT")
    if who.namespaces is not None and not addressable(plan.channel, who.namespaces):
        return Decision(cid, False, "NO_ADDRESS")
    if plan.holdout_percent and draw(plan.campaign_id, cid, "holdout") * 100 < plan.holdout_percent:
        return Decision(cid, False, "HOLDOUT")
    if plan.channel == WECOM_MASS and not who.friends:
        return Decision(cid, False, "NOT_FRIEND")
    send_at, deferred, holiday = _when(plan, policy, who.tz, max(now, plan.start_at or now))
    zone = ZoneInfo(who.tz)
    local = send_at.astimezone(zone)
    day_start = datetime.combine(local.date(), time(0), tzinfo=zone)
    month_start = day_start.replace(day=1)
    next_month = _next_month(month_start)
    if plan.message_class != SERVICE:
        reason = _capped(plan.channel, policy.caps_for(plan.channel), who.contacts, send_at,
                         day_start, month_start, next_month, holiday)
        if reason is not None:
            return Decision(cid, False, reason, holiday=_name(holiday))
    if plan.channel == WECOM_MASS and wecom_quota_used(who.contacts, send_at,
                                                      policy.wecom_quota_rule):
        return Decision(cid, False, "WECOM_QUOTA", holiday=_name(holiday))
    fitting = [v for v in plan.variants if not v.lifecycles or who.lifecycle in v.lifecycles]
    if not fitting:
        return Decision(cid, False, "NO_VARIANT")
    variant = _pick(fitting, draw(plan.campaign_id, cid, "variant"))
    if who.missing.intersection(variant.needs):
        return Decision(cid, False, "MISSING_VALUE", variant.variant_id)
    return Decision(cid, True, None, variant.variant_id, send_at, deferred,
                    who.friends[0] if who.friends else None,
                    who.sender_basis if who.friends else None, _name(holiday))


def _name(holiday: Holiday | None) -> str | None:
    return None if holiday is None else holiday.name


def _when(plan: Plan, policy: Policy, tz: str, at: datetime
          ) -> tuple[datetime, bool, Holiday | None]:
    """When the send may go: out of the normal quiet hours and, for marketing on a holiday,
    out of the holiday's too (a deferral may move it into or out of a holiday); the holiday
    of the day it goes (marketing only)."""
    if not policy.holidays or plan.message_class == SERVICE:
        at, deferred = out_of_quiet_hours(at, policy, tz)
        return at, deferred, None
    deferred = False
    for _ in range(4):  # each pass moves forward; the windows settle within a few
        at, moved = out_of_quiet_hours(at, policy, tz)
        deferred |= moved
        holiday = calendar.on(policy.holidays, at.astimezone(ZoneInfo(tz)).date())
        if holiday is None:
            return at, deferred, None
        at, moved = out_of_quiet_hours(at, policy, tz, (holiday.quiet_start, holiday.quiet_end))
        deferred |= moved
        if not moved:
            return at, deferred, holiday
    return at, deferred, calendar.on(policy.holidays, at.astimezone(ZoneInfo(tz)).date())


def _capped(channel: str, caps: Caps, contacts: Sequence[tuple[datetime, str]],
            send_at: datetime, day_start: datetime, month_start: datetime,
            next_month: datetime, holiday: Holiday | None) -> str | None:
    """The cap a marketing send would break (normal, then the holiday's), or None."""
    windows = ((caps.day, "CAP_DAY", day_start, day_start + timedelta(days=1)),
               (caps.week, "CAP_WEEK", send_at - timedelta(days=7), send_at + timedelta(days=7)),
               (caps.month, "CAP_MONTH", month_start, next_month))
    for limit, reason, since, until in windows:
        if limit is not None and _count(contacts, channel, since, until) >= limit:
            return reason
    if holiday is None:
        return None
    strict = holiday.caps.get(channel)
    for limit, reason, since, until in windows:
        tighter = None if strict is None else calendar.stricter(
            getattr(strict, reason[4:].lower()), limit)
        if tighter is not None and _count(contacts, channel, since, until) >= tighter:
            return f"HOLIDAY_{reason}"
    if holiday.total is not None:
        zone = day_start.tzinfo
        first = datetime.combine(holiday.start, time(0), tzinfo=zone)
        after = datetime.combine(holiday.end + timedelta(days=1), time(0), tzinfo=zone)
        if _count(contacts, None, first, after) >= holiday.total:
            return "HOLIDAY_CAP_TOTAL"
    return None


def _next_month(month_start: datetime) -> datetime:
    return (month_start + timedelta(days=32)).replace(day=1)


def wecom_quota_period(at: datetime, rule: str) -> tuple[datetime, datetime, int]:
    """The WeCom quota period ``at`` falls in under the corp's ``rule`` (Beijing time) and
    how many mass messages a customer may receive in it: ``(since, until, limit)``."""
    day = datetime.combine(at.astimezone(WECOM_TZ).date(), time(0), tzinfo=WECOM_TZ)
    if rule == "day":
        return day, day + timedelta(days=1), 1
    if rule == "week":
        monday = day - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=7), 7
    start = day.replace(day=1)
    until = _next_month(start)
    return start, until, (until - start).days


def wecom_quota_used(contacts: Sequence[tuple[datetime, str]], at: datetime, rule: str) -> bool:
    """Whether the customer's WeCom mass messages in the period of ``at`` are used up."""
    since, until, limit = wecom_quota_period(at, rule)
    if _count(contacts, QUOTA_FULL, since, until):
        return True
    used = _count(contacts, WECOM_MASS, since, until) + _count(contacts, MEMBER_MASS, since,
                                                              until)
    return used >= limit


def _pick(variants: Sequence[Variant], x: float) -> Variant:
    """Variants meant for one stage come before catch-alls; then a weighted draw."""
    specific = [v for v in variants if v.lifecycles]
    pool = specific or list(variants)
    total = sum(v.weight for v in pool)
    point = x * total
    for variant in pool:
        point -= variant.weight
        if point < 0:
            return variant
    return pool[-1]
