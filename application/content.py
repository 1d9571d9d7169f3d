"""Content (内容): publish, revise, withdraw pieces, and plan the cadence per kind.

``publish`` is an upsert keyed by the piece's reference (the ``contentId`` its customer
events carry), so a CMS can sync its catalogue repeatedly and record nothing twice. The
publication time is business time: a piece published last month is registered with that
date (never more than ten minutes ahead). Authors and operators are staff members of the
directory (``UNKNOWN_STAFF``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Literal
from uuid import UUID

from application.unit_of_work import EventStore, UnitOfWork
from domain.content import (
    Content,
    ContentCadence,
    ContentSpec,
    UnknownContent,
    check_reference,
)
from domain.errors import InvalidInput, UnknownStaff
from domain.item_fields import MAX_FUTURE_SKEW
from domain.staff import Staff

Outcome = Literal["published", "revised", "unchanged"]


class Contents:
    def __init__(self, store: EventStore) -> None:
        self.store = store

    def publish(self, reference: str, kind: str, spec: ContentSpec, published_at: datetime,
                by: str, now: datetime) -> tuple[Outcome, int | None]:
        ref = check_reference(reference)
        if published_at.tzinfo is None or published_at > now + MAX_FUTURE_SKEW:
            raise InvalidInput("publishedAt needs a time zone and cannot be in the future",
                               field="publishedAt")
        self._check_staff(spec)

        def decide(unit: UnitOfWork[Content]) -> Outcome:
            found = self.store.find(Content.create_id(ref), Content, fresh=True)
            if found is None:
                unit.add(Content.publish(ref, kind, spec, by, published_at))
                return "published"
            if found.kind != kind:
                raise InvalidInput(f"content {ref!r} is a {found.kind}; its kind cannot change",
                                   field="kind")
            if found.revise(spec, by, now):
                unit.add(found)
                return "revised"
            return "unchanged"

        return self.store.transact(Content, decide)

    def withdraw(self, reference: str, reason: str, by: str, now: datetime) -> int | None:
        return self._change(reference, lambda c: c.withdraw(reason, by, now))

    def set_cadence(self, kind: str, author_id: str | None, per_week: int, by: str,
                    now: datetime) -> int | None:
        if author_id is not None:
            self._staff(author_id, "authorId")

        def decide(unit: UnitOfWork[ContentCadence]) -> None:
            found = self.store.find(ContentCadence.create_id(kind, author_id), ContentCadence,
                                    fresh=True)
            if found is None:
                unit.add(ContentCadence.plan(kind, author_id, per_week, by, now))
            elif found.change(per_week, by, now):
                unit.add(found)

        return self.store.transact(ContentCadence, decide)[1]

    def _check_staff(self, spec: ContentSpec) -> None:
        self._staff(spec.author_id, "authorId")
        if spec.operator_id is not None:
            self._staff(spec.operator_id, "operatorId")

    def _staff(self, staff_id: str, field: str) -> None:
        try:
            found = self.store.find(UUID(staff_id), Staff)
        except ValueError:
            raise InvalidInput(f"{field} is not a staff id", field=field) from None
        if found is None:
            raise UnknownStaff(f"no staff member {staff_id}", field=field)

    def _change(self, reference: str, change: Callable[[Content], bool]) -> int | None:
        ref = check_reference(reference)

        def decide(unit: UnitOfWork[Content]) -> None:
            found = self.store.find(Content.create_id(ref), Content, fresh=True)
            if found is None:
                raise UnknownContent(f"no content {ref!r}", field="contentId")
            if change(found):
                unit.add(found)

        return self.store.transact(Content, decide)[1]
