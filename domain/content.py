"""``Content``: a piece the brand publishes (article, video, moments post, live replay),
and ``ContentCadence``: how many pieces of a kind a plan expects per week.

A piece is registered under the reference customers' content events already carry
(``CONTENT_VIEWED`` / ``_FORWARDED`` / ``_COMMENTED``'s ``contentId``): its stream id is
derived from that reference (not personal data), so events reported before the piece was
registered count for it too. It names its author (the copywriter or creator), optionally
the operator who runs it, and its topics. The read model ``projections/content`` computes
every figure from the log (docs/content.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError, InvalidInput
from domain.item_fields import MAX_TEXT, safe_text
from domain.tag_group import check_label

_NAMESPACE = uuid5(NAMESPACE_URL, "siyu:content")
KINDS = ("article", "video", "moments_post", "live_replay")
MAX_TOPICS = 10
MAX_PER_WEEK = 1000


class UnknownContent(DomainError):
    code = "UNKNOWN_CONTENT"


class ContentWithdrawn(DomainError):
    code = "CONTENT_WITHDRAWN"


def check_reference(value: str, field: str = "contentId") -> str:
    """A content reference as customer events carry it: trimmed, 1-128 characters."""
    ref = value.strip()
    if not 1 <= len(ref) <= MAX_TEXT:
        raise InvalidInput(f"{field} must be 1-{MAX_TEXT} characters", field=field)
    return safe_text(ref, field)


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of {list(KINDS)}", field="kind")
    return kind


@dataclass(frozen=True, slots=True)
class ContentSpec:
    """What a piece is (validated by :meth:`checked`); author and operator are staff ids."""

    title: str
    author_id: str
    operator_id: str | None = None
    topics: tuple[str, ...] = ()

    def checked(self) -> ContentSpec:
        topics = tuple(dict.fromkeys(check_label(t, "topics") for t in self.topics))
        if len(topics) > MAX_TOPICS:
            raise InvalidInput(f"at most {MAX_TOPICS} topics", field="topics")
        title = self.title.strip()
        if not 1 <= len(title) <= 200:
            raise InvalidInput("title must be 1-200 characters", field="title")
        return ContentSpec(safe_text(title, "title"), self.author_id, self.operator_id, topics)


class Content(Aggregate):
    class Event(Aggregate.Event):
        by: str
        occurred_at: datetime

    class Published(Aggregate.Created):
        """``occurred_at`` is the publication time (business time: it may be in the past)."""

        reference: str
        kind: str
        title: str
        author_id: str
        operator_id: str | None
        topics: list[str]
        by: str
        occurred_at: datetime

    class Revised(Event):
        title: str
        author_id: str
        operator_id: str | None
        topics: list[str]

    class Withdrawn(Event):
        reason: str

    @staticmethod
    def create_id(reference: str) -> UUID:
        return uuid5(_NAMESPACE, reference)

    @classmethod
    def publish(cls, reference: str, kind: str, spec: ContentSpec, by: str,
                occurred_at: datetime) -> Content:
        ref, checked = check_reference(reference), spec.checked()
        return cls._create(cls.Published, id=cls.create_id(ref), reference=ref,
                           kind=_kind(kind), title=checked.title, author_id=checked.author_id,
                           operator_id=checked.operator_id, topics=list(checked.topics),
                           by=by, occurred_at=occurred_at)

    @event(Published)
    def __init__(self, reference: str, kind: str, title: str, author_id: str,
                 operator_id: str | None, topics: list[str], by: str,
                 occurred_at: datetime) -> None:
        self.kind = kind
        self.spec = ContentSpec(title, author_id, operator_id, tuple(topics))
        self.withdrawn = False

    def revise(self, spec: ContentSpec, by: str, occurred_at: datetime) -> bool:
        if self.withdrawn:
            raise ContentWithdrawn("the content was withdrawn", field="contentId")
        checked = spec.checked()
        if checked == self.spec:
            return False
        self._revise(title=checked.title, author_id=checked.author_id,
                     operator_id=checked.operator_id, topics=list(checked.topics), by=by,
                     occurred_at=occurred_at)
        return True

    def withdraw(self, reason: str, by: str, occurred_at: datetime) -> bool:
        if self.withdrawn:
            return False
        self._withdraw(reason=check_label(reason, "reason"), by=by, occurred_at=occurred_at)
        return True

    @event(Revised)
    def _revise(self, title: str, author_id: str, operator_id: str | None, topics: list[str],
                by: str, occurred_at: datetime) -> None:
        self.spec = ContentSpec(title, author_id, operator_id, tuple(topics))

    @event(Withdrawn)
    def _withdraw(self, reason: str, by: str, occurred_at: datetime) -> None:
        self.withdrawn = True


class ContentCadence(Aggregate):
    """The plan for one kind: pieces per week, brand-wide or for one author."""

    class Set(Aggregate.Event):
        per_week: int
        by: str
        occurred_at: datetime

    class Planned(Aggregate.Created):
        kind: str
        author_id: str | None
        per_week: int
        by: str
        occurred_at: datetime

    @staticmethod
    def create_id(kind: str, author_id: str | None) -> UUID:
        return uuid5(_NAMESPACE, f"cadence:{kind}:{author_id or '*'}")

    @classmethod
    def plan(cls, kind: str, author_id: str | None, per_week: int, by: str,
             occurred_at: datetime) -> ContentCadence:
        return cls._create(cls.Planned, id=cls.create_id(_kind(kind), author_id), kind=kind,
                           author_id=author_id, per_week=_per_week(per_week), by=by,
                           occurred_at=occurred_at)

    @event(Planned)
    def __init__(self, kind: str, author_id: str | None, per_week: int, by: str,
                 occurred_at: datetime) -> None:
        self.per_week = per_week

    def change(self, per_week: int, by: str, occurred_at: datetime) -> bool:
        if _per_week(per_week) == self.per_week:
            return False
        self._set(per_week=per_week, by=by, occurred_at=occurred_at)
        return True

    @event(Set)
    def _set(self, per_week: int, by: str, occurred_at: datetime) -> None:
        self.per_week = per_week


def _per_week(value: int) -> int:
    if isinstance(value, bool) or not 0 <= value <= MAX_PER_WEEK:
        raise InvalidInput(f"perWeek must be 0-{MAX_PER_WEEK}", field="perWeek")
    return value
