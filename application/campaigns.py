"""Campaigns (群发活动) and the contact policy that caps them.

A campaign is drafted, scheduled, launched (its audience frozen: the plan and every
recipient in one transaction, see :mod:`application.campaign_launch`), then each
planned send's outcome is recorded once on the customer's stream, keyed by its send
key. Campaigns are changed from several processes: queries read them fresh.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from application.unit_of_work import EventStore, UnitOfWork
from domain.campaign import Campaign, UnknownCampaign, send_key
from domain.contact_policy import POLICY_ID, ContactPolicy
from domain.customer import Customer
from domain.restraint import Decision, Policy


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """What happened to one planned send (recorded once, on the customer's stream)."""

    campaign_id: UUID
    customer_id: UUID
    step: int
    channel: str
    variant_id: str
    sent: bool
    detail: str  # the gateway's message id when sent, else the machine-readable reason


class Campaigns:
    def __init__(self, store: EventStore) -> None:
        self.store = store

    def draft(self, name: str, owner: str, channel: str, segment_id: UUID,
              variants: Sequence[dict[str, Any]], by: str, occurred_at: datetime,
              **options: Any) -> tuple[UUID, int | None]:
        campaign = Campaign.draft(name, owner, channel, segment_id, variants, by, occurred_at,
                                  **options)
        return campaign.id, self.store.transact(Campaign, lambda u: u.add(campaign))[1]

    def get(self, campaign_id: UUID) -> Campaign:
        """The campaign as stored now (changed from several processes: read fresh)."""
        found = self.store.find(campaign_id, Campaign, fresh=True)
        if found is None:
            raise UnknownCampaign(f"no campaign {campaign_id}", field="campaignId")
        return found

    def schedule(self, campaign_id: UUID, start_at: datetime, by: str,
                 occurred_at: datetime) -> int | None:
        return self.store.transact(Campaign, lambda u: self._held(campaign_id, u).schedule(
            start_at, by, occurred_at))[1]

    def launch(self, campaign_id: UUID, planned_at: datetime, decisions: Sequence[Decision],
               by: str, occurred_at: datetime) -> int | None:
        """Freeze the audience: the plan and every recipient, in one transaction."""
        return self.store.transact(Campaign, lambda u: self._held(campaign_id, u).launch(
            planned_at, decisions, by, occurred_at))[1]

    def cancel(self, campaign_id: UUID, reason: str, by: str, occurred_at: datetime
               ) -> int | None:
        return self.store.transact(Campaign, lambda u: self._held(campaign_id, u).cancel(
            reason, by, occurred_at))[1]

    def set_confirmation_deadline(self, campaign_id: UUID, hours: int, by: str,
                                  occurred_at: datetime) -> int | None:
        return self.store.transact(Campaign, lambda u: self._held(campaign_id, u)
                                   .set_confirmation_deadline(hours, by, occurred_at))[1]

    def complete(self, campaign_id: UUID, by: str, occurred_at: datetime) -> int | None:
        return self.store.transact(Campaign, lambda u: self._held(campaign_id, u).complete(
            by, occurred_at))[1]

    def _held(self, campaign_id: UUID, unit: UnitOfWork[Campaign]) -> Campaign:
        found = self.store.find(campaign_id, Campaign)
        if found is None:
            raise UnknownCampaign(f"no campaign {campaign_id}", field="campaignId")
        return unit.add(found)  # saved with the unit

    def record_send_outcomes(self, outcomes: Sequence[SendOutcome], occurred_at: datetime
                             ) -> int:
        """Record each outcome once (its send key is committed with it); returns how many
        were new. A redelivered or retried chunk records nothing twice."""
        keys = [send_key(o.campaign_id, o.customer_id, o.step) for o in outcomes]

        def decide(unit: UnitOfWork[Customer]) -> int:
            # Looked up on every attempt: a concurrent redelivery may have recorded some.
            known = set(self.store.index.known_event_keys(keys))
            fresh = [(k, o) for k, o in zip(keys, outcomes, strict=True) if k not in known]
            self.store.prefetch([o.customer_id for _, o in fresh], unit)
            for key, outcome in fresh:
                customer = self.store.load(unit, outcome.customer_id)
                if outcome.sent:
                    customer.record_fact(Customer.CampaignMessageSent,
                                         campaign_id=str(outcome.campaign_id),
                                         step=outcome.step, variant_id=outcome.variant_id,
                                         channel=outcome.channel,
                                         gateway_message_id=outcome.detail, by="system",
                                         occurred_at=occurred_at)
                else:
                    customer.record_fact(Customer.CampaignMessageFailed,
                                         campaign_id=str(outcome.campaign_id),
                                         step=outcome.step, channel=outcome.channel,
                                         reason=outcome.detail, by="system",
                                         occurred_at=occurred_at)
                unit.writes.event_keys.append((key, outcome.customer_id))
            return len(fresh)

        return self.store.transact(Customer, decide)[0]

    def record_deliveries(self, campaign_id: UUID, step: int, statuses: dict[UUID, str],
                          occurred_at: datetime) -> int:
        """Record WeCom's final status per customer once (key ``<send key>:delivery``)."""
        keys = {c: f"{send_key(campaign_id, c, step)}:delivery" for c in statuses}

        def decide(unit: UnitOfWork[Customer]) -> int:
            known = set(self.store.index.known_event_keys(list(keys.values())))
            fresh = [c for c in sorted(statuses) if keys[c] not in known]
            for customer_id in fresh:
                self.store.load(unit, customer_id).record_fact(
                    Customer.CampaignMessageDelivered, campaign_id=str(campaign_id), step=step,
                    status=statuses[customer_id], by="service:wecom", occurred_at=occurred_at)
                unit.writes.event_keys.append((keys[customer_id], customer_id))
            return len(fresh)

        return self.store.transact(Customer, decide)[0]

    # -- the contact policy ------------------------------------------------------------------
    def contact_policy(self) -> Policy:
        found = self.store.find(POLICY_ID, ContactPolicy)
        return Policy() if found is None else found.policy()

    def change_contact_policy(self, caps: dict[str, dict[str, Any]], wecom_quota_rule: str,
                              quiet_start: str, quiet_end: str, by: str,
                              occurred_at: datetime) -> int | None:
        def decide(unit: UnitOfWork[ContactPolicy]) -> None:
            policy = self.store.find(POLICY_ID, ContactPolicy) or ContactPolicy.create()
            policy.change(caps, wecom_quota_rule, quiet_start, quiet_end, by, occurred_at)
            unit.add(policy)

        return self.store.transact(ContactPolicy, decide)[1]

    def define_holiday(self, name: str, start: date, end: date,
                       caps: dict[str, dict[str, Any]], total: int | None, quiet_start: str,
                       quiet_end: str, by: str, occurred_at: datetime, today: date
                       ) -> tuple[str, int | None]:
        """Add a holiday to the calendar (:mod:`domain.holidays`): its id and position."""
        def decide(unit: UnitOfWork[ContactPolicy]) -> str:
            policy = self.store.find(POLICY_ID, ContactPolicy) or ContactPolicy.create()
            holiday_id = policy.define_holiday(name, start, end, caps, total, quiet_start,
                                               quiet_end, by, occurred_at, today)
            unit.add(policy)
            return holiday_id

        return self.store.transact(ContactPolicy, decide)

    def remove_holiday(self, holiday_id: str, by: str, occurred_at: datetime) -> int | None:
        def decide(unit: UnitOfWork[ContactPolicy]) -> None:
            policy = self.store.find(POLICY_ID, ContactPolicy) or ContactPolicy.create()
            policy.remove_holiday(holiday_id, by, occurred_at)
            unit.add(policy)

        return self.store.transact(ContactPolicy, decide)[1]
