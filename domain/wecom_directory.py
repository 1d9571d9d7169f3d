"""WeCom-side facts that are not about one customer: customer groups and the corp's tag library.

A customer group (客户群) is created and dismissed; its members joining and
leaving are customer events (``GroupJoined`` / ``GroupLeft``). The group directory sync
(``groupchat/list`` / ``groupchat/get``, :mod:`workers.group_sync`) records what WeCom says
of it besides: its name, its owner (群主) changing hands, how many customers and staff are
in it. Member names are never recorded (personal data); a group's name is shown in the
directory but never logged. The corp's tag
library changes (tags and tag groups created, renamed, deleted, reordered) are
recorded as facts of the corp's ``CorpTagLibrary``: the callbacks' bare changes
(``TagChanged``: ids only) and what ``get_corp_tag_list`` answered (``Listed``: each tag
that appeared or changed, with its name and group, and each that is gone). Stream ids
derive from the corp and chat/tag ids, which are not personal data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput

_NS = uuid5(NAMESPACE_URL, "https://siyu.invalid/wecom")


class CustomerGroup(Aggregate):
    """A WeCom customer group (external chat)."""

    class Created(Aggregate.Created):
        corp_id: str
        chat_id: str
        owner: str | None
        by: str
        occurred_at: datetime

    class Dismissed(Aggregate.Event):
        by: str
        occurred_at: datetime

        def apply(self, group: CustomerGroup) -> None:
            group.dismissed_at = self.occurred_at

    class Renamed(Aggregate.Event):
        """WeCom shows the group under ``name`` (first seen, or changed since)."""

        name: str
        by: str
        occurred_at: datetime

        def apply(self, group: CustomerGroup) -> None:
            group.name = self.name

    class OwnerChanged(Aggregate.Event):
        """The group's owner (群主) is now the member with UserID ``owner`` (a transfer, an
        inheritance after the owner left, or the first owner WeCom told of)."""

        owner: str
        by: str
        occurred_at: datetime

        def apply(self, group: CustomerGroup) -> None:
            group.owner = self.owner

    class MembersCounted(Aggregate.Event):
        """WeCom counts ``customers`` (external contacts) and ``staff`` (corp members) in
        the group now."""

        customers: int
        staff: int
        by: str
        occurred_at: datetime

        def apply(self, group: CustomerGroup) -> None:
            group.counts = (self.customers, self.staff)

    @staticmethod
    def create_id(corp_id: str, chat_id: str) -> UUID:
        return uuid5(_NS, f"group:{corp_id}:{chat_id}")

    @event(Created)
    def __init__(self, corp_id: str, chat_id: str, owner: str | None, by: str,
                 occurred_at: datetime) -> None:
        self.chat_id = chat_id
        self.owner = owner
        self.dismissed_at: datetime | None = None
        self.name: str | None = None
        self.counts: tuple[int, int] | None = None

    def dismiss(self, by: str, occurred_at: datetime) -> None:
        if self.dismissed_at is None:
            self.trigger_event(self.Dismissed, by=by, occurred_at=occurred_at)

    def observe(self, name: str, owner: str, customers: int, staff: int, by: str,
                occurred_at: datetime) -> list[str]:
        """What WeCom says of the group now: record what changed (nothing when nothing did,
        or once dismissed); the names of the facts recorded."""
        if self.dismissed_at is not None:
            return []
        if not owner or customers < 0 or staff < 0:
            raise ValueError("a group has an owner and non-negative counts")
        changes: list[str] = []
        if name != (self.name or ""):
            self.trigger_event(self.Renamed, name=name, by=by, occurred_at=occurred_at)
            changes.append("renamed")
        if owner != self.owner:
            self.trigger_event(self.OwnerChanged, owner=owner, by=by, occurred_at=occurred_at)
            changes.append("owner_changed")
        if (customers, staff) != self.counts:
            self.trigger_event(self.MembersCounted, customers=customers, staff=staff, by=by,
                               occurred_at=occurred_at)
            changes.append("counted")
        return changes


class CorpTagLibrary(Aggregate):
    """The corp's customer-tag library as WeCom reports its changes."""

    class Opened(Aggregate.Created):
        corp_id: str
        by: str
        occurred_at: datetime

    class TagChanged(Aggregate.Event):
        """A tag or tag group was created, updated, deleted or reordered (``change``)."""

        tag_id: str
        tag_type: str
        change: str
        by: str
        occurred_at: datetime

    class Listed(Aggregate.Event):
        """``get_corp_tag_list`` answered a library that differs from the last one listed:
        ``tags`` appeared or changed (each ``tag_id``, ``name``, ``group_id``,
        ``group_name``, ``order``, ``group_order``), ``gone`` (tag ids) are no longer listed
        or listed as deleted."""

        corp_id: str
        tags: list[dict[str, Any]]
        gone: list[str]
        by: str
        occurred_at: datetime

        def apply(self, library: CorpTagLibrary) -> None:
            for tag in self.tags:
                library.tags[tag["tag_id"]] = dict(tag)
            for tag_id in self.gone:
                library.tags.pop(tag_id, None)

    @staticmethod
    def create_id(corp_id: str) -> UUID:
        return uuid5(_NS, f"tags:{corp_id}")

    @event(Opened)
    def __init__(self, corp_id: str, by: str, occurred_at: datetime) -> None:
        self.corp_id = corp_id
        #: The live tags as last listed, by tag id.
        self.tags: dict[str, dict[str, Any]] = {}

    def record_listing(self, tags: Sequence[Mapping[str, Any]], by: str,
                       occurred_at: datetime) -> bool:
        """Record what ``get_corp_tag_list`` answered (live tags only); False (no event) when
        it is what was listed last."""
        listed = {t["tag_id"]: t for t in (_checked_tag(t) for t in tags)}
        changed = [t for tag_id, t in sorted(listed.items()) if self.tags.get(tag_id) != t]
        gone = sorted(set(self.tags) - set(listed))
        if not changed and not gone:
            return False
        self.trigger_event(self.Listed, corp_id=self.corp_id, tags=changed, gone=gone, by=by,
                           occurred_at=occurred_at)
        return True

    def record_change(self, tag_id: str, tag_type: str, change: str, by: str,
                      occurred_at: datetime) -> None:
        self.trigger_event(self.TagChanged, tag_id=tag_id, tag_type=tag_type, change=change,
                           by=by, occurred_at=occurred_at)


_TAG_TEXT = ("tag_id", "name", "group_id", "group_name")


def _checked_tag(tag: Mapping[str, Any]) -> dict[str, Any]:
    """One listed tag: its ids and names non-empty strings, orders integers."""
    if not all(isinstance(tag.get(k), str) and tag[k] for k in _TAG_TEXT):
        raise InvalidInput("a listed tag needs tag_id, name, group_id and group_name",
                           field="tags")
    return {**{k: tag[k] for k in _TAG_TEXT}, "order": int(tag.get("order") or 0),
            "group_order": int(tag.get("group_order") or 0)}
