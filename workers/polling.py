"""The loop every dispatcher runs: poll, enqueue, repeat until stopped."""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


class PollingLoop:
    """Calls :meth:`run_once` until :meth:`stop`.

    A pass that filled its batch polls again at once; otherwise the loop waits
    ``poll_interval``. An error (the broker or the database is away) is logged and
    retried after at least a second: the work stays due, so nothing is lost.
    """

    name = "polling loop"

    def __init__(self, poll_interval: float, batch_size: int) -> None:
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self.stopping = threading.Event()

    def run_once(self) -> int:
        """One pass; returns how many items it handled."""
        raise NotImplementedError

    def run_forever(self) -> None:
        while not self.stopping.is_set():
            try:
                if self.run_once() >= self.batch_size:
                    continue
            except Exception:
                log.exception("%s could not enqueue; retrying", self.name)
                self.stopping.wait(max(self.poll_interval, 1.0))
                continue
            self.stopping.wait(self.poll_interval)

    def stop(self) -> None:
        self.stopping.set()
