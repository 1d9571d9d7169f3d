"""The welcome outbox: the decision to send, recorded with the event log's position.

``WelcomeOutboxView`` is a projection (``projections.runner.View``): every
``Customer.FriendAdded`` that carries a welcome code becomes one row of
``welcome_outbox``, inserted with ``ON CONFLICT DO NOTHING`` in the transaction
that also records the tracking position — a row is never lost nor doubled.

The row then moves ``pending`` → (gateway answer stored in ``outcome``) →
``sent`` | ``failed``. The :class:`Dispatcher` enqueues the key of every
pending row not enqueued yet (and of rows stuck pending too long). Nothing here
talks to the gateway; the actor does, outside any transaction.

The table is internal (not for BI) and it is a ledger of work, not a disposable
read model: :meth:`WelcomeOutboxView.clear` keeps the rows, so a rebuild replays
into existing keys and sends nothing again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from psycopg import Cursor
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool

from domain.customer import Customer
from projections.welcome_outbox import queries
from workers.polling import PollingLoop

log = logging.getLogger(__name__)

PENDING, SENT, FAILED = "pending", "sent", "failed"
EXPIRED_BEFORE_DISPATCH = "expired before dispatch"
#: WeCom ``send_welcome_msg``: a ``welcome_code`` may be used once, within 20 seconds of the
#: add event (发送新客户欢迎语: "仅可在收到相关事件后20秒内调用"). Measured from the add's
#: business time (the callback's ``CreateTime``).
WELCOME_CODE_LIFETIME = timedelta(seconds=20)

Row = dict[str, Any]


def outbox_key(customer_id: UUID, originator_version: int) -> str:
    return f"welcome:{customer_id}:{originator_version}"


def outbox_row(event: Any, now: datetime, max_age: timedelta | None = None,
               lifetime: timedelta = WELCOME_CODE_LIFETIME) -> Row | None:
    """The outbox row for an event, or None if it asks for no welcome message.

    A ``FriendAdded`` that happened more than the welcome code's lifetime
    (:data:`WELCOME_CODE_LIFETIME`) before ``now`` — history imported or replayed, a
    demo's month-old adds, a projection that was behind — or recorded longer than
    ``max_age`` ago is written as already failed: its code has expired, and no
    gateway call is made for it.
    """
    if not isinstance(event, Customer.FriendAdded) or not event.welcome_code:
        return None
    row: Row = {
        "outbox_key": outbox_key(event.originator_id, event.originator_version),
        "customer_id": event.originator_id,
        "staff_id": event.staff_id,
        "channel": event.channel,
        "welcome_code": event.welcome_code,
        "status": PENDING,
        "recorded_at": event.timestamp,
        "completed_at": None,
        "failure": None,
        "state": event.state,
        "occurred_at": event.occurred_at,
    }
    expired = event.occurred_at < now - lifetime
    if expired or (max_age is not None and event.timestamp < now - max_age):
        row.update(status=FAILED, completed_at=now, failure=EXPIRED_BEFORE_DISPATCH)
    return row


def create_table(curs: Cursor[Any]) -> None:
    queries.create_table(curs)


class WelcomeOutboxView:
    """Writes ``welcome_outbox`` rows; implements ``projections.runner.View``."""

    name = "welcome_outbox"
    version = 1

    def __init__(self, *, max_age: timedelta | None = None,
                 lifetime: timedelta = WELCOME_CODE_LIFETIME,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.max_age = max_age
        self.lifetime = lifetime
        self.clock = clock

    def create(self, curs: Cursor[DictRow]) -> None:
        create_table(curs)

    def apply_page(self, curs: Cursor[DictRow], events: Sequence[tuple[int, Any]]) -> None:
        now = self.clock()
        rows = [r for r in (outbox_row(e, now, self.max_age, self.lifetime) for _, e in events)
                if r]
        if not rows:
            return
        queries.insert_rows(curs, rows)

    def bind(self, app: Any) -> None:
        """Folds events only: needs nothing from the application."""

    def drop(self, curs: Cursor[DictRow]) -> None:
        """A ledger of work, not a disposable read model: never dropped (see clear)."""

    def clear(self, curs: Cursor[DictRow]) -> None:
        """Keep the rows: rebuilding must not send welcome messages again."""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    outbox_key: str
    customer_id: UUID
    staff_id: str
    channel: str
    welcome_code: str
    status: str
    attempts: int
    template_id: str | None
    outcome: str | None
    answered_at: datetime | None
    gateway_message_id: str | None
    failure: str | None
    state: str | None = None  # the contact way's state: which channel code, if any
    occurred_at: datetime | None = None  # the add's business time (rows before v2: None)

    @classmethod
    def from_db(cls, row: DictRow) -> OutboxRow:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


class OutboxStore:
    """Short transactions on ``welcome_outbox`` (never open while the gateway is called)."""

    def __init__(self, pool: ConnectionPool[Any]) -> None:
        self.pool = pool

    @classmethod
    def connect(cls, database_url: str, *, max_size: int = 4) -> OutboxStore:
        pool: ConnectionPool[Any] = ConnectionPool(
            database_url, min_size=1, max_size=max_size, open=True,
            kwargs={"application_name": "siyu-welcome-outbox"})
        store = cls(pool)
        store.create()
        return store

    def close(self) -> None:
        self.pool.close()

    def create(self) -> None:
        with self.pool.connection() as conn, conn.cursor() as curs:
            create_table(curs)

    def _one(self, statement: Callable[..., Row | None], *args: Any) -> OutboxRow | None:
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as curs:
            found = statement(curs, *args)
        return OutboxRow.from_db(found) if found else None

    def get(self, key: str) -> OutboxRow | None:
        return self._one(queries.get, key)

    def begin_attempt(self, key: str, template_id: str) -> OutboxRow | None:
        """Count one gateway call; None if the row is no longer waiting for an answer."""
        return self._one(queries.begin_attempt, key, template_id)

    def record_answer(self, key: str, *, outcome: str, answered_at: datetime,
                      gateway_message_id: str | None, failure: str | None) -> OutboxRow | None:
        """Store the gateway's answer (first answer wins); returns the row as it now is."""
        self._one(queries.record_answer, key, outcome, answered_at, gateway_message_id, failure)
        return self.get(key)

    def complete(self, key: str) -> None:
        """The outcome event is recorded: the row takes the answer as its status."""
        self._one(queries.complete, key)

    def enqueue_due(self, enqueue: Callable[[str], None], *, stale_after: timedelta,
                    limit: int = 200) -> int:
        """Enqueue pending rows never enqueued, or enqueued longer than ``stale_after`` ago.

        Rows are locked (``SKIP LOCKED``: several dispatchers may run) while their messages
        are enqueued and ``enqueued_at`` is set; a row whose enqueue failed stays due.
        """
        done: list[str] = []
        with self.pool.connection() as conn, conn.cursor() as curs:
            keys = queries.claim_due(curs, stale_after, limit)
            failed: Exception | None = None
            for key in keys:
                try:
                    enqueue(key)
                except Exception as error:
                    failed = error
                    break
                done.append(key)
            if done:  # committed even if a later enqueue failed
                queries.note_enqueued(curs, done)
        if failed is not None:
            raise failed
        return len(done)

    def counts(self) -> dict[str, int]:
        with self.pool.connection() as conn, conn.cursor() as curs:
            return queries.counts(curs)


class DueWork(Protocol):
    """An outbox whose due rows can be enqueued (welcome rows, staff alerts)."""

    def enqueue_due(self, enqueue: Callable[[str], None], *, stale_after: timedelta,
                    limit: int = 200) -> int: ...


class Dispatcher(PollingLoop):
    """Polls an outbox and enqueues one message (the row's key) per due row."""

    name = "outbox dispatcher"

    def __init__(self, store: DueWork, enqueue: Callable[[str], None], *,
                 stale_after: timedelta = timedelta(minutes=5), poll_interval: float = 0.5,
                 batch_size: int = 200) -> None:
        super().__init__(poll_interval, batch_size)
        self.store = store
        self.enqueue = enqueue
        self.stale_after = stale_after

    def run_once(self) -> int:
        return self.store.enqueue_due(self.enqueue, stale_after=self.stale_after,
                                      limit=self.batch_size)
