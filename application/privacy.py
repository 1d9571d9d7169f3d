"""Privacy (PIPL): erasing a customer (crypto-shredding) and exporting their data.

``erase`` records ``Customer.Erased`` on the customer (the survivor, if it was merged) and,
in the same transaction, deletes the vault keys and values and the blind-index entries of
every stream of the person (the survivor and every customer merged into it). The event log
is not touched: KPIs stay true, the audit chain stays intact, and what the events point to
can no longer be read. A later event with the same phone or openid creates a new customer.

``export`` gathers every stored event of the person's streams and every vault value,
decrypted, with the consents they gave and withdrew (purpose, wording version, when).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from application.customers import Customers, existing, survivor
from application.unit_of_work import EventStore, UnitOfWork
from domain.customer import Customer
from domain.privacy import erase

#: How deep merged customers are followed when a person's streams are gathered.
MAX_GROUP = 1000


@dataclass(frozen=True, slots=True)
class ExportedEvent:
    stream_id: UUID
    version: int
    type: str
    occurred_at: datetime | None
    recorded_at: datetime
    by: str | None
    data: dict[str, Any]


@dataclass(slots=True)
class PersonalExport:
    """Everything stored about one person: events, decrypted vault values, consents."""

    customer_id: UUID
    streams: list[UUID]
    erased: bool
    events: list[ExportedEvent] = field(default_factory=list)
    personal: dict[str, dict[str, str]] = field(default_factory=dict)  # subject -> fields
    consents: dict[str, str] = field(default_factory=dict)  # purpose -> wording version


def _group(store: EventStore, unit: UnitOfWork[Customer], root: Customer) -> list[Customer]:
    """The customer and every customer merged into it, directly or not."""
    seen: dict[UUID, Customer] = {root.id: root}
    todo = [root]
    while todo and len(seen) < MAX_GROUP:
        for absorbed in sorted(todo.pop().absorbed):
            customer = existing(store, unit, UUID(absorbed), "customerId")
            if customer.id not in seen:
                seen[customer.id] = customer
                todo.append(customer)
    return list(seen.values())


class Privacy:
    """Erasure and export of one person's data."""

    def __init__(self, store: EventStore, customers: Customers) -> None:
        self.store = store
        self.customers = customers

    def erase(self, customer_id: UUID, reason: str, ticket: str | None, by: str,
              occurred_at: datetime) -> tuple[list[UUID], int | None]:
        """Erase the person ``customer_id`` belongs to: the streams erased (the survivor's
        first) and the log position of ``Customer.Erased``."""
        def decide(unit: UnitOfWork[Customer]) -> list[UUID]:
            customer = survivor(self.store, unit, customer_id, "customerId")
            absorbed = [c.id for c in _group(self.store, unit, customer) if c is not customer]
            subjects = erase(customer, absorbed, reason, ticket, by, occurred_at)
            unit.writes.erased.extend(subjects)
            return subjects

        return self.store.transact(Customer, decide)

    def export(self, customer_id: UUID) -> PersonalExport:
        """Every event and vault value of the person ``customer_id`` belongs to."""
        unit = UnitOfWork(Customer)
        customer = survivor(self.store, unit, customer_id, "customerId")
        streams = [c.id for c in _group(self.store, unit, customer)]
        out = PersonalExport(customer_id=customer.id, streams=streams, erased=customer.erased,
                             consents=dict(customer.consents))
        for stream in streams:
            for stored in self.store.recorder.select_events(stream):
                event = self.store.mapper.to_domain_event(stored)
                out.events.append(ExportedEvent(
                    stream_id=stream, version=event.originator_version,
                    type=type(event).__qualname__,
                    occurred_at=getattr(event, "occurred_at", None),
                    recorded_at=event.timestamp,  # type: ignore[attr-defined]
                    by=getattr(event, "by", None),
                    data=event_data(event)))
            out.personal[str(stream)] = self.customers.personal_data(stream)
        out.events.sort(key=lambda e: (e.recorded_at, str(e.stream_id), e.version))
        return out


_ENVELOPE = frozenset({"originator_id", "originator_version", "timestamp", "occurred_at", "by"})


def event_data(event: object) -> dict[str, Any]:
    """An event's own fields (not its envelope), as JSON-ready values."""
    data: dict[str, Any] = {}
    for name, value in vars(event).items():
        if name in _ENVELOPE or name.startswith("_"):
            continue
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, UUID):
            value = str(value)
        elif isinstance(value, set):
            value = sorted(value)
        data[name] = value
    return data
