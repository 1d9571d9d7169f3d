"""Customers recording their own actions (views, cart, shares, consent, DND, opt-out).

The customer is known by id (their token), not by an identity: each item is parsed as
ingestion parses it, checked against :data:`domain.self_service.SELF_SERVICE_TYPES`, and
applied to the customer (the survivor, if merged) in one unit of work. Client event ids are
scoped to the customer (``customer:<id>:<eventId>``): a re-sent id records nothing new, and
one customer's ids never collide with another's or with a service's.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from application.customers import survivor
from application.ingestion import BatchResult, ItemOutcome
from application.unit_of_work import EventStore, UnitOfWork
from domain.customer import Customer
from domain.errors import CustomerErased, DomainError
from domain.identity import Identity
from domain.ingestion import EventItem, parse_item
from domain.items import Command
from domain.self_service import check_self_service

#: Stands for "the customer of the token" where parsing wants an identity; never stored.
_SELF = Identity("self", "self")


class SelfService:
    def __init__(self, store: EventStore) -> None:
        self.store = store

    def record_own(self, customer_id: UUID, items: Sequence[EventItem]) -> BatchResult:
        """Record ``items`` on the customer ``customer_id``, by ``customer:<id>``."""
        now = self.store.clock()
        by = f"customer:{customer_id}"
        parsed: list[Command | DomainError] = []
        for item in items:
            try:
                check_self_service(item.type)
                parsed.append(parse_item(item, now, identity=_SELF))
            except DomainError as error:
                parsed.append(error)

        def decide(unit: UnitOfWork[Customer]) -> BatchResult:
            customer = survivor(self.store, unit, customer_id, "customer")
            keys = {f"customer:{customer_id}:{item.event_id}": item for item in items}
            known = self.store.index.known_event_keys(sorted(keys))
            result = BatchResult()
            seen: set[str] = set()
            for index, (item, command) in enumerate(zip(items, parsed, strict=True)):
                key = f"customer:{customer_id}:{item.event_id}"
                if isinstance(command, DomainError):
                    result.outcomes.append(ItemOutcome(index, str(item.event_id), "rejected",
                                                       error=command))
                    continue
                if key in known or key in seen:
                    result.outcomes.append(ItemOutcome(index, item.event_id, "duplicate",
                                                       customer.id))
                    continue
                try:
                    if customer.erased:
                        raise CustomerErased("this customer's data was erased", field="customer")
                    command.apply(customer, by)
                except DomainError as error:
                    result.outcomes.append(ItemOutcome(index, item.event_id, "rejected",
                                                       error=error))
                    continue
                seen.add(key)
                unit.writes.event_keys.append((key, customer.id))
                result.outcomes.append(ItemOutcome(index, item.event_id, "accepted", customer.id))
            return result

        result, position = self.store.transact(Customer, decide)
        result.last_position = position
        return result
