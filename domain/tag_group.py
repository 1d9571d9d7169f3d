"""The ``TagGroup`` aggregate: one entry of the brand's tag library (标签组).

A group names a dimension ("客户等级") and the tags along it ("A", "B", "C").
In an **exclusive** group a customer holds at most one of the tags: tagging
with another replaces the one held. An archived group stays in the log and in
the read model, but its tags can no longer be given to customers.

That a tag belongs to at most one live group is a rule across groups: the
application enforces it with a side table written in the same transaction as
the group's events (see :mod:`application.tags`); this aggregate keeps the rules
about itself.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput, TagGroupArchived

LABEL_MAX = 64
#: Control characters, line/paragraph separators, surrogates: never part of a label.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


def check_label(value: str, field: str) -> str:
    """A group name or tag: trimmed, 1-64 characters, no control characters."""
    label = value.strip()
    if not 1 <= len(label) <= LABEL_MAX:
        raise InvalidInput(f"{field} must be 1-{LABEL_MAX} characters", field=field)
    if any(unicodedata.category(c) in _REFUSED_CATEGORIES for c in label):
        raise InvalidInput(f"{field} must not contain control characters", field=field)
    return label


def exclusive_reason(group_id: UUID) -> str:
    """Why a tag was removed: another tag of its exclusive group replaced it."""
    return f"exclusive:{group_id}"


def check_tags(tags: Sequence[str], field: str = "tags") -> list[str]:
    """At least one tag, each a valid label, no duplicates; in the order given."""
    labels = [check_label(t, field) for t in tags]
    if not labels:
        raise InvalidInput(f"{field} must name at least one tag", field=field)
    duplicates = sorted({t for t in labels if labels.count(t) > 1})
    if duplicates:
        raise InvalidInput(f"{field} repeats {duplicates}", field=field)
    return labels


class TagGroup(Aggregate):
    """A named set of tags, optionally exclusive; archived rather than deleted."""

    class Event(Aggregate.Event):
        by: str
        occurred_at: datetime

    class Created(Aggregate.Created):
        name: str
        tags: list[str]
        exclusive: bool
        by: str
        occurred_at: datetime

    class TagsAdded(Event):
        tags: list[str]

    class TagRemoved(Event):
        tag: str

    class Renamed(Event):
        name: str

    class Archived(Event):
        """The group's tags can no longer be given; customers keep the ones they hold."""

    @classmethod
    def create(cls, name: str, tags: Sequence[str], exclusive: bool, by: str,
               occurred_at: datetime) -> TagGroup:
        return cls(name=check_label(name, "name"), tags=check_tags(tags), exclusive=exclusive,
                   by=by, occurred_at=occurred_at)

    @event(Created)
    def __init__(self, name: str, tags: list[str], exclusive: bool, by: str,
                 occurred_at: datetime) -> None:
        self.name = name
        self.tags = list(tags)
        self.exclusive = exclusive
        self.archived_at: datetime | None = None

    @property
    def live(self) -> bool:
        return self.archived_at is None

    # == commands ==========================================================================
    def rename(self, name: str, by: str, occurred_at: datetime) -> None:
        label = check_label(name, "name")
        self._refuse_if_archived()
        if label != self.name:
            self._rename(name=label, by=by, occurred_at=occurred_at)

    def add_tags(self, tags: Sequence[str], by: str, occurred_at: datetime) -> list[str]:
        """Add the tags the group does not hold yet; returns them (none: no event)."""
        labels = check_tags(tags)
        self._refuse_if_archived()
        new = [t for t in labels if t not in self.tags]
        if new:
            self._add_tags(tags=new, by=by, occurred_at=occurred_at)
        return new

    def remove_tag(self, tag: str, by: str, occurred_at: datetime) -> bool:
        """Remove a tag from the group (customers keep it, as a free tag); False if absent."""
        label = check_label(tag, "tag")
        self._refuse_if_archived()
        if label not in self.tags:
            return False
        self._remove_tag(tag=label, by=by, occurred_at=occurred_at)
        return True

    def archive(self, by: str, occurred_at: datetime) -> bool:
        """Archive the group; False if it already was."""
        if not self.live:
            return False
        self._archive(by=by, occurred_at=occurred_at)
        return True

    def _refuse_if_archived(self) -> None:
        if not self.live:
            raise TagGroupArchived(f"tag group {self.name!r} is archived", field="groupId")

    # == events: assign state only (re-run on every replay) ================================
    @event(Renamed)
    def _rename(self, name: str, by: str, occurred_at: datetime) -> None:
        self.name = name

    @event(TagsAdded)
    def _add_tags(self, tags: list[str], by: str, occurred_at: datetime) -> None:
        self.tags.extend(tags)

    @event(TagRemoved)
    def _remove_tag(self, tag: str, by: str, occurred_at: datetime) -> None:
        self.tags.remove(tag)

    @event(Archived)
    def _archive(self, by: str, occurred_at: datetime) -> None:
        self.archived_at = occurred_at
