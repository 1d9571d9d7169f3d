"""The application: commands that record customer and staff events.

Writes are serialised per process (one lock) and grouped per batch: a batch of
items is decided against cached aggregates and committed in **one**
transaction, together with the side rows (identity index, client event ids,
personal-data vault) that must never disagree with the events.

A stale cache (another process appended to the same customer) shows up as a
uniqueness conflict at commit; the batch's aggregates are then evicted and the
batch is decided again from the store. Because client event ids are committed
with the events, a retried batch after an ambiguous commit reports the already
stored items as duplicates instead of storing them twice.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, cast
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
    project_aggregate,
)
from eventsourcing.domain import Aggregate, DomainEventProtocol, MutableOrImmutableAggregate
from eventsourcing.persistence import (
    ApplicationRecorder,
    IntegrityError,
    JSONTranscoder,
    Recording,
    Transcoder,
    Transcoding,
)

from domain.campaign import Campaign
from domain.campaigning import CampaignCommands
from domain.customer import Customer
from domain.errors import DomainError, NotMerged, UnknownCustomer, UnknownInviter, UnknownStaff
from domain.identity import Identity, blind_index
from domain.ingestion import Command, EventItem, parse_item
from domain.ownership import OwnershipCommands
from domain.ports import IngestIndex, SealedValue, SideWrites, Vault, WrappedKey
from domain.referral import ReferralCampaign
from domain.referring import ReferralCommands, is_new_invitee
from domain.reporting import ReportCommands
from domain.scripting import ScriptCommands
from domain.segment import Segment
from domain.segmenting import SegmentCommands
from domain.sopping import SopCommands
from domain.staff import Staff
from domain.staff_actions import StaffActionCommands
from domain.storable import StorableTranscoder
from domain.supervising import SupervisionCommands
from domain.tagging import TaggingCommands
from domain.targeting import TargetCommands
from domain.tasking import MarketingTaskCommands
from domain.wecom_directory import CorpTagLibrary, CustomerGroup
from domain.working_hours import WorkingHoursCommands

WECOM = "service:wecom"

MAX_ATTEMPTS = 8
#: Streams up to this long are replayed in bulk by ``_prefetch`` (snapshots come every 100).
PREFETCH_LONGEST = 100


@dataclass(frozen=True, slots=True)
class ItemOutcome:
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


@dataclass(slots=True)
class _Batch:
    """Working state of one attempt at a batch."""

    aggregates: dict[UUID, Customer] = field(default_factory=dict)
    new_owners: dict[str, UUID] = field(default_factory=dict)  # blind -> new customer
    created_by: dict[UUID, int] = field(default_factory=dict)  # new customer -> item index
    writes: SideWrites = field(default_factory=SideWrites)
    key_cache: dict[UUID, bytes] = field(default_factory=dict)
    fresh: set[UUID] = field(default_factory=set)  # cache entries checked against the store
    lexicon_checked: bool = False  # the lexicon's stored version was read for this batch


class _SetAsList(Transcoding):
    type = set
    name = "set"

    def encode(self, obj: set[Any]) -> list[Any]:
        return sorted(obj)

    def decode(self, data: list[Any]) -> set[Any]:
        return set(data)


class CustomerOperations(SegmentCommands, TaggingCommands, CampaignCommands, OwnershipCommands,
                         StaffActionCommands, SupervisionCommands, ScriptCommands,
                         ReportCommands, TargetCommands, WorkingHoursCommands,
                         ReferralCommands, SopCommands, MarketingTaskCommands,
                         Application[UUID]):
    """Records what customers and staff do; the single writer of the event log."""

    name = "Siyu"
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {Customer: 100, Staff: 100,
                                                              Segment: 100, Campaign: 100,
                                                              ReferralCampaign: 100}
    env: ClassVar[dict[str, str]] = {
        "AGGREGATE_CACHE_MAXSIZE": "50000",
        "AGGREGATE_CACHE_FASTFORWARD": "n",
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
    }

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        vault: Vault,
        blind_key: bytes,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        recorder: ApplicationRecorder | None = None,
    ) -> None:
        self._given_recorder = recorder
        super().__init__(env)
        self.vault = vault
        self.blind_key = blind_key
        self.clock = clock
        self._write_lock = threading.RLock()

    def construct_recorder(self) -> ApplicationRecorder:
        if self._given_recorder is not None:
            return self._given_recorder
        return super().construct_recorder()

    def save(
        self,
        *objs: MutableOrImmutableAggregate[UUID] | DomainEventProtocol[UUID] | None,
        **kwargs: Any,
    ) -> list[Recording[UUID]]:
        """As ``Application.save``, minus per-object runtime Protocol checks (~14 µs each).

        Batches save hundreds of aggregates at once; the checks were a fifth of
        the ingestion time.
        """
        processing = ProcessingEvent[UUID]()
        for obj in objs:
            if isinstance(obj, Aggregate):
                processing.events.extend(obj.collect_events())
                processing.aggregates[obj.id] = obj
            else:
                processing.collect_events(obj)
        processing.saved_kwargs.update(kwargs)
        recordings = self._record(processing)
        self._take_snapshots(processing)
        self._notify(recordings)
        return recordings

    def construct_transcoder(self) -> Transcoder:
        transcoder = StorableTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(_SetAsList())

    @property
    def index(self) -> IngestIndex:
        return cast(IngestIndex, self.recorder)

    # -- ingestion -------------------------------------------------------------
    def record_batch(
        self, items: Sequence[EventItem], by: str, *, atomic: bool = False
    ) -> BatchResult:
        """Record many customer actions in one transaction; per-item outcomes.

        Invalid items are rejected (nothing of theirs is stored); valid items
        commit together or, on a storage conflict, are decided again. With
        ``atomic`` a single rejection stores nothing: the valid items are
        reported as ``aborted``.
        """
        now = self.clock()
        parsed: list[Command | DomainError] = []
        for item in items:
            try:
                parsed.append(parse_item(item, now))
            except DomainError as error:
                parsed.append(error)
        with self._write_lock:
            for attempt in range(MAX_ATTEMPTS):
                try:
                    return self._record_parsed(items, parsed, by, atomic)
                except IntegrityError:
                    if attempt == MAX_ATTEMPTS - 1:
                        raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _record_parsed(
        self,
        items: Sequence[EventItem],
        parsed: Sequence[Command | DomainError],
        by: str,
        atomic: bool,
    ) -> BatchResult:
        batch = _Batch()
        try:
            return self._decide_and_save(items, parsed, by, batch, atomic)
        except BaseException:
            # Cached aggregates were changed in place by this attempt: forget them.
            self._evict(batch.aggregates)
            raise

    def _decide_and_save(
        self,
        items: Sequence[EventItem],
        parsed: Sequence[Command | DomainError],
        by: str,
        batch: _Batch,
        atomic: bool,
    ) -> BatchResult:
        commands = [c for c in parsed if isinstance(c, Command)]
        known = self.index.known_event_keys([c.event_id for c in commands])
        blinds = {c.identity: blind_index(self.blind_key, c.identity) for c in commands}
        blinds.update({c.link: blind_index(self.blind_key, c.link) for c in commands if c.link})
        blinds.update({c.inviter: blind_index(self.blind_key, c.inviter)
                       for c in commands if c.inviter})
        owners = dict(self.index.owners_of(sorted(set(blinds.values()))))
        self._drop_stale(set(owners.values()), batch)
        self._prefetch_inviters(commands, batch)
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
                customer = self._customer_for(command, blinds, owners, batch, index, by)
                self._apply(command, customer, blinds, owners, batch, by)
            except DomainError as error:
                self._forget_if_created(batch, index, owners)
                result.outcomes.append(ItemOutcome(index, event_id, "rejected", error=error))
                continue  # its id stays free: a corrected resend in this batch is accepted
            batch.writes.event_keys.append((event_id, customer.id))
            seen[event_id] = customer.id
            result.outcomes.append(ItemOutcome(index, event_id, "accepted", customer.id))
        if atomic and result.count("rejected"):
            self._evict(batch.aggregates)
            result.outcomes = [
                ItemOutcome(o.index, o.event_id, "aborted") if o.status == "accepted" else o
                for o in result.outcomes
            ]
            return result
        recordings = self.save(*batch.aggregates.values(), side_writes=batch.writes)
        if recordings:
            result.last_position = max(r.notification.id for r in recordings)
        return result

    def _drop_stale(self, aggregate_ids: Iterable[UUID], batch: _Batch) -> None:
        """Evict cached aggregates another process has appended to (one query).

        A stale aggregate that leads to a new event fails at commit (a version
        conflict) and is decided again; one that leads to *no* event (``untag`` of
        a tag it does not know was given) would silently do nothing.
        """
        cache = self.repository.cache
        wanted = set(aggregate_ids) - batch.fresh
        batch.fresh |= wanted
        if cache is None or not wanted:
            return
        cached: dict[UUID, int] = {}
        for aggregate_id in wanted:
            with contextlib.suppress(KeyError):
                cached[aggregate_id] = cache.get(aggregate_id).version
        if not cached:
            return
        stored = self.index.stream_versions(sorted(cached))
        self._evict(i for i, version in cached.items() if stored.get(i, 0) != version)

    def _prefetch(self, aggregate_ids: Iterable[UUID], batch: _Batch) -> None:
        """Bring many aggregates into the cache at once: stale ones are dropped (one
        query), missing ones with short streams are replayed from one query. Longer
        streams are left to ``_load`` (snapshots). Saving checks versions as ever."""
        wanted = set(aggregate_ids)
        self._drop_stale(wanted, batch)
        cache = self.repository.cache
        if cache is None:
            return
        missing = []
        for aggregate_id in sorted(wanted - set(batch.aggregates)):
            try:
                cache.get(aggregate_id)
            except KeyError:
                missing.append(aggregate_id)
        for aggregate_id, stored in self.index.short_streams(missing, PREFETCH_LONGEST).items():
            aggregate = project_aggregate(None, (self.mapper.to_domain_event(s) for s in stored))
            if aggregate is not None:
                cache.put(aggregate_id, aggregate)

    def _evict(self, aggregate_ids: Iterable[UUID]) -> None:
        cache = self.repository.cache
        if cache is None:
            return
        for aggregate_id in aggregate_ids:
            with contextlib.suppress(KeyError):
                cache.get(aggregate_id, evict=True)

    def _customer_for(
        self,
        command: Command,
        blinds: dict[Identity, str],
        owners: dict[str, UUID],
        batch: _Batch,
        index: int,
        by: str,
    ) -> Customer:
        blind = blinds[command.identity]
        owner = owners.get(blind)
        if owner is not None:
            return self._load(owner, batch)
        customer = Customer(first_channel=command.channel, by=by,
                            occurred_at=command.occurred_at)
        batch.aggregates[customer.id] = customer
        batch.created_by[customer.id] = index
        owners[blind] = customer.id
        batch.new_owners[blind] = customer.id
        self._new_key(customer.id, batch)
        self._link(customer, command.identity, blind, batch, by, command.occurred_at)
        return customer

    def _load(self, customer_id: UUID, batch: _Batch) -> Customer:
        customer = batch.aggregates.get(customer_id)
        if customer is None:
            self._drop_stale([customer_id], batch)
            customer = cast(Customer, self.repository.get(customer_id))
            batch.aggregates[customer_id] = customer
        return customer

    def _apply(
        self,
        command: Command,
        customer: Customer,
        blinds: dict[Identity, str],
        owners: dict[str, UUID],
        batch: _Batch,
        by: str,
    ) -> None:
        if command.link is not None:
            blind = blinds[command.link]
            owner = owners.get(blind)
            if owner is not None and owner != customer.id:
                # OneID: the alias belongs to another customer, who is absorbed by this one.
                self._merge(customer, self._load(owner, batch), owners, batch, by,
                            command.occurred_at)
            elif blind not in customer.identities:
                owners[blind] = customer.id
                batch.new_owners[blind] = customer.id
                self._link(customer, command.link, blind, batch, by, command.occurred_at)
        if command.inviter is not None:
            self._refer(command, customer, owners.get(blinds[command.inviter]), batch, by)
        new = command.invite_code is not None and is_new_invitee(customer)
        first_order = command.pays_order and not customer.orders
        command.apply(customer, by)
        if command.invite_code is not None:
            self._attribute_invitee(command, customer, new, batch, by)
        if first_order and customer.referred_in is not None:
            self._reward_first_order(command, customer, batch)
        self._scan_message(command, customer, batch)
        for name, value in command.personal.items():
            self._seal(customer.id, name, value, batch)

    @staticmethod
    def _merge(survivor: Customer, absorbed: Customer, owners: dict[str, UUID], batch: _Batch,
               by: str, occurred_at: datetime) -> None:
        survivor.absorb(absorbed, by, occurred_at)
        for blind in absorbed.identities:
            owners[blind] = survivor.id
            batch.writes.reowned.append((blind, survivor.id))
        batch.writes.merges.append((absorbed.id, survivor.id))

    # -- OneID: explicit merges ----------------------------------------------------------
    def merge_customers(self, survivor_id: UUID, absorbed_id: UUID, by: str,
                        occurred_at: datetime) -> int | None:
        """Merge ``absorbed_id`` into ``survivor_id``; returns the log position."""
        def decide(batch: _Batch) -> None:
            survivor = self._existing(survivor_id, batch, "survivorId")
            absorbed = self._existing(absorbed_id, batch, "absorbedId")
            self._merge(survivor, absorbed, {}, batch, by, occurred_at)

        return self._transact(decide)

    def unmerge_customer(self, absorbed_id: UUID, by: str, occurred_at: datetime) -> int | None:
        """Undo the merge of ``absorbed_id``: it and its identities are its own again."""
        def decide(batch: _Batch) -> None:
            absorbed = self._existing(absorbed_id, batch, "customerId")
            if absorbed.merged_into is None:
                raise NotMerged("this customer is not merged into another", field="customerId")
            survivor = self._existing(UUID(absorbed.merged_into), batch, "customerId")
            for blind in survivor.release(absorbed, by, occurred_at):
                batch.writes.reowned.append((blind, absorbed.id))
            batch.writes.unmerges.append(absorbed.id)

        return self._transact(decide)

    # -- WeCom directory facts (groups, tag library) ---------------------------------------
    def record_group_change(self, corp_id: str, chat_id: str, change: str, owner: str | None,
                            event_key: str, occurred_at: datetime) -> bool:
        """Record a customer group's creation or dismissal once per ``event_key``."""
        def decide(batch: _Batch) -> None:
            group_id = CustomerGroup.create_id(corp_id, chat_id)
            group: CustomerGroup
            try:
                group = self.repository.get(group_id)
            except AggregateNotFoundError:  # the id comes from CustomerGroup.create_id
                group = CustomerGroup(corp_id=corp_id, chat_id=chat_id, owner=owner,
                                      by=WECOM, occurred_at=occurred_at)
            if change == "dismiss":
                group.dismiss(WECOM, occurred_at)
            batch.aggregates[group_id] = cast(Customer, group)  # saved with the batch
            batch.writes.event_keys.append((event_key, group_id))

        return self._once(event_key, decide)

    def record_tag_change(self, corp_id: str, tag_id: str, tag_type: str, change: str,
                          event_key: str, occurred_at: datetime) -> bool:
        """Record a change of the corp's tag library once per ``event_key``."""
        def decide(batch: _Batch) -> None:
            library_id = CorpTagLibrary.create_id(corp_id)
            library: CorpTagLibrary
            try:
                library = self.repository.get(library_id)
            except AggregateNotFoundError:  # the id comes from CorpTagLibrary.create_id
                library = CorpTagLibrary(corp_id=corp_id, by=WECOM, occurred_at=occurred_at)
            library.record_change(tag_id, tag_type, change, WECOM, occurred_at)
            batch.aggregates[library_id] = cast(Customer, library)  # saved with the batch
            batch.writes.event_keys.append((event_key, library_id))

        return self._once(event_key, decide)

    def _once(self, event_key: str, decide: Callable[[_Batch], None]) -> bool:
        with self._write_lock:
            if event_key in self.index.known_event_keys([event_key]):
                return False
            try:
                self._transact(decide)
            except IntegrityError:
                if event_key in self.index.known_event_keys([event_key]):
                    return False  # recorded concurrently
                raise
            return True

    def _existing(self, customer_id: UUID, batch: _Batch, field: str) -> Customer:
        try:
            customer = self._load(customer_id, batch)
        except AggregateNotFoundError:
            raise UnknownCustomer(f"no customer {customer_id}", field=field) from None
        if not isinstance(customer, Customer):
            raise UnknownCustomer(f"no customer {customer_id}", field=field)
        return customer

    def _transact(self, decide: Callable[[_Batch], None]) -> int | None:
        """Decide against cached aggregates and save once; retry on a storage conflict."""
        with self._write_lock:
            for attempt in range(MAX_ATTEMPTS):
                batch = _Batch()
                try:
                    decide(batch)
                    recordings = self.save(*batch.aggregates.values(), side_writes=batch.writes)
                    return max((r.notification.id for r in recordings), default=None)
                except IntegrityError:
                    self._evict(batch.aggregates)
                    if attempt == MAX_ATTEMPTS - 1:
                        raise
                except BaseException:
                    self._evict(batch.aggregates)
                    raise
        return None  # pragma: no cover

    def _refer(self, command: Command, invitee: Customer, inviter_id: UUID | None,
               batch: _Batch, by: str) -> None:
        """Attribute the invitee to the inviter, and the referral to the inviter (裂变)."""
        if inviter_id is None:
            raise UnknownInviter("the inviter is not a known customer", field="inviter")
        campaign = command.campaign_id or ""
        if invitee.referred(inviter_id, campaign, by, command.occurred_at):
            inviter = self._load(inviter_id, batch)
            inviter.record_fact(Customer.ReferralBrought, invitee_id=str(invitee.id),
                                campaign_id=campaign, by=by, occurred_at=command.occurred_at)

    def _link(self, customer: Customer, identity: Identity, blind: str, batch: _Batch, by: str,
              occurred_at: datetime) -> None:
        customer.link_identity(identity.namespace, blind, by, occurred_at)
        batch.writes.identities.append((blind, identity.namespace, customer.id))
        self._seal(customer.id, f"identity:{blind}", identity.value, batch)

    def _new_key(self, subject_id: UUID, batch: _Batch) -> None:
        """A fresh subject has no key yet: make one without asking the store."""
        key = self.vault.new_wrapped_key()
        batch.writes.keys.append(WrappedKey(subject_id, key))
        batch.key_cache[subject_id] = key

    def _seal(self, subject_id: UUID, name: str, value: str, batch: _Batch) -> None:
        key = batch.key_cache.get(subject_id)
        if key is None:
            key = self.index.wrapped_keys([subject_id]).get(subject_id)
            if key is None:
                key = self.vault.new_wrapped_key()
                batch.writes.keys.append(WrappedKey(subject_id, key))
            batch.key_cache[subject_id] = key
        sealed = self.vault.seal(key, subject_id, name, value)
        batch.writes.sealed.append(SealedValue(subject_id, name, sealed))

    @staticmethod
    def _forget_if_created(batch: _Batch, index: int, owners: dict[str, UUID]) -> None:
        """Drop a customer that only the rejected item created, with its side rows."""
        for customer_id, creator in list(batch.created_by.items()):
            if creator != index:
                continue
            del batch.created_by[customer_id]
            del batch.aggregates[customer_id]
            for blind, owner in list(batch.new_owners.items()):
                if owner == customer_id:
                    del batch.new_owners[blind]
                    owners.pop(blind, None)
            writes = batch.writes
            writes.identities = [r for r in writes.identities if r[2] != customer_id]
            writes.keys = [k for k in writes.keys if k.subject_id != customer_id]
            writes.sealed = [s for s in writes.sealed if s.subject_id != customer_id]
            batch.key_cache.pop(customer_id, None)

    # -- personal data -----------------------------------------------------------
    def personal_fields(self, wanted: Iterable[tuple[UUID, str]]) -> dict[tuple[UUID, str], str]:
        """Decrypt one field each of many subjects, in two queries (absent: erased or unset)."""
        pairs = sorted(set(wanted))
        keys = self.index.wrapped_keys(sorted({s for s, _ in pairs}))
        sealed = self.index.sealed_fields([p for p in pairs if p[0] in keys])
        return {(s, f): self.vault.open(keys[s], s, f, value) for (s, f), value in sealed.items()}

    def personal_data(self, subject_id: UUID) -> dict[str, str]:
        """Decrypt a subject's vault fields (empty once the key is erased)."""
        key = self.index.wrapped_keys([subject_id]).get(subject_id)
        if key is None:
            return {}
        return {
            name: self.vault.open(key, subject_id, name, sealed)
            for name, sealed in self.index.sealed_values(subject_id).items()
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
        with self._write_lock:
            for attempt in range(MAX_ATTEMPTS):
                if outcome_key in self.index.known_event_keys([outcome_key]):
                    return False
                customer = cast(Customer, self.repository.get(customer_id))
                if failure is None:
                    customer.record_welcome_sent(staff_id, template_id, gateway_message_id or "",
                                                 "system", occurred_at)
                else:
                    customer.record_welcome_failed(staff_id, failure, "system", occurred_at)
                try:
                    self.save(customer, side_writes=SideWrites(
                        event_keys=[(outcome_key, customer_id)]))
                    return True
                except IntegrityError:
                    self._evict([customer_id])
                    if attempt == MAX_ATTEMPTS - 1:
                        raise
                except BaseException:
                    self._evict([customer_id])
                    raise
        return False  # pragma: no cover

    # -- staff -------------------------------------------------------------------
    def hire_staff(self, role: str, department: str, display_name: str, by: str,
                   occurred_at: datetime, wecom_user_id: str | None = None) -> UUID:
        staff = Staff.hire(role, department, by, occurred_at, wecom_user_id)
        batch = _Batch()
        with self._write_lock:
            self._new_key(staff.id, batch)
            self._seal(staff.id, "display_name", display_name, batch)
            self.save(staff, side_writes=batch.writes)
        return staff.id

    def leave_staff(self, staff_id: UUID, by: str, occurred_at: datetime) -> None:
        with self._write_lock:
            try:
                staff = cast(Staff, self.repository.get(staff_id))
            except Exception as error:  # AggregateNotFoundError
                raise UnknownStaff(f"no staff member {staff_id}", field="staffId") from error
            if not isinstance(staff, Staff):
                raise UnknownStaff(f"no staff member {staff_id}", field="staffId")
            staff.leave(by, occurred_at)
            self.save(staff)
