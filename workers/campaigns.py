"""Sending campaigns: dispatcher → Dramatiq chunks → gateway → outcomes recorded once.

The launch recorded every planned send (``Campaign.RecipientsPlanned``), projected into
``campaign_send``. The :class:`CampaignDispatcher` claims due sends of running campaigns
(``send_at`` reached) with ``SKIP LOCKED`` through the
:class:`~workers.campaign_store.CampaignStore`, notes them in ``campaign_dispatch`` and
enqueues **chunks** (up to :data:`~workers.campaign_store.CHUNK` customers of one
campaign per message: ids, not objects). The actor that sends a chunk is in
:mod:`workers.campaign_sending`. The :class:`CampaignLauncher` launches scheduled
campaigns when their start time comes; :class:`workers.mass_send_lifecycle.MassSendLifecycle`
follows each WeCom mass-send task to its end.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from application.app import Siyu
from projections.campaigns import dispatch
from workers.campaign_store import CampaignStore
from workers.polling import PollingLoop, keep_running

log = logging.getLogger(__name__)


class CampaignDispatcher(PollingLoop):
    """Polls due sends and enqueues chunks; stale enqueues (a lost message) come again."""

    name = "campaign dispatcher"

    def __init__(self, store: CampaignStore, enqueue: Callable[[str, int, list[str]], None],
                 *, stale_after: timedelta = timedelta(minutes=5), poll_interval: float = 0.5,
                 batch_size: int = 2000,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        super().__init__(poll_interval, batch_size)
        self.store = store
        self.enqueue = enqueue
        self.stale_after = stale_after
        self.clock = clock

    def run_once(self) -> int:
        chunks = self.store.claim_due(self.clock(), self.stale_after, self.batch_size)
        for campaign_id, step, customers in chunks:
            self.enqueue(str(campaign_id), step, [str(c) for c in customers])
        return sum(len(c) for _, _, c in chunks)


class CampaignLauncher:
    """Launches scheduled campaigns when their start comes, completes finished ones.

    Safe from several workers: a launch is serialised by the planner's advisory lock and
    refused (``CAMPAIGN_STATE``) once the campaign runs; completion is a no-op then too.
    """

    def __init__(self, app: Siyu, store: CampaignStore, tracker: Any, *,
                 poll_interval: float = 5.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.app = app
        self.store = store
        self.tracker = tracker
        self.poll_interval = poll_interval
        self.clock = clock
        self.stopping = threading.Event()

    def run_once(self) -> tuple[int, int]:
        """(launched, completed) in this pass."""
        from application.campaign_launch import LaunchRefused, launch
        from domain.errors import DomainError

        now = self.clock()
        with self.store.pool.connection() as conn:
            due = dispatch.due_scheduled(conn, now)
            finished = dispatch.finished_running(conn)
            conn.commit()
        launched = completed = 0
        for campaign_id in due:
            try:
                launch(self.app, self.tracker, campaign_id, "system", now)
                launched += 1
            except (DomainError, LaunchRefused) as error:
                log.info("scheduled campaign %s not launched: %s", campaign_id,
                         getattr(error, "code", type(error).__name__))
        for campaign_id in finished:
            if self.app.campaigns.complete(campaign_id, "system", now) is not None:
                completed += 1
        return launched, completed

    def run_forever(self) -> None:
        keep_running("campaign launcher", self.run_once,
                     self.stopping, self.poll_interval)

    def stop(self) -> None:
        self.stopping.set()
