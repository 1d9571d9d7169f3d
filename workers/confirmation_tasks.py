"""Marketing tasks (营销任务) that ask each sender to confirm a WeCom mass send.

WeCom delivers a customer mass send only after the sender confirms the task in the WeCom
app. For every mass-send task created (``staff_kpi_campaign_task``), this loop assigns the
sender one marketing task of kind ``campaign_confirmation``, due a day after the task was
created (``confirm_within``), and closes it from what the campaign read models show:

- a recipient left the pending state (``confirmed_at``) → completed on the sender's behalf,
  at the confirmation time, with the WeCom task as evidence;
- every recipient is final and none was delivered (all ``expired``) → cancelled, "expired".

The assignment key ``campaign-confirmation:<campaign id>:<WeCom task id>`` makes each
assignment once however many workers run or retry; completing or cancelling a task already
closed that way is a no-op. So the loop needs no state of its own: each pass reads the work
still to do. Tasks of a sender that is not a staff member (a WeCom member without a staff
record) or cannot be assigned (left) are skipped, once logged, for the life of the process.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg_pool import ConnectionPool

from application.app import Siyu
from domain.errors import DomainError
from domain.marketing_task import task_id
from projections.marketing_tasks import queries as task_queries
from workers.polling import PollingLoop

log = logging.getLogger(__name__)

KEY_PREFIX = "campaign-confirmation"
BY = "service:confirmation-tasks"
TITLE = "Confirm the WeCom mass send (确认群发)"
def assignment_key(campaign_id: UUID, wecom_task_id: str) -> str:
    """The key the loop assigns a WeCom task's confirmation under (as
    :func:`projections.marketing_tasks.queries.confirmation_work` builds it)."""
    return f"{KEY_PREFIX}:{campaign_id}:{wecom_task_id}"


class ConfirmationTasks(PollingLoop):
    """Assigns, completes and cancels the senders' mass-send confirmation tasks."""

    name = "campaign confirmation tasks"

    def __init__(self, app: Siyu, pool: ConnectionPool[Any], *,
                 confirm_within: timedelta = timedelta(hours=24),
                 poll_interval: float = 5.0, batch_size: int = 200) -> None:
        super().__init__(poll_interval, batch_size)
        self.app = app
        self.pool = pool
        self.confirm_within = confirm_within
        self._skipped: set[str] = set()

    def run_once(self) -> int:
        rows = self._work()
        handled = 0
        for key, campaign_id, wecom_task, staff, created_at, confirmed_at, finished, status in rows:
            recorded = False
            try:
                if status is None:
                    _, position = self.app.marketing_tasks.assign(
                        key, TITLE, "campaign_confirmation", UUID(staff),
                        created_at + self.confirm_within, BY, created_at,
                        campaign_id=campaign_id)
                    recorded = position is not None
                recorded = self._close(key, wecom_task, confirmed_at, finished) or recorded
            except DomainError as refused:  # the sender left, or is not assignable
                self._skipped.add(key)
                log.warning("no confirmation task for a mass-send task of campaign %s: %s",
                            campaign_id, refused)
                continue
            handled += recorded
        return handled  # what this pass recorded (rows the read model has not caught up
        # with yet are read again, and change nothing)

    def _close(self, key: str, wecom_task: str, confirmed_at: datetime | None,
               finished: bool) -> bool:
        """Complete or cancel the task if the WeCom task is confirmed or finished; whether
        an event was recorded (False: still open, or closed that way already)."""
        if confirmed_at is not None:
            evidence = re.sub(r"[^A-Za-z0-9_.:@/-]", "_", f"wecom-task:{wecom_task}")[:128]
            return self.app.marketing_tasks.complete(task_id(key), None, None, [evidence], BY,
                                                    confirmed_at) is not None
        if finished:
            return self.app.marketing_tasks.cancel(task_id(key), "expired", BY,
                                                  self.app.clock()) is not None
        return False

    def _work(self) -> list[tuple[Any, ...]]:
        return task_queries.confirmation_work(self.pool, KEY_PREFIX, sorted(self._skipped),
                                              self.batch_size)
