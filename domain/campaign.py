"""The ``Campaign`` aggregate: one outbound campaign, from draft to its report.

draft → scheduled → running → completed, or cancelled from any state before completion.
At launch the audience is frozen: the launch (``application.campaign_launch``) applies
the restraint rules (:mod:`domain.restraint`) to the segment's members and the launch
records, in one transaction, the plan's summary and every recipient (chunks of
:data:`CHUNK` in ``RecipientsPlanned`` events) and every exclusion with its reason. Each
(campaign, customer, step) has a deterministic idempotency key (:func:`send_key`), so a
send is recorded, enqueued and sent at most once and outcomes are recorded once.

Content: a variant per lifecycle stage (千人千面) or A/B variants, each a text with safe
variables only (:data:`VARIABLES`), or a template id for template channels. A variable the
customer has no value for is filled with the variant's **fallback** for it when the operator
set one; otherwise the customer is not sent that variant (``MISSING_VALUE``): a blank
placeholder never reaches a customer (:func:`fill`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError, InvalidInput
from domain.message_class import MARKETING, SERVICE, SERVICE_PURPOSE, check_class
from domain.privacy import DEFAULT_PURPOSE, check_purpose
from domain.restraint import CHANNELS, Plan, Variant
from domain.segment_rules import LIFECYCLES
from domain.templates import (
    MAX_TEXT,
    VARIABLES,
    InvalidTemplate,
    UnknownVariable,
    check_fallbacks,
    check_text,
    fill,
    needs,
    render,
    variables_in,
)

__all__ = ["MAX_TEXT", "VARIABLES", "Campaign", "InvalidTemplate", "UnknownVariable",
           "check_text", "fill", "render", "send_key", "variables_in"]

CHUNK = 1000
MAX_VARIANTS = 10
#: The longest confirmation deadline of a WeCom mass send (30 days).
MAX_CONFIRM_HOURS = 720
GOALS = frozenset({"order_paid"})


class UnknownCampaign(DomainError):
    code = "UNKNOWN_CAMPAIGN"


class CampaignStateError(DomainError):
    code = "CAMPAIGN_STATE"


def send_key(campaign_id: UUID, customer_id: UUID, step: int = 0) -> str:
    """The idempotency key of one send: the same (campaign, customer, step) is one send."""
    return f"campaign:{campaign_id}:{customer_id}:{step}"


def staff_senders(senders: Sequence[str]) -> list[str]:
    """The planned senders that are staff ids (UUIDs), whose WeCom UserID is their staff
    record's ``wecom_user_id``."""
    out = []
    for sender in senders:
        try:
            UUID(sender)
        except ValueError:
            continue
        out.append(sender)
    return out


def sender_user_id(sender: str, directory: Mapping[str, str]) -> str | None:
    """The WeCom UserID a mass send from ``sender`` goes out under: a staff member's
    ``wecom_user_id`` (``directory``: staff id → UserID; none: None), the UserID of a member
    without a staff record (``wecom_user:<UserID>``), or an id ingested as the UserID itself."""
    if sender in directory:
        return directory[sender]
    if staff_senders([sender]):
        return None
    return sender.removeprefix("wecom_user:") or None


#: Channels whose provider sends only an approved template: Tencent Cloud SMS's ``SendSms``
#: needs a ``TemplateId``, so a variant without one would fail at every send.
TEMPLATED_CHANNELS = frozenset({"sms"})


def check_variants(variants: Sequence[dict[str, Any]], channel: str | None = None,
                   where_prefix: str = "") -> list[dict[str, Any]]:
    if not 1 <= len(variants) <= MAX_VARIANTS:
        raise InvalidInput(f"variants: 1 to {MAX_VARIANTS}", field="variants")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for n, variant in enumerate(variants):
        where = f"variants[{n}]"
        vid = str(variant.get("variant_id") or "").strip()
        if not vid or len(vid) > 64 or vid in seen:
            raise InvalidInput(f"{where}.variantId must be unique, 1-64 characters",
                               field=f"{where}.variantId")
        seen.add(vid)
        stages = sorted(set(variant.get("lifecycles") or ()))
        if any(s not in LIFECYCLES for s in stages):
            raise InvalidInput(f"{where}.lifecycles must be among {list(LIFECYCLES)}",
                               field=f"{where}.lifecycles")
        weight = variant.get("weight", 1)
        if isinstance(weight, bool) or not isinstance(weight, int) or not 1 <= weight <= 100:
            raise InvalidInput(f"{where}.weight must be 1-100", field=f"{where}.weight")
        text = check_text(str(variant.get("text") or ""), f"{where}.text")
        template_id = variant.get("template_id")
        if channel in TEMPLATED_CHANNELS and not (
                isinstance(template_id, str) and 1 <= len(template_id.strip()) <= 64):
            raise InvalidInput(f"{where}.templateId is required for {channel}: the provider "
                               "sends approved templates only", field=f"{where_prefix}{where}.templateId")
        fallbacks = check_fallbacks(variant.get("fallbacks"), where)
        out.append({"variant_id": vid, "lifecycles": stages, "weight": weight, "text": text,
                    "template_id": template_id, **({"fallbacks": fallbacks} if fallbacks else {})})
    return out


class Campaign(Aggregate):
    """An outbound campaign to a segment."""

    #: v2: the consent purpose of its messages (earlier campaigns: ``marketing``, opt-out).
    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state.update(purpose=DEFAULT_PURPOSE, requires_consent=False)

    class Drafted(Aggregate.Created):
        """v2 added ``purpose`` and ``requires_consent`` (v1: ``marketing``, opt-out)."""

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.update(purpose=DEFAULT_PURPOSE, requires_consent=False)

        name: str
        owner: str
        channel: str
        segment_id: str
        variants: list[dict[str, Any]]
        holdout_percent: int
        cost_fen: int
        attribution_days: int
        harm_days: int
        purpose: str
        requires_consent: bool
        by: str
        occurred_at: datetime

    class Scheduled(Aggregate.Event):
        start_at: datetime
        by: str
        occurred_at: datetime

        def apply(self, campaign: Campaign) -> None:
            campaign.state = "scheduled"
            campaign.start_at = self.start_at

    class Launched(Aggregate.Event):
        """The audience was frozen: the plan's summary (counts by reason)."""

        planned_at: datetime
        audience: int
        included: int
        deferred: int
        excluded: dict[str, int]
        by: str
        occurred_at: datetime

        def apply(self, campaign: Campaign) -> None:
            campaign.state = "running"
            campaign.planned = self.included

    class RecipientsPlanned(Aggregate.Event):
        """One chunk of the frozen audience: ``[customer id, variant, send at, sender]``."""

        chunk: int
        recipients: list[list[Any]]

    class RecipientsExcluded(Aggregate.Event):
        """One chunk of exclusions: ``[customer id, reason]``."""

        chunk: int
        excluded: list[list[str]]

    class Completed(Aggregate.Event):
        by: str
        occurred_at: datetime

        def apply(self, campaign: Campaign) -> None:
            campaign.state = "completed"

    class ConfirmationDeadlineSet(Aggregate.Event):
        """WeCom mass sends: members have ``hours`` to confirm a task; past it the task is
        cancelled and its recipients recorded not sent (``CONFIRMATION_EXPIRED``)."""

        hours: int
        by: str
        occurred_at: datetime

        def apply(self, campaign: Campaign) -> None:
            campaign.__dict__["_confirm_hours"] = self.hours

    class ServiceDeclared(Aggregate.Event):
        """Drafted as a ``service`` campaign (:mod:`domain.message_class`): why, and the
        order batch, ticket or notice it is about. A campaign without it is marketing."""

        reason: str
        reference: str
        by: str
        occurred_at: datetime

        def apply(self, campaign: Campaign) -> None:
            campaign.__dict__["_service"] = (self.reason, self.reference)

    class Cancelled(Aggregate.Event):
        reason: str
        by: str
        occurred_at: datetime

        def apply(self, campaign: Campaign) -> None:
            campaign.state = "cancelled"

    @classmethod
    def draft(cls, name: str, owner: str, channel: str, segment_id: UUID,
              variants: Sequence[dict[str, Any]], by: str, occurred_at: datetime, *,
              holdout_percent: int = 0, cost_fen: int = 0, attribution_days: int = 7,
              harm_days: int = 7, purpose: str | None = None,
              requires_consent: bool = False, message_class: str = MARKETING,
              service_reason: str | None = None, service_reference: str | None = None
              ) -> Campaign:
        """A draft; ``purpose`` defaults to ``marketing``, or ``service`` for a service
        campaign (which :func:`domain.message_class.check_class` admits or refuses)."""
        purpose = purpose or (SERVICE_PURPOSE if message_class == SERVICE else DEFAULT_PURPOSE)
        label = name.strip()
        if not 1 <= len(label) <= 64:
            raise InvalidInput("name must be 1-64 characters", field="name")
        if channel not in CHANNELS:
            raise InvalidInput(f"channel must be one of {sorted(CHANNELS)}", field="channel")
        if not 0 <= holdout_percent <= 50:
            raise InvalidInput("holdoutPercent must be 0-50", field="holdoutPercent")
        if not 0 <= cost_fen <= 10**12:
            raise InvalidInput("costFen must be 0 to 10^12", field="costFen")
        for value, name_ in ((attribution_days, "attributionDays"), (harm_days, "harmDays")):
            if not 1 <= value <= 90:
                raise InvalidInput(f"{name_} must be 1-90", field=name_)
        checked = check_variants(variants, channel)
        kind = check_class(message_class, service_reason, service_reference,
                           purpose=check_purpose(purpose), holdout_percent=holdout_percent,
                           texts=[v["text"] for v in checked], reference_required=True)
        campaign = cls(name=label, owner=owner, channel=channel, segment_id=str(segment_id),
                       variants=checked, holdout_percent=holdout_percent,
                       cost_fen=cost_fen, attribution_days=attribution_days,
                       harm_days=harm_days, purpose=purpose,
                       requires_consent=requires_consent, by=by, occurred_at=occurred_at)
        if kind["message_class"] == SERVICE:
            campaign.trigger_event(cls.ServiceDeclared, reason=kind["service_reason"],
                                   reference=kind["service_reference"], by=by,
                                   occurred_at=occurred_at)
        return campaign

    @event(Drafted)
    def __init__(self, name: str, owner: str, channel: str, segment_id: str,
                 variants: list[dict[str, Any]], holdout_percent: int, cost_fen: int,
                 attribution_days: int, harm_days: int, purpose: str, requires_consent: bool,
                 by: str, occurred_at: datetime) -> None:
        self.name = name
        self.owner = owner
        self.channel = channel
        self.segment_id = segment_id
        self.variants = variants
        self.holdout_percent = holdout_percent
        self.cost_fen = cost_fen
        self.attribution_days = attribution_days
        self.harm_days = harm_days
        self.purpose = purpose  # the consent its messages need (or must not be withdrawn)
        self.requires_consent = requires_consent  # opt-in: only customers who gave it
        self.state = "draft"
        self.start_at: datetime | None = None
        self.planned = 0

    def plan(self) -> Plan:
        return Plan(self.id, self.channel,
                    tuple(Variant(v["variant_id"], tuple(v["lifecycles"]), v["weight"],
                                  tuple(sorted(needs(v))))
                          for v in self.variants),
                    self.holdout_percent, self.start_at, self.purpose, self.requires_consent,
                    self.message_class)

    @property
    def message_class(self) -> str:
        """``service`` when drafted so (``ServiceDeclared``), else ``marketing``."""
        return SERVICE if "_service" in self.__dict__ else MARKETING

    def schedule(self, start_at: datetime, by: str, occurred_at: datetime) -> None:
        if self.state not in ("draft", "scheduled"):
            raise CampaignStateError(f"a {self.state} campaign cannot be scheduled",
                                     field="campaignId")
        self.trigger_event(self.Scheduled, start_at=start_at, by=by, occurred_at=occurred_at)

    def launch(self, planned_at: datetime, decisions: Sequence[Any], by: str,
               occurred_at: datetime) -> None:
        """Freeze the audience: ``decisions`` are :class:`domain.restraint.Decision`."""
        if self.state not in ("draft", "scheduled"):
            raise CampaignStateError(f"a {self.state} campaign cannot be launched",
                                     field="campaignId")
        included = [d for d in decisions if d.included]
        excluded: dict[str, int] = {}
        for d in decisions:
            if not d.included:
                excluded[d.reason] = excluded.get(d.reason, 0) + 1
        self.trigger_event(self.Launched, planned_at=planned_at, audience=len(decisions),
                           included=len(included), deferred=sum(d.deferred for d in included),
                           excluded=dict(sorted(excluded.items())), by=by,
                           occurred_at=occurred_at)
        for n in range(0, len(included), CHUNK):
            self.trigger_event(self.RecipientsPlanned, chunk=n // CHUNK, recipients=[
                [str(d.customer_id), d.variant_id, d.send_at.isoformat(), d.sender]
                for d in included[n:n + CHUNK]])
        out = [d for d in decisions if not d.included]
        for n in range(0, len(out), CHUNK):
            self.trigger_event(self.RecipientsExcluded, chunk=n // CHUNK, excluded=[
                [str(d.customer_id), d.reason] for d in out[n:n + CHUNK]])

    def complete(self, by: str, occurred_at: datetime) -> bool:
        if self.state != "running":
            return False
        self.trigger_event(self.Completed, by=by, occurred_at=occurred_at)
        return True

    def set_confirmation_deadline(self, hours: int, by: str, occurred_at: datetime) -> bool:
        """WeCom mass sends: how long members have to confirm their tasks (hours after a
        task is created); whether anything changed."""
        if self.state in ("completed", "cancelled"):
            raise CampaignStateError(f"a {self.state} campaign's deadline cannot change",
                                     field="campaignId")
        if isinstance(hours, bool) or not 1 <= hours <= MAX_CONFIRM_HOURS:
            raise InvalidInput(f"hours must be 1-{MAX_CONFIRM_HOURS}", field="hours")
        if hours == self.confirm_hours:
            return False
        self.trigger_event(self.ConfirmationDeadlineSet, hours=hours, by=by,
                           occurred_at=occurred_at)
        return True

    @property
    def confirm_hours(self) -> int | None:
        """The campaign's confirmation deadline in hours (None: the worker's default)."""
        hours: int | None = self.__dict__.get("_confirm_hours")
        return hours

    def cancel(self, reason: str, by: str, occurred_at: datetime) -> None:
        if self.state in ("completed", "cancelled"):
            raise CampaignStateError(f"a {self.state} campaign cannot be cancelled",
                                     field="campaignId")
        why = reason.strip()
        if not 1 <= len(why) <= 200:
            raise InvalidInput("reason must be 1-200 characters", field="reason")
        self.trigger_event(self.Cancelled, reason=why, by=by, occurred_at=occurred_at)
