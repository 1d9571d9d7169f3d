"""WeCom-side facts that are not about one customer: customer groups and the corp's tag library.

A customer group (客户群) is created and dismissed; its members joining and
leaving are customer events (``GroupJoined`` / ``GroupLeft``). The corp's tag
library changes (tags and tag groups created, renamed, deleted, reordered) are
recorded as facts of the corp's ``CorpTagLibrary``. Stream ids derive from the
corp and chat/tag ids, which are not personal data.
"""

from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

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

    @staticmethod
    def create_id(corp_id: str) -> UUID:
        return uuid5(_NS, f"tags:{corp_id}")

    @event(Opened)
    def __init__(self, corp_id: str, by: str, occurred_at: datetime) -> None:
        pass

    def record_change(self, tag_id: str, tag_type: str, change: str, by: str,
                      occurred_at: datetime) -> None:
        self.trigger_event(self.TagChanged, tag_id=tag_id, tag_type=tag_type, change=change,
                           by=by, occurred_at=occurred_at)
