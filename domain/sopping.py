"""Commands on automated sequences (SOPs), mixed into the application."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from domain.campaigning import _Host
from domain.customer import Customer
from domain.errors import DomainError
from domain.sop import Sop, sop_send_key

if TYPE_CHECKING:
    from application.unit_of_work import UnitOfWork


class UnknownSop(DomainError):
    code = "UNKNOWN_SOP"


class SopAlreadyDefined(DomainError):
    code = "SOP_ALREADY_DEFINED"


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What happened to one due SOP step (recorded once, on the customer's stream).

    ``status``: ``sent`` (``detail`` the gateway's message id), ``failed`` or ``skipped``
    (``detail`` the machine-readable reason)."""

    sop_id: UUID
    customer_id: UUID
    enrolment_id: UUID
    step: int
    channel: str
    variant_id: str
    status: str
    detail: str

    @property
    def key(self) -> str:
        return sop_send_key(self.sop_id, self.customer_id, self.enrolment_id, self.step)


def _sop(host: _Host, sop_id: UUID, batch: UnitOfWork[Customer]) -> Sop:
    try:
        found: Any = host.repository.get(sop_id)
    except AggregateNotFoundError:
        raise UnknownSop(f"no sequence {sop_id}", field="sopId") from None
    if not isinstance(found, Sop):
        raise UnknownSop(f"no sequence {sop_id}", field="sopId")
    batch.aggregates[sop_id] = cast(Customer, found)  # saved with the batch
    return found


class SopCommands:
    def define_sop(self: _Host, name: str, owner: str, trigger: dict[str, Any],
                   steps: Sequence[dict[str, Any]], by: str, occurred_at: datetime,
                   *, sop_id: UUID | None = None, stop_on_converted: bool = True,
                   stop_on_opted_out: bool = True) -> tuple[UUID, int | None]:
        """Define a sequence; with a given ``sop_id``, defining it again raises
        ``SopAlreadyDefined``."""
        sop = Sop.define(name, owner, trigger, steps, by, occurred_at, sop_id=sop_id,
                         stop_on_converted=stop_on_converted,
                         stop_on_opted_out=stop_on_opted_out)

        def decide(batch: UnitOfWork[Customer]) -> None:
            if sop_id is not None:
                with contextlib.suppress(AggregateNotFoundError):
                    self.repository.get(sop_id)
                    raise SopAlreadyDefined(f"sequence {sop_id} exists", field="sopId")
            batch.aggregates[sop.id] = cast(Customer, sop)

        return sop.id, self._transact(decide)

    def sop(self: _Host, sop_id: UUID) -> Sop:
        cache = self.repository.cache
        if cache is not None:  # changed from several processes: read it fresh (rare)
            with contextlib.suppress(KeyError):
                cache.get(sop_id, evict=True)
        try:
            found: Any = self.repository.get(sop_id)
        except AggregateNotFoundError:
            raise UnknownSop(f"no sequence {sop_id}", field="sopId") from None
        if not isinstance(found, Sop):
            raise UnknownSop(f"no sequence {sop_id}", field="sopId")
        return found

    def revise_sop(self: _Host, sop_id: UUID, name: str, trigger: dict[str, Any],
                   steps: Sequence[dict[str, Any]], by: str, occurred_at: datetime,
                   **stops: bool) -> int | None:
        return self._transact(lambda b: _sop(self, sop_id, b).revise(
            name, trigger, steps, by, occurred_at, **stops))

    def _sop_change(self: _Host, sop_id: UUID, change: Callable[[Sop], bool]) -> int | None:
        def decide(batch: UnitOfWork[Customer]) -> None:
            change(_sop(self, sop_id, batch))

        return self._transact(decide)

    def pause_sop(self: _Host, sop_id: UUID, by: str, occurred_at: datetime) -> int | None:
        return SopCommands._sop_change(self, sop_id, lambda s: s.pause(by, occurred_at))

    def resume_sop(self: _Host, sop_id: UUID, by: str, occurred_at: datetime) -> int | None:
        return SopCommands._sop_change(self, sop_id, lambda s: s.resume(by, occurred_at))

    def archive_sop(self: _Host, sop_id: UUID, by: str, occurred_at: datetime) -> int | None:
        return SopCommands._sop_change(self, sop_id, lambda s: s.archive(by, occurred_at))

    def record_step_outcomes(self: _Host, outcomes: Sequence[StepOutcome],
                             occurred_at: datetime) -> int:
        """Record each outcome once (its send key is committed with it); returns how many
        were new. A redelivered or retried chunk records nothing twice."""
        recorded = [0]

        def decide(batch: UnitOfWork[Customer]) -> None:
            known = set(self.recorder.known_event_keys([o.key for o in outcomes]))
            fresh = [o for o in outcomes if o.key not in known]
            recorded[0] = len(fresh)
            for o in fresh:
                customer = self._load(o.customer_id, batch)
                common = {"sop_id": str(o.sop_id), "enrolment_id": str(o.enrolment_id),
                          "step": o.step, "by": "system", "occurred_at": occurred_at}
                if o.status == "sent":
                    customer.record_fact(Customer.SopStepSent, variant_id=o.variant_id,
                                         channel=o.channel, gateway_message_id=o.detail,
                                         **common)
                elif o.status == "failed":
                    customer.record_fact(Customer.SopStepFailed, channel=o.channel,
                                         reason=o.detail, **common)
                else:
                    customer.record_fact(Customer.SopStepSkipped, reason=o.detail, **common)
                batch.writes.event_keys.append((o.key, o.customer_id))

        self._transact(decide)
        return recorded[0]
