"""Auto-tag rules: customers in a segment with ``auto_tag`` get that tag, once.

The tagger reconciles rather than reacts: it looks for members of auto-tag segments
who do not hold the tag and were never tagged by that rule, and tags them through the
application (``Customer.Tagged`` with reason ``rule:<segment id>``, by ``system``).
So a rule tags the customers already in the segment when it is created (retroactive),
new members as they enter, and nobody twice: each (rule, customer) is recorded once
as an event key in the same transaction as the tag. A tag removed by hand stays
removed. Several taggers are safe (the event key is unique).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID

from application.app import Siyu
from domain.errors import DomainError
from projections.segments import queries as segment_queries
from workers.lent import Connect
from workers.polling import keep_running

log = logging.getLogger(__name__)

class AutoTagger:
    def __init__(self, app: Siyu, connect: Connect, *, batch: int = 500,
                 poll_interval: float = 1.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.app = app
        self.connect = connect
        self.batch = batch
        self.poll_interval = poll_interval
        self.clock = clock
        self.stopping = threading.Event()
        self.refused: set[tuple[UUID, UUID]] = set()  # refused by the domain: not retried

    def candidates(self) -> list[tuple[UUID, str, UUID]]:
        with self.connect() as conn:
            rows = segment_queries.auto_tag_candidates(conn, self.batch + len(self.refused))
        return [(r["segment_id"], r["auto_tag"], r["customer_id"]) for r in rows
                if (r["segment_id"], r["customer_id"]) not in self.refused][:self.batch]

    def run_once(self) -> int:
        """Tag one batch of candidates; returns how many were tagged."""
        tagged = 0
        for segment_id, tag, customer_id in self.candidates():
            try:
                if self.app.tags.apply_auto_tag(segment_id, customer_id, tag, self.clock()):
                    tagged += 1
            except DomainError as error:
                # e.g. the tag's group was archived: say so once, do not retry in a loop
                self.refused.add((segment_id, customer_id))
                log.warning("auto-tag rule %s refused for a customer: %s", segment_id,
                            error.code)
        return tagged

    def run_forever(self) -> None:
        keep_running("auto-tagger", lambda: self.run_once() > 0, self.stopping,
                     self.poll_interval)

    def stop(self) -> None:
        self.stopping.set()
