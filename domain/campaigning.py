"""Commands on campaigns and the contact policy, mixed into the application."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Repository

from domain.campaign import Campaign, send_key
from domain.contact_policy import POLICY_ID, ContactPolicy
from domain.customer import Customer
from domain.errors import DomainError
from domain.restraint import Decision, Policy

if TYPE_CHECKING:
    from application.unit_of_work import UnitOfWork


class UnknownCampaign(DomainError):
    code = "UNKNOWN_CAMPAIGN"


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


class _Host(Protocol):
    @property
    def repository(self) -> Repository[UUID]: ...

    @property
    def recorder(self) -> Any: ...

    def _transact(self, decide: Callable[[UnitOfWork[Customer]], None]) -> int | None: ...

    def _load(self, customer_id: UUID, batch: UnitOfWork[Customer]) -> Customer: ...

    def _prefetch(self, aggregate_ids: Iterable[UUID], batch: UnitOfWork[Customer]) -> None: ...


def _campaign(host: _Host, campaign_id: UUID, batch: UnitOfWork[Customer]) -> Campaign:
    try:
        found: Any = host.repository.get(campaign_id)
    except AggregateNotFoundError:
        raise UnknownCampaign(f"no campaign {campaign_id}", field="campaignId") from None
    if not isinstance(found, Campaign):
        raise UnknownCampaign(f"no campaign {campaign_id}", field="campaignId")
    batch.aggregates[campaign_id] = cast(Customer, found)  # saved with the batch
    return found


class CampaignCommands:
    def draft_campaign(self: _Host, name: str, owner: str, channel: str, segment_id: UUID,
                       variants: Sequence[dict[str, Any]], by: str, occurred_at: datetime,
                       **options: int) -> tuple[UUID, int | None]:
        campaign = Campaign.draft(name, owner, channel, segment_id, variants, by, occurred_at,
                                  **options)

        def decide(batch: UnitOfWork[Customer]) -> None:
            batch.aggregates[campaign.id] = cast(Customer, campaign)

        return campaign.id, self._transact(decide)

    def campaign(self: _Host, campaign_id: UUID) -> Campaign:
        cache = self.repository.cache
        if cache is not None:  # changed from several processes: read it fresh (rare)
            with contextlib.suppress(KeyError):
                cache.get(campaign_id, evict=True)
        try:
            found: Any = self.repository.get(campaign_id)
        except AggregateNotFoundError:
            raise UnknownCampaign(f"no campaign {campaign_id}", field="campaignId") from None
        if not isinstance(found, Campaign):
            raise UnknownCampaign(f"no campaign {campaign_id}", field="campaignId")
        return found

    def schedule_campaign(self: _Host, campaign_id: UUID, start_at: datetime, by: str,
                          occurred_at: datetime) -> int | None:
        return self._transact(lambda b: _campaign(self, campaign_id, b).schedule(
            start_at, by, occurred_at))

    def launch_campaign(self: _Host, campaign_id: UUID, planned_at: datetime,
                        decisions: Sequence[Decision], by: str, occurred_at: datetime
                        ) -> int | None:
        """Freeze the audience: the plan and every recipient, in one transaction."""
        return self._transact(lambda b: _campaign(self, campaign_id, b).launch(
            planned_at, decisions, by, occurred_at))

    def cancel_campaign(self: _Host, campaign_id: UUID, reason: str, by: str,
                        occurred_at: datetime) -> int | None:
        return self._transact(lambda b: _campaign(self, campaign_id, b).cancel(
            reason, by, occurred_at))

    def complete_campaign(self: _Host, campaign_id: UUID, by: str, occurred_at: datetime
                          ) -> int | None:
        def decide(batch: UnitOfWork[Customer]) -> None:
            _campaign(self, campaign_id, batch).complete(by, occurred_at)

        return self._transact(decide)

    def record_send_outcomes(self: _Host, outcomes: Sequence[SendOutcome],
                             occurred_at: datetime) -> int:
        """Record each outcome once (its send key is committed with it); returns how many
        were new. A redelivered or retried chunk records nothing twice."""
        keys = [send_key(o.campaign_id, o.customer_id, o.step) for o in outcomes]
        recorded: list[int] = [0]

        def decide(batch: UnitOfWork[Customer]) -> None:
            # Looked up on every attempt: a concurrent redelivery may have recorded some.
            known = set(self.recorder.known_event_keys(keys))
            fresh = [(k, o) for k, o in zip(keys, outcomes, strict=True) if k not in known]
            recorded[0] = len(fresh)
            self._prefetch([o.customer_id for _, o in fresh], batch)
            for key, outcome in fresh:
                customer = self._load(outcome.customer_id, batch)
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
                batch.writes.event_keys.append((key, outcome.customer_id))

        self._transact(decide)
        return recorded[0]

    def record_deliveries(self: _Host, campaign_id: UUID, step: int,
                          statuses: dict[UUID, str], occurred_at: datetime) -> int:
        """Record WeCom's final status per customer once (key ``<send key>:delivery``)."""
        keys = {c: f"{send_key(campaign_id, c, step)}:delivery" for c in statuses}
        recorded = [0]

        def decide(batch: UnitOfWork[Customer]) -> None:
            known = set(self.recorder.known_event_keys(list(keys.values())))
            fresh = [c for c in sorted(statuses) if keys[c] not in known]
            recorded[0] = len(fresh)
            for customer_id in fresh:
                self._load(customer_id, batch).record_fact(
                    Customer.CampaignMessageDelivered, campaign_id=str(campaign_id), step=step,
                    status=statuses[customer_id], by="service:wecom", occurred_at=occurred_at)
                batch.writes.event_keys.append((keys[customer_id], customer_id))

        self._transact(decide)
        return recorded[0]

    # -- the contact policy ------------------------------------------------------------------
    def contact_policy(self: _Host) -> Policy:
        try:
            found: Any = self.repository.get(POLICY_ID)
        except AggregateNotFoundError:
            return Policy()
        return cast(ContactPolicy, found).policy()

    def change_contact_policy(self: _Host, caps: dict[str, dict[str, Any]],
                              wecom_monthly_quota: int, quiet_start: str, quiet_end: str,
                              by: str, occurred_at: datetime) -> int | None:
        def decide(batch: UnitOfWork[Customer]) -> None:
            try:
                policy: Any = self.repository.get(POLICY_ID)
            except AggregateNotFoundError:
                policy = ContactPolicy.create()
            policy.change(caps, wecom_monthly_quota, quiet_start, quiet_end, by, occurred_at)
            batch.aggregates[POLICY_ID] = cast(Customer, policy)

        return self._transact(decide)
