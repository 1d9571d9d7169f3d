"""OneID: merging two customers known to be one person, and undoing it.

Ingestion merges implicitly (an item links an alias another customer owns); staff
merge and unmerge explicitly here. Either way the survivor absorbs the other's
identities, and the identity index is re-pointed in the same transaction.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from application.customers import existing
from application.unit_of_work import EventStore, UnitOfWork
from domain.customer import Customer
from domain.errors import NotMerged
from domain.privacy import refuse_erased


def merge(survivor: Customer, absorbed: Customer, owners: dict[str, UUID],
          unit: UnitOfWork[Customer], by: str, occurred_at: datetime) -> None:
    """``survivor`` absorbs ``absorbed``; its blind indexes are re-owned with the unit."""
    refuse_erased(survivor, "survivorId")
    refuse_erased(absorbed, "absorbedId")
    survivor.absorb(absorbed, by, occurred_at)
    for blind in absorbed.identities:
        owners[blind] = survivor.id
        unit.writes.reowned.append((blind, survivor.id))
    unit.writes.merges.append((absorbed.id, survivor.id))


class OneId:
    """Explicit merges (合并) and unmerges of customers."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    def merge(self, survivor_id: UUID, absorbed_id: UUID, by: str,
              occurred_at: datetime) -> int | None:
        """Merge ``absorbed_id`` into ``survivor_id``; returns the log position."""
        def decide(unit: UnitOfWork[Customer]) -> None:
            survivor = existing(self.store, unit, survivor_id, "survivorId")
            absorbed = existing(self.store, unit, absorbed_id, "absorbedId")
            merge(survivor, absorbed, {}, unit, by, occurred_at)

        return self.store.transact(Customer, decide)[1]

    def unmerge(self, absorbed_id: UUID, by: str, occurred_at: datetime) -> int | None:
        """Undo the merge of ``absorbed_id``: it and its identities are its own again."""
        def decide(unit: UnitOfWork[Customer]) -> None:
            absorbed = existing(self.store, unit, absorbed_id, "customerId")
            if absorbed.merged_into is None:
                raise NotMerged("this customer is not merged into another", field="customerId")
            survivor = existing(self.store, unit, UUID(absorbed.merged_into), "customerId")
            refuse_erased(survivor, "customerId")
            for blind in survivor.release(absorbed, by, occurred_at):
                unit.writes.reowned.append((blind, absorbed.id))
            unit.writes.unmerges.append(absorbed.id)

        return self.store.transact(Customer, decide)[1]
