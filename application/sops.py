"""Automated sequences (SOPs, 自动化旅程): define, revise, pause, resume, archive, and
each due step's outcome, recorded once on the customer's stream (its send key)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from application.unit_of_work import EventStore, UnitOfWork
from domain.customer import Customer
from domain.sop import Sop, SopAlreadyDefined, UnknownSop, sop_send_key


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What happened to one due SOP step (recorded once, on the customer's stream).

    ``status``: ``sent`` (``detail`` the gateway's message id), ``failed`` or ``skipped``
    (``detail`` the machine-readable reason). A WeCom mass send's ``sender`` (staff id) and
    ``sender_basis`` (``LAST_CHATTED``, ``OWNER``, ``FRIEND``); "" on other channels."""

    sop_id: UUID
    customer_id: UUID
    enrolment_id: UUID
    step: int
    channel: str
    variant_id: str
    status: str
    detail: str
    sender: str = ""
    sender_basis: str = ""

    @property
    def key(self) -> str:
        return sop_send_key(self.sop_id, self.customer_id, self.enrolment_id, self.step)


class Sops:
    def __init__(self, store: EventStore) -> None:
        self.store = store

    def define(self, name: str, owner: str, trigger: dict[str, Any],
               steps: Sequence[dict[str, Any]], by: str, occurred_at: datetime,
               *, sop_id: UUID | None = None, stop_on_converted: bool = True,
               stop_on_opted_out: bool = True) -> tuple[UUID, int | None]:
        """Define a sequence; with a given ``sop_id``, defining it again raises
        ``SopAlreadyDefined``."""
        sop = Sop.define(name, owner, trigger, steps, by, occurred_at, sop_id=sop_id,
                         stop_on_converted=stop_on_converted,
                         stop_on_opted_out=stop_on_opted_out)

        def decide(unit: UnitOfWork[Sop]) -> None:
            if sop_id is not None:
                with contextlib.suppress(AggregateNotFoundError):
                    self.store.repository.get(sop_id)
                    raise SopAlreadyDefined(f"sequence {sop_id} exists", field="sopId")
            unit.add(sop)

        return sop.id, self.store.transact(Sop, decide)[1]

    def get(self, sop_id: UUID) -> Sop:
        """The sequence as stored now (changed from several processes: read fresh)."""
        found = self.store.find(sop_id, Sop, fresh=True)
        if found is None:
            raise UnknownSop(f"no sequence {sop_id}", field="sopId")
        return found

    def revise(self, sop_id: UUID, name: str, trigger: dict[str, Any],
               steps: Sequence[dict[str, Any]], by: str, occurred_at: datetime,
               **stops: bool) -> int | None:
        return self._change(sop_id, lambda s: s.revise(name, trigger, steps, by, occurred_at,
                                                       **stops))

    def pause(self, sop_id: UUID, by: str, occurred_at: datetime) -> int | None:
        return self._change(sop_id, lambda s: s.pause(by, occurred_at))

    def resume(self, sop_id: UUID, by: str, occurred_at: datetime) -> int | None:
        return self._change(sop_id, lambda s: s.resume(by, occurred_at))

    def archive(self, sop_id: UUID, by: str, occurred_at: datetime) -> int | None:
        return self._change(sop_id, lambda s: s.archive(by, occurred_at))

    def _change(self, sop_id: UUID, change: Callable[[Sop], object]) -> int | None:
        def decide(unit: UnitOfWork[Sop]) -> None:
            found = self.store.find(sop_id, Sop)
            if found is None:
                raise UnknownSop(f"no sequence {sop_id}", field="sopId")
            change(unit.add(found))  # saved with the unit

        return self.store.transact(Sop, decide)[1]

    def record_step_outcomes(self, outcomes: Sequence[StepOutcome], occurred_at: datetime
                             ) -> int:
        """Record each outcome once (its send key is committed with it); returns how many
        were new. A redelivered or retried chunk records nothing twice."""
        def decide(unit: UnitOfWork[Customer]) -> int:
            known = set(self.store.index.known_event_keys([o.key for o in outcomes]))
            fresh = [o for o in outcomes if o.key not in known]
            for o in fresh:
                customer = self.store.load(unit, o.customer_id)
                common = {"sop_id": str(o.sop_id), "enrolment_id": str(o.enrolment_id),
                          "step": o.step, "by": "system", "occurred_at": occurred_at}
                if o.status == "sent":
                    customer.record_fact(Customer.SopStepSent, variant_id=o.variant_id,
                                         channel=o.channel, gateway_message_id=o.detail,
                                         sender=o.sender, sender_basis=o.sender_basis,
                                         **common)
                elif o.status == "failed":
                    customer.record_fact(Customer.SopStepFailed, channel=o.channel,
                                         reason=o.detail, **common)
                else:
                    customer.record_fact(Customer.SopStepSkipped, reason=o.detail, **common)
                unit.writes.event_keys.append((o.key, o.customer_id))
            return len(fresh)

        return self.store.transact(Customer, decide)[0]
