"""Staff alerts: detected from the log and the clock, recorded once per cause, sent to staff.

1. **Detection** — :class:`AlertOutboxView`, a projection (single writer, rows and tracking
   in one transaction), writes one ``staff_alert_outbox`` row per cause:
   ``Customer.FriendDeleted`` by the customer → ``win_back``; ``Customer.SensitiveWordsFound``
   → ``sensitive_word`` (a staff message) or ``customer_sensitive_word`` (a customer's, to
   the managers of the member serving the chat). It also keeps ``unanswered_message``: per
   (customer, staff member), the oldest customer message not answered yet (a
   ``MessageSent`` by that staff member at or after it answers; a deleted friend clears it).
2. **Timeouts** — :func:`check_chat_timeouts`, run by :class:`ChatTimeoutChecker` in the
   worker like the clock scheduler, turns unanswered messages that have waited the first
   limit of working time (``WorkingHours``) into ``chat_timeout`` rows and the second into
   ``chat_timeout_escalated`` rows (keys derive from the message's time:
   ``INSERT … ON CONFLICT DO NOTHING``, so several checkers are safe).
3. **Delivery** — the outbox dispatcher enqueues each pending key; the idempotent actor
   ``deliver_staff_alert(key)`` works out the recipients (the staff member, the owner,
   the department's managers, or every manager when the department has none), records
   ``StaffAlert.Raised`` once per key, sends a WeCom application message to each
   recipient without an outcome yet (outside any transaction; WeCom's duplicate check
   absorbs a repeated send) and records each outcome on the alert.

Alert texts carry kinds, categories, term ids and ids — never message text or names.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import dramatiq
from psycopg import Cursor
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool

from adapters.wecom_client import Outcome, StaffMessageGateway
from application.app import Siyu
from domain.customer import Customer
from domain.staff import MANAGER_ROLES
from domain.staff_alert import (
    CHAT_TIMEOUT,
    CHAT_TIMEOUT_ESCALATED,
    CUSTOMER_SENSITIVE_WORD,
    PROJECTION_QUARANTINED,
    SENSITIVE_WORD,
    WIN_BACK,
    StaffAlert,
)
from domain.working_time import working_seconds
from projections.organisation import queries as organisation_queries
from projections.staff_alerts import outbox
from projections.staff_directory import queries as staff_directory_queries
from projections.staff_performance.chats import load_schedule
from workers.polling import keep_running
from workers.welcome import RetryPolicy, TransientSendError

log = logging.getLogger(__name__)

ACTOR_NAME = "deliver_staff_alert"
ALERT_QUEUE = "siyu_alerts"

Row = dict[str, Any]


def create_tables(curs: Cursor[Any]) -> None:
    outbox.create_tables(curs)


def alert_row(event: Any) -> Row | None:
    """The outbox row an event asks for, or None."""
    cid = event.originator_id
    if isinstance(event, Customer.FriendDeleted) and event.deleted_by == "customer":
        return {"alert_key": f"win_back:{cid}:{event.originator_version}", "kind": WIN_BACK,
                "staff_id": event.staff_id, "customer_id": cid, "occurred_at": event.occurred_at,
                "context": {}}
    if isinstance(event, Customer.SensitiveWordsFound):
        return {"alert_key": f"sensitive:{cid}:{event.originator_version}",
                "kind": CUSTOMER_SENSITIVE_WORD if event.side == "customer" else SENSITIVE_WORD,
                "staff_id": event.staff_id, "customer_id": cid,
                "occurred_at": event.occurred_at,
                "context": {"hits": event.hits, "message_ref": event.message_ref,
                            "lexicon_version": event.lexicon_version}}
    return None


class AlertOutboxView:
    """``staff_alert_outbox`` and ``unanswered_message``; a ``projections.runner.View``.

    The outbox is a ledger of work: :meth:`clear` keeps it (a rebuild raises nothing
    twice). Causes older than ``max_age`` when projected (a first run over old history)
    are written ``skipped``.
    """

    name = "staff_alert_outbox"
    version = 1
    events = (Customer,)

    def __init__(self, *, max_age: timedelta | None = timedelta(days=2),
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.max_age = max_age
        self.clock = clock

    def bind(self, app: Any) -> None:
        """Folds events only."""

    def create(self, curs: Cursor[DictRow]) -> None:
        create_tables(curs)

    def drop(self, curs: Cursor[DictRow]) -> None:
        outbox.drop_unanswered(curs)

    def clear(self, curs: Cursor[DictRow]) -> None:
        outbox.clear_unanswered(curs)

    def apply_page(self, curs: Cursor[DictRow], events: Sequence[tuple[int, Any]]) -> None:
        now = self.clock()
        rows: list[Row] = []
        for position, event in events:
            row = alert_row(event)
            if row is not None:
                old = self.max_age is not None and row["occurred_at"] < now - self.max_age
                rows.append({**row, "status": "skipped" if old else "pending"})
            elif isinstance(event, Customer.MessageReceived):
                outbox.message_received(curs, event.originator_id, event.staff_id,
                                        event.occurred_at, position)
            elif isinstance(event, Customer.MessageSent):
                outbox.message_sent(curs, event.originator_id, event.staff_id,
                                    event.occurred_at)
            if isinstance(event, Customer.FriendDeleted):
                outbox.friend_deleted(curs, event.originator_id, event.staff_id)
        if rows:
            outbox.add_alerts(curs, rows)


def check_chat_timeouts(curs: Cursor[Any], now: datetime, first: timedelta, second: timedelta,
                        max_age: timedelta = timedelta(days=14)) -> int:
    """Write the timeout rows that are due at ``now``; returns how many were new.

    A message is late once it has waited ``first`` (then ``second``) of **working time**
    (the working hours of :mod:`domain.working_hours`, as the staff KPIs measure it): a
    message that arrives at night is due the next working morning."""
    candidates = outbox.timeout_candidates(curs, "chat_timeout:", now - first, now - max_age)
    if not candidates:
        return 0
    schedule = load_schedule(curs)
    waited = [(c, s, t, working_seconds(schedule, t, now)) for c, s, t in candidates]
    created = 0
    for level, kind, limit in ((1, CHAT_TIMEOUT, first), (2, CHAT_TIMEOUT_ESCALATED, second)):
        due = [w for w in waited if w[3] >= limit.total_seconds()]
        if not due:
            continue
        created += outbox.add_timeouts(curs, "chat_timeout:", level, kind, limit, due)
    return created


@dataclass(frozen=True, slots=True)
class OutboxItem:
    alert_key: str
    kind: str
    staff_id: str
    customer_id: UUID | None
    context: dict[str, Any]
    occurred_at: datetime
    status: str


class AlertStore:
    """Short transactions on the alert outbox and the read models recipients come from."""

    def __init__(self, pool: ConnectionPool[Any]) -> None:
        self.pool = pool

    def create(self) -> None:
        with self.pool.connection() as conn, conn.cursor() as curs:
            create_tables(curs)

    def get(self, key: str) -> OutboxItem | None:
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as curs:
            row = outbox.get(curs, key)
        return None if row is None else OutboxItem(**row)

    def complete(self, key: str) -> None:
        with self.pool.connection() as conn, conn.cursor() as curs:
            outbox.complete(curs, key)

    def check_timeouts(self, now: datetime, first: timedelta, second: timedelta) -> int:
        with self.pool.connection() as conn, conn.cursor() as curs:
            return check_chat_timeouts(curs, now, first, second)

    def enqueue_due(self, enqueue: Callable[[str], None], *, stale_after: timedelta,
                    limit: int = 200) -> int:
        done: list[str] = []
        with self.pool.connection() as conn, conn.cursor() as curs:
            for key in outbox.claim_pending(curs, stale_after, limit):
                enqueue(key)
                done.append(key)
            if done:
                outbox.note_enqueued(curs, done)
        return len(done)

    def managers_for(self, staff_id: str) -> list[str]:
        """Managers of the staff member's department now; every manager if it has none."""
        rows = staff_directory_queries.managers(self.pool, staff_id, sorted(MANAGER_ROLES))
        same = sorted(r[0] for r in rows if r[1])
        return same or sorted(r[0] for r in rows)

    def owner_of(self, customer_id: UUID) -> str | None:
        return organisation_queries.current_owner(self.pool, customer_id)

    def wecom_users(self, staff_ids: Sequence[str]) -> dict[str, str]:
        """WeCom UserIDs of staff members who have one."""
        return staff_directory_queries.wecom_users(self.pool, staff_ids)


LABELS = {WIN_BACK: "客户删除了你, 请二次挽回", CHAT_TIMEOUT: "客户消息超时未回复",
          CHAT_TIMEOUT_ESCALATED: "客户消息超时未回复 (已升级)",
          SENSITIVE_WORD: "员工消息触发敏感词, 请审阅",
          CUSTOMER_SENSITIVE_WORD: "客户消息触发敏感词, 请关注该会话",
          PROJECTION_QUARANTINED: "读模型隔离了一个事件, 请通知运维 (siyu projections "
                                  "--retry-quarantined)"}


def alert_text(alert: StaffAlert) -> str:
    """What the staff member reads: kind, ids, categories and term ids; no message text."""
    parts = [f"[提醒] {LABELS[alert.kind]}", f"alert {alert.id}", f"staff {alert.staff_id}"]
    if alert.customer_id:
        parts.append(f"customer {alert.customer_id}")
    if alert.kind == PROJECTION_QUARANTINED:
        parts.append(f"view {alert.context.get('projection')} position "
                     f"{alert.context.get('position')} ({alert.context.get('error_class')})")
    hits = alert.context.get("hits") or []
    if hits:
        parts.append("hits " + ", ".join(f"{h['category']}/{h['term_id']}" for h in hits))
    return " | ".join(parts)


@dataclass(slots=True)
class AlertDeps:
    app: Siyu
    store: AlertStore
    gateway: StaffMessageGateway
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


def recipients_for(deps: AlertDeps, item: OutboxItem) -> list[str]:
    if item.kind == WIN_BACK:
        owner = deps.store.owner_of(item.customer_id) if item.customer_id else None
        return sorted({item.staff_id, *([owner] if owner else [])})
    if item.kind == CHAT_TIMEOUT:
        return [item.staff_id]
    return deps.store.managers_for(item.staff_id)


def deliver_staff_alert(deps: AlertDeps, key: str) -> None:
    """Handle one ``deliver_staff_alert`` message (see the module docstring)."""
    item = deps.store.get(key)
    if item is None or item.status != "pending":
        return
    alert, _ = deps.app.supervision.raise_alert(
        key, item.kind, item.staff_id, None if item.customer_id is None else str(item.customer_id),
        recipients_for(deps, item), item.context, item.occurred_at)
    pending = [r for r in alert.recipients if r not in alert.outcomes]
    users = deps.store.wecom_users(pending)
    transient: str | None = None
    for recipient in pending:
        result = deps.gateway.send_app_message(users.get(recipient, recipient), alert_text(alert))
        if result.outcome is Outcome.TRANSIENT_FAILURE:
            transient = result.reason
            continue
        deps.app.supervision.record_alert_delivery(alert.id, recipient, result.message_id,
                                       None if result.delivered else result.reason, deps.clock())
    if transient is not None:
        raise TransientSendError(f"alert {alert.id}: {transient}")
    deps.store.complete(key)
    log.info("alert %s (%s): delivered to %d recipient(s)", alert.id, alert.kind, len(pending))


def declare_alert_actor(broker: dramatiq.Broker, deps: AlertDeps, *,
                        queue_name: str = ALERT_QUEUE) -> dramatiq.Actor[[str], None]:
    def deliver(alert_key: str) -> None:
        deliver_staff_alert(deps, alert_key)

    policy = deps.retry
    declare = dramatiq.actor(broker=broker, actor_name=ACTOR_NAME, queue_name=queue_name,
                             max_retries=policy.max_retries, min_backoff=policy.min_backoff,
                             max_backoff=policy.max_backoff, retry_when=policy.retry_when,
                             time_limit=policy.time_limit)
    return declare(deliver)


class ChatTimeoutChecker:
    """Every ``poll_interval`` seconds, write the chat-timeout alerts that are due."""

    def __init__(self, store: AlertStore, first: timedelta, second: timedelta, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 poll_interval: float = 30.0) -> None:
        if not timedelta(0) < first < second:
            raise ValueError("chat timeout limits: 0 < first < second")
        self.store = store
        self.first = first
        self.second = second
        self.clock = clock
        self.poll_interval = poll_interval
        self.stopping = threading.Event()

    def run_once(self) -> int:
        return self.store.check_timeouts(self.clock(), self.first, self.second)

    def run_forever(self) -> None:
        keep_running("chat timeout check", self.run_once,
                     self.stopping, self.poll_interval)

    def stop(self) -> None:
        self.stopping.set()
