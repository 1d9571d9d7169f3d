"""The clock job: a tick per time slot, so time-window segments change as time passes.

A scheduler thread (in the worker that projects, one per deployment is enough but
several are harmless) enqueues ``record_clock_tick(slot)`` when a new slot starts; the
Dramatiq actor records :class:`domain.clock.Tick` for that slot. A slot is recorded once
whatever the number of schedulers or redeliveries: its tick's stream id derives from it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import dramatiq

from application.app import Siyu
from domain.clock import slot_start
from workers.polling import keep_running

log = logging.getLogger(__name__)

ACTOR_NAME = "record_clock_tick"
CLOCK_QUEUE = "siyu_clock"


def declare_clock_actor(broker: dramatiq.Broker, app: Siyu, *,
                        queue_name: str = CLOCK_QUEUE) -> dramatiq.Actor[[str], None]:
    """Declare ``record_clock_tick(slot_iso)``: records the slot's tick, once."""

    def record_clock_tick(slot: str) -> None:
        position = app.segments.record_tick(datetime.fromisoformat(slot))
        log.info("clock tick %s %s", slot, "recorded" if position else "was already recorded")

    declare = dramatiq.actor(broker=broker, actor_name=ACTOR_NAME, queue_name=queue_name,
                             max_retries=20, min_backoff=1_000, max_backoff=60_000)
    return declare(record_clock_tick)


class ClockScheduler:
    """Enqueue one tick per ``minutes``-long slot (the current slot at start, then each new one)."""

    def __init__(self, enqueue: Callable[[str], None], minutes: int, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 poll_interval: float = 5.0) -> None:
        if not 1 <= minutes <= 24 * 60:
            raise ValueError("tick minutes must be 1 to 1440")
        self.enqueue = enqueue
        self.minutes = minutes
        self.clock = clock
        self.poll_interval = poll_interval
        self.last: datetime | None = None
        self.stopping = threading.Event()

    def run_once(self) -> bool:
        """Enqueue the current slot's tick if not done yet; True if enqueued."""
        slot = slot_start(self.clock(), self.minutes)
        if self.last is not None and slot <= self.last:
            return False
        self.enqueue(slot.isoformat())
        self.last = slot
        return True

    def run_forever(self) -> None:
        keep_running("clock scheduler", self.run_once,
                     self.stopping, self.poll_interval)

    def stop(self) -> None:
        self.stopping.set()
