"""WeCom-side facts that are not about one customer: customer groups and the corp's tag library.

A customer group (客户群) is created and dismissed; its members joining and
leaving are customer events (``GroupJoined`` / ``GroupLeft``). The corp's tag
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

    @staticmethod
    def create_id(corp_id: str, chat_id: str) -> UUID:
        return uuid5(_NS, f"group:{corp_id}:{chat_id}")

    @event(Created)
    def __init__(self, corp_id: str, chat_id: str, owner: str | None, by: str,
                 occurred_at: datetime) -> None:
        self.dismissed_at: datetime | None = None

    def dismiss(self, by: str, occurred_at: datetime) -> None:
        if self.dismissed_at is None:
            self.trigger_event(self.Dismissed, by=by, occurred_at=occurred_at)


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
