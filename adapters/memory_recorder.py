"""The in-memory recorder: the twin of :class:`adapters.recorders.SiyuPostgresRecorder`.

It keeps the ingestion side tables (identity blind index, client event ids, vault keys,
sealed values, merges, tag claims) in dictionaries and checks them under the same lock
that inserts the events, so a conflicting write raises ``IntegrityError`` as PostgreSQL
would, and unit tests exercise the same retry path without a database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder

from domain.ports import BatchLookup, SideWrites, TagClaim


class SiyuMemoryRecorder(POPOApplicationRecorder):
    """In-memory twin of :class:`SiyuPostgresRecorder` for fast unit tests."""

    def __init__(self) -> None:
        super().__init__()
        self.identities: dict[str, tuple[str, UUID]] = {}
        self.event_keys: dict[str, UUID] = {}
        self.vault_keys: dict[UUID, bytes] = {}
        self.sealed: dict[UUID, dict[str, bytes]] = {}
        self.merges: dict[UUID, UUID] = {}  # absorbed -> survivor
        self.claims: dict[tuple[str, UUID], TagClaim] = {}

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        writes: SideWrites | None = kwargs.get("side_writes")
        with self._database_lock:
            if writes:
                self._check_side(writes)
            ids = self._insert_events(stored_events, **kwargs)  # raises on version conflict
            if writes:
                self._write_side(writes)
        self._notify_listeners()
        return ids

    def _check_side(self, writes: SideWrites) -> None:
        if any(blind in self.identities for blind, _, _ in writes.identities):
            raise IntegrityError("identity already indexed")
        if any(key in self.event_keys for key, _ in writes.event_keys):
            raise IntegrityError("event key already recorded")
        if any(k.subject_id in self.vault_keys for k in writes.keys):
            raise IntegrityError("vault key already exists")
        if any(a in self.merges and a not in writes.unmerges for a, _ in writes.merges):
            raise IntegrityError("customer already merged")
        released = set(writes.tag_releases)
        live = {c.tag for key, c in self.claims.items() if c.live and key not in released
                and c.group_id not in writes.archived_groups}
        claimed = [c.tag for c in writes.tag_claims]
        if len(set(claimed)) < len(claimed) or live.intersection(claimed):
            raise IntegrityError("tag already claimed by a live group")

    def _write_side(self, writes: SideWrites) -> None:
        for blind, namespace, owner in writes.identities:
            self.identities[blind] = (namespace, owner)
        self.event_keys.update(writes.event_keys)
        self.vault_keys.update({k.subject_id: k.wrapped for k in writes.keys})
        for sealed in writes.sealed:
            self.sealed.setdefault(sealed.subject_id, {})[sealed.field] = sealed.ciphertext
        for blind, owner in writes.reowned:
            self.identities[blind] = (self.identities[blind][0], owner)
        for absorbed in writes.unmerges:
            self.merges.pop(absorbed, None)
        self.merges.update(writes.merges)
        for key in writes.tag_releases:
            self.claims.pop(key, None)
        for key, claim in list(self.claims.items()):
            if claim.group_id in writes.archived_groups:
                self.claims[key] = TagClaim(claim.tag, claim.group_id, claim.exclusive, False)
        self.claims.update({(c.tag, c.group_id): c for c in writes.tag_claims})
        erased = set(writes.erased)
        for blind, (_, owner) in list(self.identities.items()):
            if owner in erased:
                del self.identities[blind]
        for subject in erased:
            self.vault_keys.pop(subject, None)
            self.sealed.pop(subject, None)

    def batch_lookup(self, event_keys: Sequence[str], blind_indexes: Sequence[str],
                     tails_of: Sequence[str] = ()) -> BatchLookup:
        owners = self.owners_of(blind_indexes)
        tails = {owner: self.stream_tail(owner) for owner in self.owners_of(tails_of).values()}
        return BatchLookup(self.known_event_keys(event_keys), owners,
                           self.stream_versions(sorted(set(owners.values()))), tails)

    def owners_of(self, blind_indexes: Sequence[str]) -> Mapping[str, UUID]:
        return {b: self.identities[b][1] for b in blind_indexes if b in self.identities}

    def known_event_keys(self, keys: Sequence[str]) -> Mapping[str, UUID]:
        return {k: self.event_keys[k] for k in keys if k in self.event_keys}

    def legacy_event_keys(self, event_ids: Sequence[str]) -> Mapping[str, tuple[UUID, str | None]]:
        # A memory store starts empty: it never holds ids stored before they were scoped.
        return {}

    def wrapped_keys(self, subject_ids: Sequence[UUID]) -> Mapping[UUID, bytes]:
        return {s: self.vault_keys[s] for s in subject_ids if s in self.vault_keys}

    def sealed_values(self, subject_id: UUID) -> Mapping[str, bytes]:
        return dict(self.sealed.get(subject_id, {}))

    def sealed_fields(self, fields: Sequence[tuple[UUID, str]]
                      ) -> Mapping[tuple[UUID, str], bytes]:
        return {(s, f): self.sealed[s][f] for s, f in fields
                if f in self.sealed.get(s, {})}

    def short_streams(self, stream_ids: Sequence[UUID], longest: int
                      ) -> Mapping[UUID, Sequence[StoredEvent]]:
        streams: dict[UUID, Sequence[StoredEvent]] = {}
        for stream_id in stream_ids:
            events = self.select_events(stream_id)
            if 0 < len(events) <= longest:
                streams[stream_id] = events
        return streams

    def stream_tail(self, stream_id: UUID) -> Sequence[StoredEvent]:
        # The application keeps a memory store's snapshots elsewhere: every event rebuilds.
        return self.select_events(stream_id)

    def stream_versions(self, stream_ids: Sequence[UUID]) -> Mapping[UUID, int]:
        with self._database_lock:  # the index, not select_events: nothing is read back
            return {s: max(versions) for s in stream_ids
                    if (versions := self._stored_events_index.get(str(s)))}

    def tag_claims(self, tags: Sequence[str]) -> Sequence[TagClaim]:
        wanted = set(tags)
        return sorted((c for c in self.claims.values() if c.tag in wanted),
                      key=lambda c: (c.tag, str(c.group_id)))

    def group_claims(self, group_ids: Sequence[UUID]) -> Sequence[TagClaim]:
        wanted = set(group_ids)
        return sorted((c for c in self.claims.values() if c.group_id in wanted),
                      key=lambda c: (str(c.group_id), c.tag))
