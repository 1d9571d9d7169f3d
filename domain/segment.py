"""The ``Segment`` aggregate: a named, versioned rule that layers customers (分层).

Each definition or revision of the rule is an event, so the membership
projection can evaluate every version over the whole history, and the ledger
can say which version let a customer in or out. The rule is validated by
:func:`domain.segment_rules.parse_rule` before any event is recorded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError, InvalidInput
from domain.segment_rules import Rule, parse_rule
from domain.tag_group import check_label

MAX_NAME = 64
MAX_DESCRIPTION = 500


class SegmentArchived(DomainError):
    code = "SEGMENT_ARCHIVED"


class SegmentAlreadyDefined(DomainError):
    code = "SEGMENT_ALREADY_DEFINED"


def _name(name: str) -> str:
    cleaned = name.strip()
    if not 1 <= len(cleaned) <= MAX_NAME or any(ord(c) < 32 for c in cleaned):
        raise InvalidInput(f"name must be 1-{MAX_NAME} printable characters", field="name")
    return cleaned


def _description(text: str) -> str:
    if len(text) > MAX_DESCRIPTION or any(ord(c) < 32 and c not in "\n\t" for c in text):
        raise InvalidInput(f"description must be at most {MAX_DESCRIPTION} printable characters",
                           field="description")
    return text.strip()


class Segment(Aggregate):
    """A layer of customers defined by a rule; ``rule_version`` counts its definitions."""

    class Defined(Aggregate.Created):
        name: str
        description: str
        rule: dict[str, Any]
        by: str
        occurred_at: datetime

    class Revised(Aggregate.Event):
        """A new version of the rule (and possibly the name or description)."""

        name: str
        description: str
        rule: dict[str, Any]
        rule_version: int
        by: str
        occurred_at: datetime

        def apply(self, segment: Segment) -> None:
            segment.name = self.name
            segment.description = self.description
            segment.rule = self.rule
            segment.rule_version = self.rule_version

    class Archived(Aggregate.Event):
        """No longer maintained: every member leaves; the ledger stays readable."""

        by: str
        occurred_at: datetime

        def apply(self, segment: Segment) -> None:
            segment.archived_at = self.occurred_at

    class AutoTagChanged(Aggregate.Event):
        """Customers who enter get ``tag`` (an auto-tag rule); None stops it."""

        tag: str | None
        by: str
        occurred_at: datetime

        def apply(self, segment: Segment) -> None:
            segment.auto_tag = self.tag

    @classmethod
    def define(cls, name: str, description: str, rule: Any, by: str,
               occurred_at: datetime, auto_tag: str | None = None,
               segment_id: UUID | None = None) -> Segment:
        """A new segment; ``segment_id`` fixes its id (random by default)."""
        segment = cls._create(cls.Defined, id=segment_id, name=_name(name),
                              description=_description(description), rule=parse_rule(rule),
                              by=by, occurred_at=occurred_at)
        segment.set_auto_tag(auto_tag, by, occurred_at)
        return segment

    @event(Defined)
    def __init__(self, name: str, description: str, rule: Rule, by: str,
                 occurred_at: datetime) -> None:
        self.name = name
        self.description = description
        self.rule = rule
        self.rule_version = 1
        self.archived_at: datetime | None = None
        self.auto_tag: str | None = None

    def set_auto_tag(self, tag: str | None, by: str, occurred_at: datetime) -> bool:
        """Tag every customer who is or comes in (retroactive); None stops tagging."""
        if self.archived_at is not None:
            raise SegmentArchived("an archived segment cannot change", field="segmentId")
        label = None if tag is None else check_label(tag, "autoTag")
        if label == self.auto_tag:
            return False
        self.trigger_event(self.AutoTagChanged, tag=label, by=by, occurred_at=occurred_at)
        return True

    def revise(self, rule: Any, by: str, occurred_at: datetime, name: str | None = None,
               description: str | None = None) -> bool:
        """Record a new version; False (nothing recorded) when nothing changes."""
        if self.archived_at is not None:
            raise SegmentArchived("an archived segment cannot be revised", field="segmentId")
        new_rule = parse_rule(rule)
        new_name = self.name if name is None else _name(name)
        new_description = self.description if description is None else _description(description)
        if (new_rule, new_name, new_description) == (self.rule, self.name, self.description):
            return False
        self.trigger_event(self.Revised, name=new_name, description=new_description,
                           rule=new_rule, rule_version=self.rule_version + 1, by=by,
                           occurred_at=occurred_at)
        return True

    def archive(self, by: str, occurred_at: datetime) -> bool:
        if self.archived_at is not None:
            return False
        self.trigger_event(self.Archived, by=by, occurred_at=occurred_at)
        return True
