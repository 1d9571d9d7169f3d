"""What the application needs from storage beyond the event store itself.

Both the PostgreSQL recorder and the in-memory recorder implement
:class:`IngestIndex`; the rows in :class:`SideWrites` are written in the same
transaction as the events they accompany.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol
from uuid import UUID

from eventsourcing.persistence import StoredEvent


@dataclass(frozen=True, slots=True)
class SealedValue:
    """One encrypted personal-data field of one subject (customer or staff)."""

    subject_id: UUID
    field: str
    ciphertext: bytes


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A subject's data key, encrypted with the deployment's master key."""

    subject_id: UUID
    wrapped: bytes


@dataclass(frozen=True, slots=True)
class TagClaim:
    """A tag held by a tag group. Among live groups a tag has one claim at most."""

    tag: str
    group_id: UUID
    exclusive: bool
    live: bool = True


@dataclass(slots=True)
class SideWrites:
    """Rows committed atomically with a batch of events."""

    identities: list[tuple[str, str, UUID]] = field(default_factory=list)  # blind, ns, owner
    event_keys: list[tuple[str, UUID]] = field(default_factory=list)  # client event id, customer
    keys: list[WrappedKey] = field(default_factory=list)
    sealed: list[SealedValue] = field(default_factory=list)
    reowned: list[tuple[str, UUID]] = field(default_factory=list)  # blind, new owner (after inserts)
    merges: list[tuple[UUID, UUID]] = field(default_factory=list)  # absorbed, survivor
    unmerges: list[UUID] = field(default_factory=list)  # absorbed ids released
    tag_claims: list[TagClaim] = field(default_factory=list)  # conflict: tag in a live group
    tag_releases: list[tuple[str, UUID]] = field(default_factory=list)  # tag, group (before claims)
    archived_groups: list[UUID] = field(default_factory=list)  # their claims are no longer live
    #: Subjects erased (PIPL): their vault keys and values and their blind-index entries
    #: are deleted, after every other write of the batch.
    erased: list[UUID] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.identities or self.event_keys or self.keys or self.sealed
                    or self.reowned or self.merges or self.unmerges or self.tag_claims
                    or self.tag_releases or self.archived_groups or self.erased)


@dataclass(frozen=True, slots=True)
class BatchLookup:
    """What a batch of ingested items reads before it decides, read at once."""

    event_keys: Mapping[str, UUID]  # keys already stored, with their customer
    owners: Mapping[str, UUID]  # blind index -> customer owning it
    versions: Mapping[UUID, int]  # latest stored version of each owner with events
    #: Owners asked for (``tails_of``): their latest snapshot and the events after it.
    tails: Mapping[UUID, Sequence[StoredEvent]] = field(default_factory=dict)


class IngestIndex(Protocol):
    """Look-ups the ingestion path makes before it decides."""

    def batch_lookup(self, event_keys: Sequence[str], blind_indexes: Sequence[str],
                     tails_of: Sequence[str] = ()) -> BatchLookup:
        """``known_event_keys`` and ``owners_of`` together, with the owners' stream
        versions (to drop stale cached customers), and the ``stream_tail`` of the owners
        of ``tails_of`` (customers the caller has not cached): one round trip for a whole
        batch."""

    def owners_of(self, blind_indexes: Sequence[str]) -> Mapping[str, UUID]:
        """Customer owning each known blind index."""

    def known_event_keys(self, keys: Sequence[str]) -> Mapping[str, UUID]:
        """Client event ids already recorded, with the customer they were recorded on."""

    def legacy_event_keys(self, event_ids: Sequence[str]) -> Mapping[str, tuple[UUID, str | None]]:
        """Event ids stored bare (before ids were scoped per source): the customer each was
        recorded on and the source (``by``) that recorded it, None if that cannot be told."""

    def wrapped_keys(self, subject_ids: Sequence[UUID]) -> Mapping[UUID, bytes]:
        """Wrapped data keys of the given subjects (missing: none yet, or erased)."""

    def sealed_values(self, subject_id: UUID) -> Mapping[str, bytes]:
        """All sealed personal-data fields of one subject."""

    def sealed_fields(self, fields: Sequence[tuple[UUID, str]]
                      ) -> Mapping[tuple[UUID, str], bytes]:
        """The sealed value of each (subject, field) asked for (absent: none stored)."""

    def short_streams(self, stream_ids: Sequence[UUID], longest: int
                      ) -> Mapping[UUID, Sequence[StoredEvent]]:
        """Every stored event, in order, of each stream with at most ``longest`` events;
        longer and empty streams are left out (load those one by one, from snapshots)."""

    def stream_versions(self, stream_ids: Sequence[UUID]) -> Mapping[UUID, int]:
        """The latest stored version of each stream (absent: no events)."""

    def stream_tail(self, stream_id: UUID) -> Sequence[StoredEvent]:
        """What rebuilds one stream, read at once: its latest snapshot (where this store
        keeps snapshots) and every event after it, in order (empty: no such stream)."""


class TagIndex(Protocol):
    """The tag library's claims, as committed with the tag groups' events."""

    def tag_claims(self, tags: Sequence[str]) -> Sequence[TagClaim]:
        """Claims on these tags by groups, live or archived (a tag with none is free)."""

    def group_claims(self, group_ids: Sequence[UUID]) -> Sequence[TagClaim]:
        """Every tag of these groups."""


class Vault(Protocol):
    """Encrypts personal data with a per-subject key (crypto lives outside the domain)."""

    def new_wrapped_key(self) -> bytes: ...

    def seal(self, wrapped_key: bytes, subject_id: UUID, field: str, value: str) -> bytes: ...

    def open(self, wrapped_key: bytes, subject_id: UUID, field: str, sealed: bytes) -> str: ...
