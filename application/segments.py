"""Segments (人群) and the clock's ticks.

Segments are their own aggregates (:mod:`domain.segment`), edited rarely and from
any process: each change reads the segment fresh from the store. The clock records
one :class:`domain.clock.Tick` per slot (its id derives from the slot, so two
schedulers record a slot once). Neither touches a customer stream, so they never
contend with ingestion for a customer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from application.unit_of_work import EventStore, UnitOfWork
from domain.clock import Tick
from domain.errors import UnknownSegment
from domain.segment import Segment, SegmentAlreadyDefined


class Segments:
    def __init__(self, store: EventStore) -> None:
        self.store = store

    def define(self, name: str, description: str, rule: Any, by: str, occurred_at: datetime,
               auto_tag: str | None = None, *, segment_id: UUID | None = None
               ) -> tuple[UUID, int]:
        """Define a segment; returns its id and the log position of the definition.

        With a given ``segment_id``, defining it again raises ``SegmentAlreadyDefined``.
        """
        segment = Segment.define(name, description, rule, by, occurred_at, auto_tag,
                                 segment_id)
        try:
            _, position = self.store.transact(Segment, lambda unit: unit.add(segment),
                                              attempts=1)
        except IntegrityError:
            if segment_id is None:
                raise
            raise SegmentAlreadyDefined(f"segment {segment_id} exists",
                                        field="segmentId") from None
        assert position is not None  # a new segment records its definition
        return segment.id, position

    def revise(self, segment_id: UUID, rule: Any, by: str, occurred_at: datetime,
               name: str | None = None, description: str | None = None) -> int | None:
        """Record a new version of the rule; None when nothing changed."""
        return self._change(segment_id, lambda s: s.revise(rule, by, occurred_at, name,
                                                           description))

    def set_auto_tag(self, segment_id: UUID, tag: str | None, by: str,
                     occurred_at: datetime) -> int | None:
        return self._change(segment_id, lambda s: s.set_auto_tag(tag, by, occurred_at))

    def archive(self, segment_id: UUID, by: str, occurred_at: datetime) -> int | None:
        return self._change(segment_id, lambda s: s.archive(by, occurred_at))

    def get(self, segment_id: UUID) -> Segment:
        """The segment as stored now (edited from several processes: read fresh)."""
        found = self.store.find(segment_id, Segment, fresh=True)
        if found is None:
            raise UnknownSegment(f"no segment {segment_id}", field="segmentId")
        return found

    def _change(self, segment_id: UUID, change: Callable[[Segment], bool]) -> int | None:
        def decide(unit: UnitOfWork[Segment]) -> None:
            segment = self.get(segment_id)
            if change(segment):
                unit.add(segment)

        return self.store.transact(Segment, decide)[1]

    def record_tick(self, at: datetime) -> int | None:
        """Record that time reached ``at``; None if this instant was recorded already."""
        try:
            return self.store.transact(Tick, lambda unit: unit.add(Tick.strike(at)),
                                       attempts=1)[1]
        except IntegrityError:
            return None
