"""Commands on segments and the clock, mixed into the application.

Segments are their own aggregates (:mod:`domain.segment`); the clock records
one :class:`domain.clock.Tick` per slot. Neither touches a customer stream, so
they never contend with ingestion for a customer.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from domain.clock import Tick
from domain.errors import UnknownSegment
from domain.segment import Segment, SegmentAlreadyDefined

ATTEMPTS = 8


class SegmentCommands(Application[UUID]):
    _write_lock: threading.RLock

    def define_segment(self, name: str, description: str, rule: Any, by: str,
                       occurred_at: datetime, auto_tag: str | None = None, *,
                       segment_id: UUID | None = None) -> tuple[UUID, int]:
        """Define a segment; returns its id and the log position of the definition.

        With a given ``segment_id``, defining it again raises ``SegmentAlreadyDefined``.
        """
        segment = Segment.define(name, description, rule, by, occurred_at, auto_tag,
                                 segment_id)
        with self._write_lock:
            try:
                recordings = self.save(segment)
            except IntegrityError:
                if segment_id is None:
                    raise
                raise SegmentAlreadyDefined(f"segment {segment_id} exists",
                                            field="segmentId") from None
        return segment.id, max(r.notification.id for r in recordings)

    def revise_segment(self, segment_id: UUID, rule: Any, by: str, occurred_at: datetime,
                       name: str | None = None, description: str | None = None) -> int | None:
        """Record a new version of the rule; None when nothing changed."""
        return self._change(segment_id, lambda s: s.revise(rule, by, occurred_at, name,
                                                           description))

    def set_segment_auto_tag(self, segment_id: UUID, tag: str | None, by: str,
                             occurred_at: datetime) -> int | None:
        return self._change(segment_id, lambda s: s.set_auto_tag(tag, by, occurred_at))

    def archive_segment(self, segment_id: UUID, by: str, occurred_at: datetime) -> int | None:
        return self._change(segment_id, lambda s: s.archive(by, occurred_at))

    def segment(self, segment_id: UUID) -> Segment:
        self._forget(segment_id)  # edited from several processes: read it fresh (rare)
        try:
            found: Any = self.repository.get(segment_id)
        except AggregateNotFoundError:
            raise UnknownSegment(f"no segment {segment_id}", field="segmentId") from None
        if not isinstance(found, Segment):
            raise UnknownSegment(f"no segment {segment_id}", field="segmentId")
        return found

    def _change(self, segment_id: UUID, decide: Callable[[Segment], bool]) -> int | None:
        with self._write_lock:
            for attempt in range(ATTEMPTS):
                segment = self.segment(segment_id)
                try:
                    if not decide(segment):
                        return None
                    recordings = self.save(segment)
                    return max(r.notification.id for r in recordings)
                except IntegrityError:
                    if attempt == ATTEMPTS - 1:
                        raise
                finally:
                    self._forget(segment_id)
        return None  # pragma: no cover

    def record_tick(self, at: datetime) -> int | None:
        """Record that time reached ``at``; None if this instant was recorded already."""
        with self._write_lock:
            try:
                recordings = self.save(Tick.strike(at))
            except IntegrityError:
                return None
        return max(r.notification.id for r in recordings)

    def _forget(self, aggregate_id: UUID) -> None:
        cache = self.repository.cache
        if cache is not None:
            with contextlib.suppress(KeyError):
                cast(Any, cache).get(aggregate_id, evict=True)
