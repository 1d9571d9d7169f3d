"""The main job's supervisor: restarts a part that exits, stops only on repeated failure.

``siyu run`` / ``siyu demo`` start the server, the projections and the worker as
child processes. One child exiting used to stop them all: a database restart,
a full connection table or one bad moment took the whole platform down, and it
stayed down. Now a child that exits is started again after a backoff that grows
with each failure in a row (1 s, 2 s, 4 s … at most 30 s); a child that then runs
for a while (``healthy_after``) starts its count afresh. Only a child that fails
``max_failures`` times within ``window`` seconds stops the tree, with a message
that names it.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

log = logging.getLogger("siyu.supervisor")

Spawn = Callable[[str], subprocess.Popen[bytes]]


@dataclass
class Policy:
    first_backoff: float = 1.0
    max_backoff: float = 30.0
    max_failures: int = 5
    window: float = 300.0  # seconds within which max_failures stop the tree
    healthy_after: float = 60.0  # a child running this long starts its backoff afresh
    poll: float = 0.5


@dataclass
class _Child:
    part: str
    proc: subprocess.Popen[bytes] | None
    started: float
    failures: deque[float] = field(default_factory=deque)
    backoff: float = 0.0
    restart_at: float | None = None


class Supervisor:
    """Runs ``parts`` through ``spawn`` until :meth:`stop` or a part fails too often."""

    def __init__(self, spawn: Spawn, parts: Iterable[str], policy: Policy | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.spawn = spawn
        self.policy = policy or Policy()
        self.clock = clock
        self.stopping = threading.Event()
        #: Why the tree stopped on its own (None while running or after a clean stop).
        self.gave_up: str | None = None
        now = clock()
        self.children = {part: _Child(part, spawn(part), now) for part in parts}

    def check(self) -> None:
        """One round: notice exits, schedule and perform restarts."""
        now = self.clock()
        for child in self.children.values():
            if self.stopping.is_set():
                return  # Ctrl-C reaches the children too: their exits are no failures
            if child.proc is not None and child.proc.poll() is not None:
                self._exited(child, now)
            if child.proc is None and child.restart_at is not None and now >= child.restart_at:
                log.info("%s: starting again", child.part)
                child.proc = self.spawn(child.part)
                child.started, child.restart_at = now, None

    def _exited(self, child: _Child, now: float) -> None:
        assert child.proc is not None
        code = child.proc.returncode
        child.proc = None
        policy = self.policy
        if now - child.started >= policy.healthy_after:
            child.backoff = 0.0  # it ran well before this: not a crash loop
        child.failures.append(now)
        while child.failures and now - child.failures[0] > policy.window:
            child.failures.popleft()
        if len(child.failures) >= policy.max_failures:
            self.gave_up = (f"{child.part} exited {len(child.failures)} times within "
                            f"{policy.window:.0f} s (last exit code {code}); stopping everything")
            log.error("%s", self.gave_up)
            self.stopping.set()
            return
        child.backoff = min(policy.max_backoff, max(policy.first_backoff, child.backoff * 2))
        child.restart_at = now + child.backoff
        log.error("%s exited with code %s; starting it again in %.0f s", child.part, code,
                  child.backoff)

    def run(self) -> None:
        """Check until stopped (call from a thread; :meth:`stop` ends it)."""
        while not self.stopping.wait(self.policy.poll):
            self.check()

    def supervise(self, wait: Callable[[threading.Event], None], *, name: str = "supervisor",
                  join_seconds: float = 5.0) -> str | None:
        """Check in a thread while ``wait`` blocks (it returns on a signal, or once the
        tree gives up: it is handed :attr:`stopping`), then stop every child. Returns why
        the tree gave up, or None after a clean stop."""
        watcher = threading.Thread(target=self.run, daemon=True, name=name)
        watcher.start()
        try:
            wait(self.stopping)
        finally:
            self.stop()
            watcher.join(join_seconds)
        return self.gave_up

    def stop(self, timeout: float = 30.0) -> None:
        """Stop every child: SIGTERM, then SIGKILL after ``timeout``."""
        self.stopping.set()
        running = [c for c in self.children.values() if c.proc is not None]
        for child in running:
            if child.proc is not None and child.proc.poll() is None:
                child.proc.terminate()
        for child in running:
            assert child.proc is not None
            try:
                child.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %.0f s; killing it", child.part, timeout)
                child.proc.kill()
                child.proc.wait()
