"""Live leaderboards: one database listener per API process, one recomputation per change.

Fan-out design:

* **One listener.** The hub holds one PostgreSQL connection that LISTENs on
  :data:`projections.staff_performance.KPI_CHANNEL`; the staff-performance and
  target views NOTIFY it inside the transaction that commits a page, so a
  notification means the read model already shows the change. A lost listener
  connection is reopened (with backoff) and treated as a change.
* **One recomputation per distinct leaderboard.** Subscribers with equal keys
  (KPI, period, department, measure, size) share one computation; a change
  recomputes every key once and sends a ranking only when it differs from the
  last one sent.
* **Coalescing.** Notifications arriving while a round runs mark the hub dirty
  once: a burst of pages costs at most one more round.
* **Bounded queues.** Each subscriber has a mailbox of one: a newer ranking
  replaces one not yet taken, so a slow console holds at most one ranking and
  only ever misses intermediate states, never the latest.
* **Bounded subscribers.** At most ``max_subscribers`` per process
  (``TooManySubscribers`` beyond); strawberry bounds operations per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from types import TracebackType
from typing import Any

from psycopg import AsyncConnection
from psycopg.sql import SQL, Identifier

from projections.staff_performance import KPI_CHANNEL

log = logging.getLogger(__name__)

MAX_SUBSCRIBERS = 10_000


@dataclass(frozen=True, slots=True)
class LeaderboardKey:
    kpi: str  # the rollup column
    period_kind: str
    start: date  # any day of the period (normalised by the caller or the query)
    department: str | None
    measure: str
    first: int


class TooManySubscribers(Exception):
    pass


class Subscription:
    """One subscriber: a mailbox of one, iterated as (ranking, computed at)."""

    def __init__(self, hub: LeaderboardHub, key: LeaderboardKey) -> None:
        self.hub = hub
        self.key = key
        self._mailbox: asyncio.Queue[tuple[Any, datetime]] = asyncio.Queue(maxsize=1)

    def offer(self, item: tuple[Any, datetime]) -> None:
        """Replace what is waiting (if anything) with the newest ranking."""
        with contextlib.suppress(asyncio.QueueEmpty):
            self._mailbox.get_nowait()
        self._mailbox.put_nowait(item)

    async def __aenter__(self) -> Subscription:
        await self.hub._first_ranking(self)
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        self.hub._unsubscribe(self)

    def __aiter__(self) -> AsyncIterator[tuple[Any, datetime]]:
        return self

    async def __anext__(self) -> tuple[Any, datetime]:
        return await self._mailbox.get()


Compute = Callable[[LeaderboardKey], Awaitable[Any]]


class LeaderboardHub:
    """Started and stopped in the API's lifespan (see the module)."""

    def __init__(self, database_url: str, compute: Compute, *,
                 max_subscribers: int = MAX_SUBSCRIBERS, channel: str = KPI_CHANNEL) -> None:
        self.database_url = database_url
        self.compute = compute
        self.max_subscribers = max_subscribers
        self.channel = channel
        self._subscribers: dict[LeaderboardKey, set[Subscription]] = {}
        self._last: dict[LeaderboardKey, tuple[Any, datetime]] = {}
        self._pending: dict[LeaderboardKey, asyncio.Future[tuple[Any, datetime]]] = {}
        self._count = 0
        self._dirty = asyncio.Event()
        self._listening = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.rounds = 0  # recomputation rounds run (for tests and benchmarks)

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._listen(), name="leaderboard-listen"),
                       asyncio.create_task(self._recompute(), name="leaderboard-recompute")]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), 10)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def subscribers(self) -> int:
        return self._count

    def subscribe(self, key: LeaderboardKey) -> Subscription:
        if self._count >= self.max_subscribers:
            raise TooManySubscribers(f"{self._count} live leaderboards in this process")
        subscription = Subscription(self, key)
        self._subscribers.setdefault(key, set()).add(subscription)
        self._count += 1
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        group = self._subscribers.get(subscription.key)
        if group is None or subscription not in group:
            return
        group.discard(subscription)
        self._count -= 1
        if not group:
            del self._subscribers[subscription.key]
            self._last.pop(subscription.key, None)

    async def _first_ranking(self, subscription: Subscription) -> None:
        """A new subscriber gets the last ranking sent for its key, or a fresh one: computed
        once for all who subscribe to the key before it is ready (200 subscribers arriving
        together took 200 connections, and those the pool could not lend got an error)."""
        key = subscription.key
        last = self._last.get(key)
        if last is None:
            pending = self._pending.get(key)
            if pending is None:
                pending = asyncio.ensure_future(self._compute_now(key))
                self._pending[key] = pending
                pending.add_done_callback(lambda _done: self._pending.pop(key, None))
            try:  # shielded: one subscriber leaving does not cancel the others' ranking
                last = await asyncio.shield(pending)
            except BaseException:
                self._unsubscribe(subscription)
                raise
            self._last.setdefault(key, last)
        subscription.offer(last)

    async def _compute_now(self, key: LeaderboardKey) -> tuple[Any, datetime]:
        return await self.compute(key), datetime.now().astimezone()

    async def _listen(self) -> None:
        delay = 0.1
        while True:
            try:
                conn = await AsyncConnection.connect(self.database_url, autocommit=True)
                async with conn:
                    await conn.execute(SQL("LISTEN {}").format(Identifier(self.channel)))
                    self._listening.set()
                    self._dirty.set()  # whatever happened while we were not listening
                    delay = 0.1
                    async for _ in conn.notifies():
                        self._dirty.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("leaderboard listener lost its connection; reconnecting")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _recompute(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            self.rounds += 1
            for key in list(self._subscribers):
                try:
                    ranking = await self.compute(key)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("leaderboard %s could not be computed", key)
                    continue
                last = self._last.get(key)
                if last is not None and last[0] == ranking:
                    continue
                item = (ranking, datetime.now().astimezone())
                group = self._subscribers.get(key)
                if not group:
                    continue
                self._last[key] = item
                for subscription in group:
                    subscription.offer(item)
