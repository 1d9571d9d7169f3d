"""Ingestion: what customers do, recorded in batches (one unit of work per batch).

A batch of items (:mod:`domain.ingestion`) is parsed, then decided against cached
customers and committed in one transaction with its side rows (identity index,
client event ids, vault), through :meth:`EventStore.transact`. Each item resolves its
customer by the blind index of its identity (a new customer when unknown); an item
linking an alias another customer owns merges the two (OneID). Referral attribution
and rewards, and the scanning of message texts, happen in the same unit of work.

Invalid items are rejected (nothing of theirs is stored); client event ids already
stored are reported as duplicates, so a batch retried after an ambiguous commit stores
nothing twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from application import aggregate_cache
from application.channel_codes import ChannelCodes
from application.identity import merge
from application.referrals import Referrals
from application.supervision import Supervision
from application.unit_of_work import EventStore, UnitOfWork
from domain import recording
from domain.customer import Customer
from domain.errors import DomainError, UnknownInviter
from domain.identity import Identity, blind_index
from domain.ingestion import Command, EventItem, client_event_key, parse_item
from domain.recording import RECORDER
from domain.referral import is_new_invitee

#: Blind indexes whose owner a process remembers (then forgets them all, and starts again).
OWNERS_REMEMBERED = 100_000


@dataclass(slots=True)
class ItemOutcome:
    """One item's outcome. Not frozen: a frozen dataclass sets each field through
    ``object.__setattr__``, three times the cost of a batch's thousand outcomes; nothing
    changes one once made."""

    index: int
    event_id: str
    status: str  # "accepted" | "duplicate" | "rejected" | "aborted" (atomic batch refused)
    customer_id: UUID | None = None
    error: DomainError | None = None


@dataclass(slots=True)
class BatchResult:
    outcomes: list[ItemOutcome] = field(default_factory=list)
    last_position: int | None = None  # notification id of the batch's last event

    def count(self, status: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status == status)


class Ingestion:
    """Records batches of customer actions (callbacks, imports, the ingestion API)."""

    def __init__(self, store: EventStore, referrals: Referrals,
                 supervision: Supervision, channel_codes: ChannelCodes) -> None:
        self.store = store
        self.referrals = referrals
        self.supervision = supervision
        self.channel_codes = channel_codes
        self._owners: dict[str, UUID] = {}  # blind index -> owner, as last looked up

    def record_batch(
        self, items: Sequence[EventItem], by: str, *, atomic: bool = False
    ) -> BatchResult:
        """Record many customer actions in one transaction; per-item outcomes.

        Invalid items are rejected (nothing of theirs is stored); valid items
        commit together or, on a storage conflict, are decided again. With
        ``atomic`` a single rejection stores nothing: the valid items are
        reported as ``aborted``.
        """
        now = self.store.clock()
        parsed: list[Command | DomainError] = []
        for item in items:
            try:
                parsed.append(parse_item(item, now))
            except DomainError as error:
                parsed.append(error)
        self._attribute_to_codes(items, parsed)

        def decide(unit: UnitOfWork[Customer]) -> BatchResult:
            return self._decide(items, parsed, by, unit, atomic)

        result, position = self.store.transact(Customer, decide)
        result.last_position = position
        return result

    def _attribute_to_codes(self, items: Sequence[EventItem],
                            parsed: Sequence[Command | DomainError]) -> None:
        """An item whose ``state`` names one of our channel codes (a WeCom add through a
        「联系我」 code) is recorded on the code's channel, whatever channel it reported."""
        states = [i.state for i, c in zip(items, parsed, strict=True)
                  if isinstance(c, Command) and i.state]
        if not states:
            return
        channels = self.channel_codes.channels_for(s.strip() for s in states if s)
        for item, command in zip(items, parsed, strict=True):
            if isinstance(command, Command) and item.state and item.state.strip() in channels:
                command.channel = channels[item.state.strip()]

    def _decide(
        self,
        items: Sequence[EventItem],
        parsed: Sequence[Command | DomainError],
        by: str,
        unit: UnitOfWork[Customer],
        atomic: bool,
    ) -> BatchResult:
        commands = [c for c in parsed if isinstance(c, Command)]
        identities = {c.identity for c in commands}
        identities.update(c.link for c in commands if c.link)
        identities.update(c.inviter for c in commands if c.inviter)
        blinds = {i: blind_index(self.store.blind_key, i) for i in identities}
        event_ids = [c.event_id for c in commands]
        keys = {event_id: client_event_key(by, event_id) for event_id in event_ids}
        # Scoped keys and bare ids (stored before scoping) in one look-up with the owners,
        # and the streams of owners this process has not cached (no read per customer).
        wanted = sorted(set(blinds.values()))
        found = self.store.index.batch_lookup([*keys.values(), *event_ids], wanted,
                                              self._uncached(wanted))
        known = self._known(by, keys, found.event_keys)
        owners = dict(found.owners)
        self.store.drop_stale(set(owners.values()), unit, stored=found.versions)
        cached = aggregate_cache.ids(self.store.repository.cache)
        self.store.cache_streams({i: s for i, s in found.tails.items() if i not in cached})
        self._remember(owners)
        self.referrals.prefetch_inviters(commands, unit)
        # The customers' commands write their events as rows (domain.recording).
        token = RECORDER.set(self.store.row_recorder(unit))
        try:
            result = self._decide_items(items, parsed, known, keys, blinds, owners, unit, by)
        finally:
            RECORDER.reset(token)
        # The owners it made too: else the next batch reads the stream of each customer
        # first seen here, which this process caches once saved (and if the batch is not
        # saved, its customers are not cached: the hint costs that read, no more).
        self._remember(unit.new_owners)
        if atomic and result.count("rejected"):
            unit.abandoned = True
            result.outcomes = [
                ItemOutcome(o.index, o.event_id, "aborted") if o.status == "accepted" else o
                for o in result.outcomes
            ]
        return result

    def _decide_items(
        self,
        items: Sequence[EventItem],
        parsed: Sequence[Command | DomainError],
        known: Mapping[str, UUID],
        keys: Mapping[str, str],
        blinds: dict[Identity, str],
        owners: dict[str, UUID],
        unit: UnitOfWork[Customer],
        by: str,
    ) -> BatchResult:
        """Each item decided on its customer, in order: its outcome."""
        result = BatchResult()
        seen: dict[str, UUID | None] = {}
        for index, (item, command) in enumerate(zip(items, parsed, strict=True)):
            if isinstance(command, DomainError):
                result.outcomes.append(ItemOutcome(index, str(item.event_id), "rejected",
                                                   error=command))
                continue
            event_id = command.event_id
            if event_id in known or event_id in seen:
                customer_id = known.get(event_id) or seen.get(event_id)
                result.outcomes.append(ItemOutcome(index, event_id, "duplicate", customer_id))
                continue
            try:
                customer = self._customer_for(command, blinds, owners, unit, index, by)
                self._apply(command, customer, blinds, owners, unit, by)
            except DomainError as error:
                _forget_if_created(unit, index, owners)
                result.outcomes.append(ItemOutcome(index, event_id, "rejected", error=error))
                continue  # its id stays free: a corrected resend in this batch is accepted
            customer_id = customer.id
            unit.writes.event_keys.append((keys[event_id], customer_id))
            seen[event_id] = customer_id
            result.outcomes.append(ItemOutcome(index, event_id, "accepted", customer_id))
        return result

    def _uncached(self, blinds: list[str]) -> list[str]:
        """Blind indexes whose owner, as last looked up, this process has not cached (or
        never looked up): the look-up reads their owners' streams too. A stale entry (an
        identity moved by a merge) costs no more than a read of the stream on ``load``."""
        seen, cached = self._owners, aggregate_cache.ids(self.store.repository.cache)
        return [b for b in blinds if (o := seen.get(b)) is None or o not in cached]

    def _remember(self, owners: Mapping[str, UUID]) -> None:
        if len(self._owners) + len(owners) > OWNERS_REMEMBERED:
            self._owners.clear()
        self._owners.update(owners)

    def _known(self, source: str, keys: dict[str, str], found: Mapping[str, UUID]
               ) -> dict[str, UUID]:
        """Event ids ``source`` sent before, with their customer: scoped keys (``keys``:
        event id -> key), and bare keys stored before scoping that this source recorded
        (or whose source cannot be told: never recorded twice). ``found``: the stored
        keys among both."""
        known = {e: found[k] for e, k in keys.items() if k in found}
        bare = [e for e in keys if e not in known and e in found]
        if not bare:
            return known
        for event_id, (customer_id, recorded_by) in self.store.index.legacy_event_keys(
                bare).items():
            if recorded_by is None or recorded_by == source:
                known[event_id] = customer_id
        return known

    def _customer_for(
        self,
        command: Command,
        blinds: dict[Identity, str],
        owners: dict[str, UUID],
        unit: UnitOfWork[Customer],
        index: int,
        by: str,
    ) -> Customer:
        blind = blinds[command.identity]
        owner = owners.get(blind)
        if owner is not None:
            return self.store.load(unit, owner)
        customer = unit.add(recording.create(Customer, Customer.Registered,
                                             first_channel=command.channel, by=by,
                                             occurred_at=command.occurred_at))
        unit.created_by[customer.id] = index
        owners[blind] = customer.id
        unit.new_owners[blind] = customer.id
        self.store.new_key(customer.id, unit)
        self._link(customer, command.identity, blind, unit, by, command.occurred_at)
        return customer

    def _apply(
        self,
        command: Command,
        customer: Customer,
        blinds: dict[Identity, str],
        owners: dict[str, UUID],
        unit: UnitOfWork[Customer],
        by: str,
    ) -> None:
        if command.link is not None:
            blind = blinds[command.link]
            owner = owners.get(blind)
            if owner is not None and owner != customer.id:
                # OneID: the alias belongs to another customer, who is absorbed by this one.
                merge(customer, self.store.load(unit, owner), owners, unit, by, command.occurred_at)
            elif blind not in customer.identities:
                owners[blind] = customer.id
                unit.new_owners[blind] = customer.id
                self._link(customer, command.link, blind, unit, by, command.occurred_at)
        if command.inviter is not None:
            self._refer(command, customer, owners.get(blinds[command.inviter]), unit, by)
        new = command.invite_code is not None and is_new_invitee(customer)
        first_order = command.pays_order and not customer.orders
        if command.fact is not None:  # nothing decided: written straight as a row
            kind, fields = command.fact
            self.store.append_fact(unit, customer, kind, by=by, occurred_at=command.occurred_at,
                                   **fields)
        else:  # decided by the customer's command
            command.apply(customer, by)
        if command.invite_code is not None:
            self.referrals.attribute_invitee(command, customer, new, unit, by)
        if first_order and customer.referred_in is not None:
            self.referrals.reward_first_order(command, customer, unit)
        self.supervision.scan_message(command, customer, unit)
        for name, value in command.personal.items():
            self.store.seal(customer.id, name, value, unit)

    def _refer(self, command: Command, invitee: Customer, inviter_id: UUID | None,
               unit: UnitOfWork[Customer], by: str) -> None:
        """Attribute the invitee to the inviter, and the referral to the inviter (裂变)."""
        if inviter_id is None:
            raise UnknownInviter("the inviter is not a known customer", field="inviter")
        campaign = command.campaign_id or ""
        if invitee.referred(inviter_id, campaign, by, command.occurred_at):
            inviter = self.store.load(unit, inviter_id)
            inviter.record_fact(Customer.ReferralBrought, invitee_id=str(invitee.id),
                                campaign_id=campaign, by=by, occurred_at=command.occurred_at)

    def _link(self, customer: Customer, identity: Identity, blind: str,
              unit: UnitOfWork[Customer], by: str, occurred_at: datetime) -> None:
        customer.link_identity(identity.namespace, blind, by, occurred_at)
        unit.writes.identities.append((blind, identity.namespace, customer.id))
        self.store.seal(customer.id, f"identity:{blind}", identity.value, unit)


def _forget_if_created(unit: UnitOfWork[Customer], index: int, owners: dict[str, UUID]) -> None:
    """Drop a customer that only the rejected item created, with its side rows."""
    for customer_id, creator in list(unit.created_by.items()):
        if creator != index:
            continue
        del unit.created_by[customer_id]
        del unit.aggregates[customer_id]
        unit.rows.pop(customer_id, None)
        for blind, owner in list(unit.new_owners.items()):
            if owner == customer_id:
                del unit.new_owners[blind]
                owners.pop(blind, None)
        writes = unit.writes
        writes.identities = [r for r in writes.identities if r[2] != customer_id]
        writes.keys = [k for k in writes.keys if k.subject_id != customer_id]
        writes.sealed = [s for s in writes.sealed if s.subject_id != customer_id]
        unit.key_cache.pop(customer_id, None)
