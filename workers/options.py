"""Tuning of one worker process; the defaults suit production."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from workers.alerts import ALERT_QUEUE
from workers.campaign_sending import CAMPAIGN_QUEUE
from workers.clock import CLOCK_QUEUE
from workers.daily_report import REPORT_QUEUE
from workers.sops import SOP_QUEUE
from workers.welcome import DEFAULT_QUEUE, TEMPLATES, RetryPolicy, WelcomeTemplate


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    threads: int = 4  # Dramatiq worker threads
    queue_name: str = DEFAULT_QUEUE
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: Re-enqueue a row still pending this long after its last enqueue (lost message,
    #: retries exhausted by a crash loop). Keep it above the longest retry backoff.
    stale_after: timedelta = timedelta(minutes=5)
    dispatch_interval: float = 0.5  # seconds between outbox polls
    projection_poll_interval: float = 0.5  # safety-net poll of the event log (NOTIFY wakes it)
    #: FriendAdded recorded longer ago than this is not sent (first run over old history);
    #: WeCom's welcome codes live ~20 seconds. None sends everything.
    max_age: timedelta | None = timedelta(hours=1)
    worker_timeout: int = 1_000  # ms a consumer waits for messages; bounds stop() latency
    postgres_poll_interval: float = 1.0  # dramatiq-postgres' poll when no NOTIFY arrives
    templates: Mapping[str, WelcomeTemplate] = field(default_factory=lambda: TEMPLATES)
    produce: bool = True  # run the loops (projections, dispatchers, schedulers)
    #: Length of a clock slot: time-window segments are re-evaluated once per slot.
    tick_minutes: int = 60
    clock_queue: str = CLOCK_QUEUE
    campaign_queue: str = CAMPAIGN_QUEUE
    #: Sends per second per campaign channel, shared by every worker (absent: no limit).
    campaign_rates: Mapping[str, float] = field(default_factory=dict)
    campaign_dispatch_interval: float = 0.5
    campaign_stale_after: timedelta = timedelta(minutes=5)
    mass_send_poll_interval: float = 60.0  # seconds between reads of WeCom task results
    #: Seconds between reads of the mass sends members made themselves in the WeCom client
    #: (they use the customers' WeCom quota: workers.wecom_quota).
    wecom_quota_poll_interval: float = 300.0
    #: Seconds between two listings of WeCom's customer-group directory (workers.group_sync).
    group_sync_interval: float = 600.0
    #: How long members have to confirm a mass-send task when its campaign sets no
    #: deadline (``setCampaignConfirmationDeadline``): reminded before, cancelled after.
    mass_send_confirm_within: timedelta = timedelta(hours=24)
    #: An open send intent older than this cannot have its call in flight any more: it is
    #: reconciled (WeCom) or recorded unknown (workers.send_intents). Keep it above the
    #: gateway's timeout times its token retry.
    send_intent_lease: timedelta = timedelta(seconds=30)
    sop_queue: str = SOP_QUEUE
    sop_dispatch_interval: float = 1.0  # seconds between polls of due SOP steps
    consume: bool = True  # run a Dramatiq worker for the queues
    #: Consume only these queues (e.g. ``{campaign_queue}`` for a process dedicated to
    #: sending campaigns); None: every queue of the declared actors.
    consume_queues: frozenset[str] | None = None
    alert_queue: str = ALERT_QUEUE
    #: A customer message unanswered this long alerts the staff member; the second limit
    #: escalates to the managers.
    chat_timeout: timedelta = timedelta(minutes=30)
    chat_timeout_escalation: timedelta = timedelta(hours=2)
    timeout_check_interval: float = 30.0  # seconds between chat-timeout checks
    report_queue: str = REPORT_QUEUE
    #: Daily reports for yesterday are built once it is past this hour in Shanghai.
    report_hour: int = 8
