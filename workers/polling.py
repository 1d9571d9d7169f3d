"""The loops every worker part runs: poll, act, repeat until stopped — and keep going
when the database or the broker goes away.

A loop never exits on an error: a lost connection, a database restart or a broker away
is waited out with a doubling pause (:data:`BACKOFF_FIRST` up to :data:`BACKOFF_MAX`
seconds), any other error is logged with its traceback and retried the same way. The
work stays due (outboxes, due rows, the clock), so nothing is lost; the supervisor only
sees a worker that exits for reasons of its own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from dramatiq.errors import BrokerConnectionError

from projections.reads import TRANSIENT

log = logging.getLogger(__name__)

#: Pause after a failing pass, doubled on each failure in a row, in seconds.
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 10.0
#: Connection loss of the database or of the broker: expected during an outage.
OUTAGE: tuple[type[BaseException], ...] = (*TRANSIENT, BrokerConnectionError)
#: A read model the loop reads is not created yet: on a fresh database the worker may
#: start before the projections process has created its tables. Expected, not a fault.
NOT_CREATED_YET: tuple[type[BaseException], ...] = (psycopg.errors.UndefinedTable,)


def keep_running(name: str, step: Callable[[], object], stopping: threading.Event,
                 interval: float) -> None:
    """Call ``step`` until ``stopping`` is set; wait ``interval`` after each pass unless
    it returned ``True`` (more work at once). A failing pass backs off and tries again."""
    delay = BACKOFF_FIRST
    while not stopping.is_set():
        try:
            more = step() is True
        except OUTAGE as error:
            log.warning("%s lost its connection (%s); retrying in %.1f s", name,
                        type(error).__name__, delay)
        except NOT_CREATED_YET as error:
            log.info("%s waits for its read models (%s); retrying in %.1f s", name,
                     str(error).splitlines()[0], delay)
        except Exception:
            log.exception("%s failed; retrying in %.1f s", name, delay)
        else:
            delay = BACKOFF_FIRST
            if not more:
                stopping.wait(interval)
            continue
        stopping.wait(delay)
        delay = min(delay * 2, BACKOFF_MAX)


class PollingLoop:
    """Calls :meth:`run_once` until :meth:`stop`.

    A pass that filled its batch polls again at once; otherwise the loop waits
    ``poll_interval``. An error is retried with backoff (:func:`keep_running`).
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
        keep_running(self.name, lambda: self.run_once() >= self.batch_size, self.stopping,
                     self.poll_interval)

    def stop(self) -> None:
        self.stopping.set()
