"""Commands on the tag library (tag groups) and on the tags customers hold.

Mixed into :class:`domain.application.CustomerOperations`: every command
decides inside its ``_transact`` (write lock, one transaction, retried on a
storage conflict) against the aggregates and the tag claims.

**A tag belongs to at most one live group.** Groups are separate aggregates, so
the rule spans streams: each group's tags are *claimed* in a side table
(``siyu_tag_claim``, a unique index on the tag among live claims) written in the
same transaction as the group's events. A claim made concurrently by another
process makes the commit fail; the command then decides again and refuses with
``TAG_IN_OTHER_GROUP``. The same claims tell ``tag_customer`` which group a tag
belongs to, whether it is exclusive and whether it was archived, fresh from the
store rather than from a possibly stale aggregate cache.

Tags in no group are *free* (as ``TAGGED`` ingestion records them) and stay
allowed. Tags of an archived group can be removed from customers, not given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Repository
from eventsourcing.persistence import IntegrityError

from domain.customer import Customer
from domain.errors import (
    ExclusiveTagConflict,
    InvalidInput,
    TagGroupArchived,
    TagInOtherGroup,
    UnknownTagGroup,
)
from domain.ports import TagClaim, TagIndex
from domain.tag_group import TagGroup, check_tags

if TYPE_CHECKING:
    from domain.application import _Batch

REASON_MAX = 128
#: How far a merged customer's ids are followed to the survivor (merges form a tree).
MAX_MERGE_DEPTH = 64


def exclusive_reason(group_id: UUID) -> str:
    """Why a tag was removed: another tag of its exclusive group replaced it."""
    return f"exclusive:{group_id}"


class _Host(Protocol):
    """What the commands use of the application they are mixed into."""

    @property
    def repository(self) -> Repository[UUID]: ...

    @property
    def recorder(self) -> Any: ...

    def _transact(self, decide: Callable[[_Batch], None]) -> int | None: ...

    def _existing(self, customer_id: UUID, batch: _Batch, field: str) -> Customer: ...


class TaggingCommands:
    """Tag groups (标签组) and manual tagging of customers."""

    # -- the tag library ---------------------------------------------------------------
    def create_tag_group(self: _Host, name: str, tags: Sequence[str], exclusive: bool, by: str,
                         occurred_at: datetime) -> tuple[UUID, int | None]:
        """Create a group; returns its id and the log position."""
        created: list[UUID] = []

        def decide(batch: _Batch) -> None:
            group = TagGroup.create(name, tags, exclusive, by, occurred_at)
            _refuse_claimed(_index(self), group.tags, group.id)
            batch.aggregates[group.id] = cast(Customer, group)  # saved with the batch
            batch.writes.tag_claims += [TagClaim(t, group.id, exclusive) for t in group.tags]
            created[:] = [group.id]

        position = self._transact(decide)
        return created[0], position

    def rename_tag_group(self: _Host, group_id: UUID, name: str, by: str,
                         occurred_at: datetime) -> int | None:
        def decide(batch: _Batch) -> None:
            _group(self, group_id, batch).rename(name, by, occurred_at)

        return self._transact(decide)

    def add_tags_to_group(self: _Host, group_id: UUID, tags: Sequence[str], by: str,
                          occurred_at: datetime) -> int | None:
        def decide(batch: _Batch) -> None:
            group = _group(self, group_id, batch)
            labels = check_tags(tags)
            _refuse_claimed(_index(self), labels, group.id)
            new = group.add_tags(labels, by, occurred_at)
            batch.writes.tag_claims += [TagClaim(t, group.id, group.exclusive) for t in new]

        return self._transact(decide)

    def remove_tag_from_group(self: _Host, group_id: UUID, tag: str, by: str,
                              occurred_at: datetime) -> int | None:
        """Remove a tag from a group; customers keep it, as a free tag."""
        def decide(batch: _Batch) -> None:
            group = _group(self, group_id, batch)
            if group.remove_tag(tag, by, occurred_at):
                batch.writes.tag_releases.append((tag.strip(), group.id))

        return self._transact(decide)

    def archive_tag_group(self: _Host, group_id: UUID, by: str,
                          occurred_at: datetime) -> int | None:
        """Archive a group: its tags can no longer be given (customers keep theirs)."""
        def decide(batch: _Batch) -> None:
            group = _group(self, group_id, batch)
            if group.archive(by, occurred_at):
                batch.writes.archived_groups.append(group.id)

        return self._transact(decide)

    # -- customers' tags -----------------------------------------------------------------
    def tag_customer(self: _Host, customer_id: UUID, tags: Sequence[str], by: str, reason: str,
                     occurred_at: datetime, event_key: str | None = None) -> int | None:
        """Give tags to a customer; in an exclusive group, the tag replaces the one held.

        Refused: a tag only archived groups hold (``TAG_GROUP_ARCHIVED``), two tags
        of one exclusive group (``EXCLUSIVE_TAG_CONFLICT``).
        """
        labels = check_tags(tags)
        why = _check_reason(reason)
        index = _index(self)

        def decide(batch: _Batch) -> None:
            streams = _customer_streams(self, customer_id, batch)
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
            survivor = streams[0]
            for tag in labels:
                if not any(tag in s.tags for s in streams):
                    survivor.tag(tag, by, occurred_at, why)
            if event_key is not None:  # recorded with the tags: a second call stores nothing
                batch.writes.event_keys.append((event_key, survivor.id))

        return self._transact(decide)

    def apply_auto_tag(self: _Host, segment_id: UUID, customer_id: UUID, tag: str,
                       occurred_at: datetime) -> bool:
        """Tag a customer who entered an auto-tag segment, once per (segment, customer):
        a tag removed by hand later is not given again by the same rule."""
        key = f"autotag:{segment_id}:{customer_id}"
        index = cast(Any, self.recorder)
        if key in index.known_event_keys([key]):
            return False
        try:
            TaggingCommands.tag_customer(self, customer_id, [tag], "system",
                                         f"rule:{segment_id}", occurred_at, event_key=key)
        except IntegrityError:
            if key in index.known_event_keys([key]):
                return False  # applied concurrently
            raise
        return True

    def untag_customer(self: _Host, customer_id: UUID, tags: Sequence[str], by: str,
                       reason: str, occurred_at: datetime) -> int | None:
        """Remove tags from a customer (those it does not hold are ignored)."""
        labels = check_tags(tags)
        why = _check_reason(reason)

        def decide(batch: _Batch) -> None:
            streams = _customer_streams(self, customer_id, batch)
            for tag in labels:
                _untag(streams, tag, by, why, occurred_at)

        return self._transact(decide)


def _index(host: _Host) -> TagIndex:
    return cast(TagIndex, host.recorder)


def _check_reason(reason: str) -> str:
    why = reason.strip()
    if not 1 <= len(why) <= REASON_MAX:
        raise InvalidInput(f"reason must be 1-{REASON_MAX} characters", field="reason")
    return why


def _refuse_claimed(index: TagIndex, tags: Sequence[str], group_id: UUID) -> None:
    taken = sorted(c.tag for c in index.tag_claims(tags) if c.live and c.group_id != group_id)
    if taken:
        raise TagInOtherGroup(f"already in another live tag group: {taken}", field="tags")


def _group(host: _Host, group_id: UUID, batch: _Batch) -> TagGroup:
    try:
        group: Any = host.repository.get(group_id)
    except AggregateNotFoundError:
        raise UnknownTagGroup(f"no tag group {group_id}", field="groupId") from None
    if not isinstance(group, TagGroup):
        raise UnknownTagGroup(f"no tag group {group_id}", field="groupId")
    batch.aggregates[group_id] = cast(Customer, group)  # saved with the batch
    return group


def _customer_streams(host: _Host, customer_id: UUID, batch: _Batch) -> list[Customer]:
    """The customer as a OneID group: its survivor first, then every customer absorbed.

    A merged-away id leads to its survivor (as ``customer(id:)`` does). Tags an
    absorbed customer brought show on the survivor's profile, so they are
    looked for, and removed, on the stream that holds them.
    """
    customer = host._existing(customer_id, batch, "customerId")
    for _ in range(MAX_MERGE_DEPTH):
        if customer.merged_into is None:
            break
        customer = host._existing(UUID(customer.merged_into), batch, "customerId")
    streams = [customer]
    seen = 0
    while seen < len(streams) and len(streams) <= MAX_MERGE_DEPTH:
        absorbed = streams[seen].absorbed
        streams += [host._existing(UUID(a), batch, "customerId") for a in absorbed]
        seen += 1
    return streams


def _untag(streams: Sequence[Customer], tag: str, by: str, reason: str,
           occurred_at: datetime) -> None:
    for stream in streams:
        stream.untag(tag, by, occurred_at, reason)
