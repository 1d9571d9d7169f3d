"""One worker process: a Dramatiq worker for its features' actors, a thread per loop.

Built by the wiring (:mod:`siyu.worker_process`) from features
(:mod:`workers.features`); ``start()`` returns at once, ``stop()`` is clean.

Several worker processes may consume the queues. Projecting an outbox is single-writer
(its runner holds an advisory lock, a second one waits); dispatching is safe from several
processes (rows are claimed with ``SKIP LOCKED``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

import dramatiq

from application.app import Siyu
from workers.features import Feature, Loop, Welcome
from workers.options import WorkerOptions

log = logging.getLogger(__name__)


class WorkerProcess:
    def __init__(self, *, app: Siyu, broker: dramatiq.Broker, welcome: Welcome,
                 features: Sequence[Feature], options: WorkerOptions,
                 closers: list[Callable[[], None]] | None = None) -> None:
        self.app = app
        self.broker = broker
        self.welcome = welcome
        self.features = [welcome, *features]
        self.options = options
        self._closers = closers or []
        self.worker: dramatiq.Worker | None = None
        self._threads: list[threading.Thread] = []
        self.failure: BaseException | None = None
        self.failed = threading.Event()
        self._started = self._stopped = False

    @property
    def loops(self) -> dict[str, Loop]:
        return {name: loop for feature in self.features for name, loop in feature.loops.items()}

    def start(self) -> WorkerProcess:
        if self._started:
            return self
        self._started = True
        if self.options.consume:
            queues = self.options.consume_queues
            self.worker = dramatiq.Worker(self.broker, worker_threads=self.options.threads,
                                          worker_timeout=self.options.worker_timeout,
                                          queues=None if queues is None else set(queues))
            self.worker.start()
        for name, loop in self.loops.items():
            self._spawn(name, loop.run_forever)
        log.info("worker started: %s (%d threads)",
                 ", ".join(f.name for f in self.features), self.options.threads)
        return self

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        def run() -> None:
            try:
                target()
            except BaseException as error:
                log.exception("%s stopped", name)
                self.failure = error
                self.failed.set()

        thread = threading.Thread(target=run, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop producing, let in-flight messages finish, close every connection."""
        if self._stopped:
            return
        self._stopped = True
        for loop in self.loops.values():
            loop.stop()
        for thread in self._threads:
            thread.join(timeout)
        if self.worker is not None:
            self.worker.stop(timeout=int(timeout * 1000))
        self.broker.close()
        for close in reversed(self._closers):
            try:
                close()
            except Exception:
                log.exception("while closing the worker")
        log.info("worker stopped")

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
