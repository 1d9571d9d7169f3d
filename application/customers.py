"""Customers: found by id (following OneID merges), their personal data, outbound outcomes.

Ingestion (:mod:`application.ingestion`) records what customers do; this module holds
the rest of what the application does for a customer, and the WeCom directory's facts
(customer groups, the corp tag library) recorded from callbacks.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from application.unit_of_work import EventStore, UnitOfWork
from domain.customer import Customer
from domain.errors import UnknownCustomer
from domain.wecom_directory import CorpTagLibrary, CustomerGroup

WECOM = "service:wecom"

#: How far a merged customer's ids are followed to the survivor (merges form a tree).
MAX_MERGE_DEPTH = 64


def existing(store: EventStore, unit: UnitOfWork[Customer], customer_id: UUID,
             field: str) -> Customer:
    """The customer (held by ``unit`` from now on); ``UnknownCustomer`` names ``field``."""
    try:
        return store.load(unit, customer_id)
    except AggregateNotFoundError:
        raise UnknownCustomer(f"no customer {customer_id}", field=field) from None


def survivor(store: EventStore, unit: UnitOfWork[Customer], customer_id: UUID,
             field: str) -> Customer:
    """The customer, or the one it was merged into (OneID), as ``customer(id:)`` shows it."""
    customer = existing(store, unit, customer_id, field)
    for _ in range(MAX_MERGE_DEPTH):
        if customer.merged_into is None:
            break
        customer = existing(store, unit, UUID(customer.merged_into), field)
    return customer


class Customers:
    """Customers' personal data, outbound outcomes, and the WeCom directory's facts."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    # -- personal data -----------------------------------------------------------
    def personal_fields(self, wanted: Iterable[tuple[UUID, str]]) -> dict[tuple[UUID, str], str]:
        """Decrypt one field each of many subjects, in two queries (absent: erased or unset)."""
        index, vault = self.store.index, self.store.vault
        pairs = sorted(set(wanted))
        keys = index.wrapped_keys(sorted({s for s, _ in pairs}))
        sealed = index.sealed_fields([p for p in pairs if p[0] in keys])
        return {(s, f): vault.open(keys[s], s, f, value) for (s, f), value in sealed.items()}

    def personal_data(self, subject_id: UUID) -> dict[str, str]:
        """Decrypt a subject's vault fields (empty once the key is erased)."""
        index, vault = self.store.index, self.store.vault
        key = index.wrapped_keys([subject_id]).get(subject_id)
        if key is None:
            return {}
        return {
            name: vault.open(key, subject_id, name, sealed)
            for name, sealed in index.sealed_values(subject_id).items()
        }

    # -- outbound outcomes --------------------------------------------------------
    def record_welcome_outcome(
        self,
        customer_id: UUID,
        outcome_key: str,
        staff_id: str,
        *,
        template_id: str,
        gateway_message_id: str | None,
        failure: str | None,
        occurred_at: datetime,
    ) -> bool:
        """Record a welcome message's outcome once per ``outcome_key``; False if known."""
        def decide(unit: UnitOfWork[Customer]) -> bool:
            if outcome_key in self.store.index.known_event_keys([outcome_key]):
                return False
            customer = self.store.find(customer_id, Customer)
            if customer is None:
                raise AggregateNotFoundError(customer_id)
            unit.add(customer)
            if failure is None:
                customer.record_welcome_sent(staff_id, template_id, gateway_message_id or "",
                                             "system", occurred_at)
            else:
                customer.record_welcome_failed(staff_id, failure, "system", occurred_at)
            unit.writes.event_keys.append((outcome_key, customer_id))
            return True

        return self.store.transact(Customer, decide)[0]

    # -- WeCom directory facts (groups, tag library) ---------------------------------------
    def record_group_change(self, corp_id: str, chat_id: str, change: str, owner: str | None,
                            event_key: str, occurred_at: datetime) -> bool:
        """Record a customer group's creation or dismissal once per ``event_key``."""
        def decide(unit: UnitOfWork[CustomerGroup]) -> None:
            group_id = CustomerGroup.create_id(corp_id, chat_id)
            group = self.store.find(group_id, CustomerGroup)
            if group is None:
                group = CustomerGroup(corp_id=corp_id, chat_id=chat_id, owner=owner,
                                      by=WECOM, occurred_at=occurred_at)
            if change == "dismiss":
                group.dismiss(WECOM, occurred_at)
            unit.add(group)
            unit.writes.event_keys.append((event_key, group_id))

        return self.store.once(event_key, CustomerGroup, decide)

    def observe_group(self, corp_id: str, chat_id: str, *, name: str, owner: str,
                      created_at: datetime, customers: int, staff: int, by: str,
                      occurred_at: datetime) -> list[str]:
        """What WeCom's ``groupchat/get`` says of a group now (the group sync): its creation
        if never recorded (at WeCom's ``create_time``), then its name, owner and counts where
        they changed. The facts recorded (none when nothing changed: a restart records
        nothing new)."""
        def decide(unit: UnitOfWork[CustomerGroup]) -> list[str]:
            group_id = CustomerGroup.create_id(corp_id, chat_id)
            group = self.store.find(group_id, CustomerGroup)
            changes: list[str] = []
            if group is None:
                group = CustomerGroup(corp_id=corp_id, chat_id=chat_id, owner=owner, by=by,
                                      occurred_at=created_at)
                changes.append("created")
            changes += group.observe(name, owner, customers, staff, by, occurred_at)
            if changes:
                unit.add(group)
            return changes

        return self.store.transact(CustomerGroup, decide)[0]

    def record_group_gone(self, corp_id: str, chat_id: str, by: str,
                          occurred_at: datetime) -> bool:
        """WeCom no longer knows the group (``groupchat/get``: no such chat): dismissed.
        False when already dismissed or never recorded."""
        def decide(unit: UnitOfWork[CustomerGroup]) -> bool:
            group = self.store.find(CustomerGroup.create_id(corp_id, chat_id), CustomerGroup)
            if group is None or group.dismissed_at is not None:
                return False
            group.dismiss(by, occurred_at)
            unit.add(group)
            return True

        return self.store.transact(CustomerGroup, decide)[0]

    def record_tag_change(self, corp_id: str, tag_id: str, tag_type: str, change: str,
                          event_key: str, occurred_at: datetime) -> bool:
        """Record a change of the corp's tag library once per ``event_key``."""
        def decide(unit: UnitOfWork[CorpTagLibrary]) -> None:
            library_id = CorpTagLibrary.create_id(corp_id)
            library = self.store.find(library_id, CorpTagLibrary)
            if library is None:
                library = CorpTagLibrary(corp_id=corp_id, by=WECOM, occurred_at=occurred_at)
            library.record_change(tag_id, tag_type, change, WECOM, occurred_at)
            unit.add(library)
            unit.writes.event_keys.append((event_key, library_id))

        return self.store.once(event_key, CorpTagLibrary, decide)
