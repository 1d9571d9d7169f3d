"""One unit of work, and the one ``transact`` every command goes through.

Writes are serialised per process (one lock) and grouped per unit of work: a
command (or a batch of ingested items) is decided against cached aggregates and
committed in **one** transaction, together with the side rows (identity index,
client event ids, personal-data vault, tag claims) that must never disagree with
the events.

A stale cache (another process appended to the same stream) shows up as a
uniqueness conflict at commit (``IntegrityError``): the unit's aggregates are
then evicted and the command is decided again from the store, after a short
jittered pause, a bounded number of times. So does a pooled connection whose
prepared statements the server no longer has ("prepared statement … does not
exist": psycopg forgets the statement when the server says so, and the next
attempt prepares it again). A conflict that outlasts every attempt is a typed
:class:`WriteConflict` (``WRITE_CONFLICT``, retry later), never an unexpected
error. Because client event ids are committed with the events, a retried batch
after an ambiguous commit reports the already stored items as duplicates instead
of storing them twice.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar, cast
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
)
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    ApplicationRecorder,
    IntegrityError,
    JSONTranscoder,
    ProgrammingError,
    StoredEvent,
    Transcoder,
)

from application import aggregate_cache, unit_rows
from application.event_encoding import FastStorableTranscoder, SetAsList
from domain.campaign import Campaign
from domain.customer import Customer
from domain.errors import DomainError
from domain.ports import IngestIndex, SealedValue, SideWrites, TagIndex, Vault, WrappedKey
from domain.recording import Recorder
from domain.referral import ReferralCampaign
from domain.segment import Segment
from domain.staff import Staff

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T", bound=Aggregate)
R = TypeVar("R")

#: Attempts of one command before a storage conflict is raised to the caller.
MAX_ATTEMPTS = 8
#: The pause before the n-th retry is uniform in [0, BACKOFF * 2**(n-1)], at most BACKOFF_MAX:
#: long enough to let the other writer commit, short enough not to be felt.
BACKOFF = 0.002
BACKOFF_MAX = 0.05
#: Streams up to this long are replayed in bulk by ``prefetch`` (snapshots come every 100).
PREFETCH_LONGEST = 100

sleep = time.sleep  # a test replaces it to observe the backoff
log = logging.getLogger(__name__)
#: SQLSTATE of "prepared statement … does not exist".
STALE_PREPARED = "26000"


class WriteConflict(DomainError, IntegrityError):
    """Other writers kept changing the same records through every attempt: nothing
    was stored; retry later. (An ``IntegrityError`` too, for callers that tell a
    concurrent duplicate from a conflict.)"""

    code = "WRITE_CONFLICT"


def is_stale_prepared(error: BaseException) -> bool:
    """A pooled connection used a prepared statement the server does not have."""
    seen = 0
    current: BaseException | None = error
    while current is not None and seen < 5:
        if getattr(current, "sqlstate", None) == STALE_PREPARED:
            return True
        current = current.__cause__ or current.__context__
        seen += 1
    return False


def backoff(attempt: int) -> float:
    """The jittered pause after failed attempt number ``attempt`` (1-based)."""
    return random.uniform(0, min(BACKOFF_MAX, BACKOFF * 2 ** (attempt - 1)))  # noqa: S311


@dataclass(slots=True)
class UnitOfWork(Generic[T]):
    """Working state of one attempt at a command: what is saved together.

    ``kind`` is the aggregate type the command works on (``load`` returns it);
    other aggregates saved in the same transaction are ``add``-ed and come back
    typed from ``held``, never cast.
    """

    kind: type[T]
    aggregates: dict[UUID, Aggregate] = field(default_factory=dict)
    writes: SideWrites = field(default_factory=SideWrites)
    new_owners: dict[str, UUID] = field(default_factory=dict)  # blind -> new customer
    created_by: dict[UUID, int] = field(default_factory=dict)  # new customer -> item index
    key_cache: dict[UUID, bytes] = field(default_factory=dict)
    fresh: set[UUID] = field(default_factory=set)  # cache entries checked against the store
    checked: dict[UUID, object] = field(default_factory=dict)  # found current, till loaded
    lexicon_checked: bool = False  # the lexicon's stored version was read for this unit
    abandoned: bool = False  # decided, but nothing is to be saved (an atomic batch refused)
    rows: dict[UUID, list[StoredEvent]] = field(default_factory=dict)  # facts, as stored

    def add(self, aggregate: A) -> A:
        """Save ``aggregate`` with this unit."""
        self.aggregates[aggregate.id] = aggregate
        return aggregate

    def held(self, aggregate_id: UUID, kind: type[A]) -> A | None:
        """The aggregate this unit holds under ``aggregate_id``, if it is a ``kind``."""
        found = self.aggregates.get(aggregate_id)
        return found if isinstance(found, kind) else None


def replay(aggregate: Any, events: Iterable[Any]) -> Any:
    """The library's ``project_aggregate`` without its runtime protocol check per event:
    on Python 3.11 the check cost more than the event's own ``mutate`` (a cold stream
    replays up to a snapshot interval of events; every snapshot taken replays as many)."""
    for domain_event in events:
        aggregate = domain_event.mutate(aggregate)
    return aggregate


class EventStore(Application[UUID]):
    """The event log and its caches, as the commands use them; the single writer."""

    name = "Siyu"
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {Customer: 100, Staff: 100,
                                                              Segment: 100, Campaign: 100,
                                                              ReferralCampaign: 100}
    snapshotting_projectors: ClassVar[dict[type[Any], Any]] = {
        kind: replay for kind in snapshotting_intervals}
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
        self.write_lock = threading.RLock()

    def construct_recorder(self) -> ApplicationRecorder:
        if self._given_recorder is not None:
            return self._given_recorder
        return super().construct_recorder()

    def save_unit(self, unit: UnitOfWork[Any]) -> int | None:
        """What ``save`` does for the unit's aggregates, with its facts' rows among their
        events (:mod:`application.unit_rows`): one insert, the cache, the snapshots due.
        Returns the last position stored (None: nothing)."""
        records = unit_rows.stored_records(unit.aggregates, unit.rows, self.mapper)
        positions = self.recorder.insert_events(records, side_writes=unit.writes)
        if not self.repository.fastforward:
            aggregate_cache.put_all(self.repository.cache, unit.aggregates)
        for record in records:
            aggregate = unit.aggregates[cast(UUID, record.originator_id)]
            interval = self.snapshotting_intervals.get(type(aggregate))
            if interval and self.snapshots and record.originator_version % interval == 0:
                self.take_snapshot(aggregate.id, record.originator_version,
                                   self.snapshotting_projectors[type(aggregate)])
        return max(positions) if positions else None

    def append_fact(self, unit: UnitOfWork[Any], aggregate: Aggregate,
                    kind: type[Aggregate.Event], **fields: Any) -> None:
        """Record the fact ``kind(**fields)`` on ``aggregate`` as a stored row, without an
        event object (a store that compresses or encrypts triggers the event)."""
        if self.mapper.cipher is not None or self.mapper.compressor is not None:
            Aggregate.trigger_event(aggregate, kind, **fields)
            return
        unit.rows.setdefault(aggregate.id, []).append(
            unit_rows.fact_row(self.mapper.transcoder, aggregate, kind, fields))

    def row_recorder(self, unit: UnitOfWork[Any]) -> Recorder | None:
        """Records a command's events on ``unit`` as rows (None: as event objects)."""
        return unit_rows.recorder(self.mapper, unit.rows, unit.aggregates)

    def construct_transcoder(self) -> Transcoder:
        transcoder = FastStorableTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(SetAsList())

    @property
    def index(self) -> IngestIndex:
        return cast(IngestIndex, self.recorder)

    @property
    def tag_index(self) -> TagIndex:
        return cast(TagIndex, self.recorder)

    # -- the one transaction helper ----------------------------------------------------
    def transact(self, kind: type[T], decide: Callable[[UnitOfWork[T]], R], *,
                 attempts: int = MAX_ATTEMPTS) -> tuple[R, int | None]:
        """Decide against cached aggregates and save the unit once: ``decide``'s result and
        the log position of the last event saved (None: nothing recorded).

        On a storage conflict (or a stale prepared statement) the unit's aggregates are
        evicted and ``decide`` runs again on a new unit, after a short jittered pause,
        up to ``attempts`` times in all, then :class:`WriteConflict` is raised; any other
        error evicts them too and propagates.
        """
        for attempt in range(1, attempts + 1):
            with self.write_lock:
                unit = UnitOfWork(kind)
                try:
                    result = decide(unit)
                    if unit.abandoned:
                        self.evict(unit.aggregates)
                        return result, None
                    if not unit.aggregates and not unit.writes:
                        return result, None
                    return result, self.save_unit(unit)
                except IntegrityError as error:
                    self.evict(unit.aggregates)
                    if attempt == attempts:
                        if attempts == 1 or isinstance(error, WriteConflict):
                            raise  # the caller tells a duplicate from a conflict
                        raise WriteConflict("other writers changed the same records; "
                                            "nothing was stored, retry") from error
                except ProgrammingError as error:
                    self.evict(unit.aggregates)
                    if not is_stale_prepared(error):
                        raise
                    log.warning("a pooled connection lost its prepared statements; retrying")
                    if attempt == attempts:
                        raise WriteConflict("the write could not be completed; nothing was "
                                            "stored, retry") from error
                except BaseException:
                    self.evict(unit.aggregates)
                    raise
            sleep(backoff(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def once(self, event_key: str, kind: type[T], decide: Callable[[UnitOfWork[T]], object]
             ) -> bool:
        """``transact`` once per ``event_key`` (``decide`` records the key): False if known."""
        with self.write_lock:
            if event_key in self.index.known_event_keys([event_key]):
                return False
            try:
                self.transact(kind, decide)
            except IntegrityError:
                if event_key in self.index.known_event_keys([event_key]):
                    return False  # recorded concurrently
                raise
            return True

    # -- reading aggregates ----------------------------------------------------------------
    def find(self, aggregate_id: UUID, kind: type[A], *, fresh: bool = False) -> A | None:
        """The stored ``kind`` with this id (None: absent or another kind). With ``fresh``
        the cache is bypassed: for aggregates changed rarely, from any process."""
        if fresh:
            self.evict([aggregate_id])
        found = self._cached_or_stored(aggregate_id)
        return found if isinstance(found, kind) else None

    def _cached_or_stored(self, aggregate_id: UUID) -> object:
        """The aggregate from the cache, or rebuilt from its latest snapshot and the events
        after it, read in one round trip (then cached); None when there is no such stream."""
        cache = self.repository.cache
        if cache is not None:
            with contextlib.suppress(KeyError):
                return cache.get(aggregate_id)
        found = replay(None, map(self.mapper.to_domain_event,
                                 self.index.stream_tail(aggregate_id)))
        if found is not None and cache is not None:
            cache.put(aggregate_id, found)
        return found

    def load(self, unit: UnitOfWork[T], aggregate_id: UUID) -> T:
        """The unit's ``kind`` with this id, from the unit, the checked cache or the store.

        Raises ``AggregateNotFoundError`` when there is none (or another kind).
        """
        held = unit.held(aggregate_id, unit.kind)
        if held is not None:
            return held
        if aggregate_id not in unit.fresh:
            self.drop_stale([aggregate_id], unit)
        found = unit.checked.pop(aggregate_id, None)
        if found is None:
            found = self._cached_or_stored(aggregate_id)
        if not isinstance(found, unit.kind):
            raise AggregateNotFoundError(aggregate_id)
        unit.aggregates[aggregate_id] = found
        return found

    def drop_stale(self, aggregate_ids: Iterable[UUID], unit: UnitOfWork[Any], *,
                   stored: Mapping[UUID, int] | None = None) -> None:
        """Evict cached aggregates another process has appended to (one query, none if
        ``stored`` already has their latest versions, read with the batch's look-ups); the
        current ones are kept for ``load``. A stale aggregate that leads to a new event
        fails at commit (a version conflict) and is decided again; one that leads to *no*
        event (``untag`` of a tag it does not know was given) would silently do nothing."""
        cache = self.repository.cache
        wanted = set(aggregate_ids) - unit.fresh
        unit.fresh |= wanted
        if cache is None or not wanted:
            return
        cached = aggregate_cache.get_all(cache, wanted)
        if not cached:
            return
        if stored is None:
            stored = self.index.stream_versions(sorted(cached))
        stale = {i for i, aggregate in cached.items() if stored.get(i, 0) != aggregate.version}
        self.evict(stale)
        unit.checked.update((i, a) for i, a in cached.items() if i not in stale)

    def prefetch(self, aggregate_ids: Iterable[UUID], unit: UnitOfWork[Any]) -> None:
        """Bring many aggregates into the cache at once: stale ones are dropped (one
        query), missing ones with short streams are replayed from one query. Longer
        streams are left to ``load`` (snapshots). Saving checks versions as ever."""
        wanted = set(aggregate_ids)
        self.drop_stale(wanted, unit)
        cache = self.repository.cache
        if cache is None:
            return
        missing = [i for i in sorted(wanted - set(unit.aggregates)) if not self.cached(i)]
        self.cache_streams(self.index.short_streams(missing, PREFETCH_LONGEST))

    def cached(self, aggregate_id: UUID) -> bool:
        return aggregate_id in aggregate_cache.ids(self.repository.cache)

    def cache_streams(self, streams: Mapping[UUID, Iterable[StoredEvent]]) -> None:
        """Cache the aggregates these stored records (a snapshot, then events) rebuild."""
        cache = self.repository.cache
        for aggregate_id, stored in streams.items():
            aggregate = replay(None, map(self.mapper.to_domain_event, stored))
            if aggregate is not None and cache is not None:
                cache.put(aggregate_id, aggregate)

    def evict(self, aggregate_ids: Iterable[UUID]) -> None:
        cache = self.repository.cache
        if cache is None:
            return
        for aggregate_id in aggregate_ids:
            with contextlib.suppress(KeyError):
                cache.get(aggregate_id, evict=True)

    # -- personal data ----------------------------------------------------------------------
    def new_key(self, subject_id: UUID, unit: UnitOfWork[Any]) -> None:
        """A fresh subject has no key yet: make one without asking the store."""
        key = self.vault.new_wrapped_key()
        unit.writes.keys.append(WrappedKey(subject_id, key))
        unit.key_cache[subject_id] = key

    def seal(self, subject_id: UUID, name: str, value: str, unit: UnitOfWork[Any]) -> None:
        """Encrypt ``value`` under the subject's key, stored with the unit."""
        key = unit.key_cache.get(subject_id)
        if key is None:
            key = self.index.wrapped_keys([subject_id]).get(subject_id)
            if key is None:
                key = self.vault.new_wrapped_key()
                unit.writes.keys.append(WrappedKey(subject_id, key))
            unit.key_cache[subject_id] = key
        sealed = self.vault.seal(key, subject_id, name, value)
        unit.writes.sealed.append(SealedValue(subject_id, name, sealed))
