"""Clock ticks: the passing of time, recorded in the event log.

Segments with time windows ("no interaction for 30 days") change without any
customer event. A scheduled job records a :class:`Tick` per time slot; the
membership projection re-evaluates what is due at each tick. Because ticks are
events, a rebuild passes through the same ticks at the same log positions and
so reproduces the live ledger. One aggregate per slot (its id derives from the
slot), so two schedulers recording the same slot record it once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

_NS = uuid5(NAMESPACE_URL, "https://siyu.invalid/clock")


def slot_start(at: datetime, minutes: int) -> datetime:
    """The start of the ``minutes``-long slot (aligned on UTC midnight) that holds ``at``."""
    utc = at.astimezone(UTC)
    midnight = utc.replace(hour=0, minute=0, second=0, microsecond=0)
    elapsed = int((utc - midnight).total_seconds() // 60)
    return midnight + timedelta(minutes=elapsed - elapsed % minutes)


class Tick(Aggregate):
    class Struck(Aggregate.Created):
        at: datetime

    @event(Struck)
    def __init__(self, at: datetime) -> None:
        self.at = at

    @staticmethod
    def create_id(at: datetime) -> UUID:
        return uuid5(_NS, at.astimezone(UTC).isoformat())

    @classmethod
    def strike(cls, at: datetime) -> Tick:
        return cls._create(cls.Struck, id=cls.create_id(at), at=at.astimezone(UTC))
