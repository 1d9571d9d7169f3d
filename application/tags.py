"""Tags: the tag library (tag groups, 标签组) and the tags customers hold.

**A tag belongs to at most one live group.** Groups are separate aggregates, so
the rule spans streams: each group's tags are *claimed* in a side table
(``siyu_tag_claim``, a unique index on the tag among live claims) written in the
same transaction as the group's events. A claim made concurrently by another
process makes the commit fail; the command then decides again and refuses with
``TAG_IN_OTHER_GROUP``. The same claims tell :meth:`Tags.tag` which group a tag
belongs to, whether it is exclusive and whether it was archived, fresh from the
store rather than from a possibly stale aggregate cache.

Tags in no group are *free* (as ``TAGGED`` ingestion records them) and stay
allowed. Tags of an archived group can be removed from customers, not given.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from application.customers import MAX_MERGE_DEPTH, existing, survivor
from application.unit_of_work import EventStore, UnitOfWork
from domain.customer import Customer
from domain.errors import (
    ExclusiveTagConflict,
    InvalidInput,
    TagGroupArchived,
    TagInOtherGroup,
    UnknownTagGroup,
)
from domain.ports import TagClaim, TagIndex
from domain.tag_group import TagGroup, check_tags, exclusive_reason

REASON_MAX = 128


class Tags:
    """Tag groups and manual tagging of customers."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    # -- the tag library ---------------------------------------------------------------
    def create_group(self, name: str, tags: Sequence[str], exclusive: bool, by: str,
                     occurred_at: datetime) -> tuple[UUID, int | None]:
        """Create a group; returns its id and the log position."""
        def decide(unit: UnitOfWork[TagGroup]) -> UUID:
            group = unit.add(TagGroup.create(name, tags, exclusive, by, occurred_at))
            _refuse_claimed(self.store.tag_index, group.tags, group.id)
            unit.writes.tag_claims += [TagClaim(t, group.id, exclusive) for t in group.tags]
            return group.id

        return self.store.transact(TagGroup, decide)

    def rename_group(self, group_id: UUID, name: str, by: str,
                     occurred_at: datetime) -> int | None:
        def decide(unit: UnitOfWork[TagGroup]) -> None:
            self._group(group_id, unit).rename(name, by, occurred_at)

        return self.store.transact(TagGroup, decide)[1]

    def add_to_group(self, group_id: UUID, tags: Sequence[str], by: str,
                     occurred_at: datetime) -> int | None:
        def decide(unit: UnitOfWork[TagGroup]) -> None:
            group = self._group(group_id, unit)
            labels = check_tags(tags)
            _refuse_claimed(self.store.tag_index, labels, group.id)
            new = group.add_tags(labels, by, occurred_at)
            unit.writes.tag_claims += [TagClaim(t, group.id, group.exclusive) for t in new]

        return self.store.transact(TagGroup, decide)[1]

    def remove_from_group(self, group_id: UUID, tag: str, by: str,
                          occurred_at: datetime) -> int | None:
        """Remove a tag from a group; customers keep it, as a free tag."""
        def decide(unit: UnitOfWork[TagGroup]) -> None:
            group = self._group(group_id, unit)
            if group.remove_tag(tag, by, occurred_at):
                unit.writes.tag_releases.append((tag.strip(), group.id))

        return self.store.transact(TagGroup, decide)[1]

    def archive_group(self, group_id: UUID, by: str, occurred_at: datetime) -> int | None:
        """Archive a group: its tags can no longer be given (customers keep theirs)."""
        def decide(unit: UnitOfWork[TagGroup]) -> None:
            group = self._group(group_id, unit)
            if group.archive(by, occurred_at):
                unit.writes.archived_groups.append(group.id)

        return self.store.transact(TagGroup, decide)[1]

    def _group(self, group_id: UUID, unit: UnitOfWork[TagGroup]) -> TagGroup:
        group = self.store.find(group_id, TagGroup)
        if group is None:
            raise UnknownTagGroup(f"no tag group {group_id}", field="groupId")
        return unit.add(group)  # saved with the unit

    # -- customers' tags -----------------------------------------------------------------
    def tag(self, customer_id: UUID, tags: Sequence[str], by: str, reason: str,
            occurred_at: datetime, event_key: str | None = None) -> int | None:
        """Give tags to a customer; in an exclusive group, the tag replaces the one held.

        Refused: a tag only archived groups hold (``TAG_GROUP_ARCHIVED``), two tags
        of one exclusive group (``EXCLUSIVE_TAG_CONFLICT``).
        """
        labels = check_tags(tags)
        why = _check_reason(reason)
        index = self.store.tag_index

        def decide(unit: UnitOfWork[Customer]) -> None:
            streams = self._customer_streams(customer_id, unit)
            claims = index.tag_claims(labels)
            live = {c.tag: c for c in claims if c.live}
            archived = sorted({c.tag for c in claims if not c.live} - set(live))
            if archived:
                raise TagGroupArchived(f"tags of archived groups cannot be given: {archived}",
                                       field="tags")
            exclusive: dict[UUID, str] = {}
            for tag in labels:
                claim = live.get(tag)
                if claim is None or not claim.exclusive:
                    continue
                if claim.group_id in exclusive:
                    raise ExclusiveTagConflict(
                        f"{exclusive[claim.group_id]!r} and {tag!r} are of one exclusive group: "
                        "a customer holds at most one", field="tags")
                exclusive[claim.group_id] = tag
            for sibling in index.group_claims(sorted(exclusive)):
                if sibling.tag != exclusive[sibling.group_id]:
                    _untag(streams, sibling.tag, by, exclusive_reason(sibling.group_id),
                           occurred_at)
            first = streams[0]
            for tag in labels:
                if not any(tag in s.tags for s in streams):
                    first.tag(tag, by, occurred_at, why)
            if event_key is not None:  # recorded with the tags: a second call stores nothing
                unit.writes.event_keys.append((event_key, first.id))

        return self.store.transact(Customer, decide)[1]

    def apply_auto_tag(self, segment_id: UUID, customer_id: UUID, tag: str,
                       occurred_at: datetime) -> bool:
        """Tag a customer who entered an auto-tag segment, once per (segment, customer):
        a tag removed by hand later is not given again by the same rule."""
        key = f"autotag:{segment_id}:{customer_id}"
        index = self.store.index
        if key in index.known_event_keys([key]):
            return False
        try:
            self.tag(customer_id, [tag], "system", f"rule:{segment_id}", occurred_at,
                     event_key=key)
        except IntegrityError:
            if key in index.known_event_keys([key]):
                return False  # applied concurrently
            raise
        return True

    def untag(self, customer_id: UUID, tags: Sequence[str], by: str, reason: str,
              occurred_at: datetime) -> int | None:
        """Remove tags from a customer (those it does not hold are ignored)."""
        labels = check_tags(tags)
        why = _check_reason(reason)

        def decide(unit: UnitOfWork[Customer]) -> None:
            streams = self._customer_streams(customer_id, unit)
            for tag in labels:
                _untag(streams, tag, by, why, occurred_at)

        return self.store.transact(Customer, decide)[1]

    def _customer_streams(self, customer_id: UUID, unit: UnitOfWork[Customer]
                          ) -> list[Customer]:
        """The customer as a OneID group: its survivor first, then every customer absorbed.

        A merged-away id leads to its survivor (as ``customer(id:)`` does). Tags an
        absorbed customer brought show on the survivor's profile, so they are
        looked for, and removed, on the stream that holds them.
        """
        streams = [survivor(self.store, unit, customer_id, "customerId")]
        seen = 0
        while seen < len(streams) and len(streams) <= MAX_MERGE_DEPTH:
            absorbed = streams[seen].absorbed
            streams += [existing(self.store, unit, UUID(a), "customerId") for a in absorbed]
            seen += 1
        return streams


def _check_reason(reason: str) -> str:
    why = reason.strip()
    if not 1 <= len(why) <= REASON_MAX:
        raise InvalidInput(f"reason must be 1-{REASON_MAX} characters", field="reason")
    return why


def _refuse_claimed(index: TagIndex, tags: Sequence[str], group_id: UUID) -> None:
    taken = sorted(c.tag for c in index.tag_claims(tags) if c.live and c.group_id != group_id)
    if taken:
        raise TagInOtherGroup(f"already in another live tag group: {taken}", field="tags")


def _untag(streams: Sequence[Customer], tag: str, by: str, reason: str,
           occurred_at: datetime) -> None:
    for stream in streams:
        stream.untag(tag, by, occurred_at, reason)
