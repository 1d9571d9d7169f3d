"""Group concurrent small writes into one transaction.

Writes are serialised per process (see ``Siyu``); a callback or a
small GraphQL batch would otherwise pay a whole transaction each. The batcher
collects what arrives while the previous batch is being written (and up to
``max_wait`` seconds more), records it with one ``record_batch`` call, and
hands each caller its own outcomes. Atomic batches are written alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from anyio import to_thread

from application.app import Siyu
from application.ingestion import BatchResult, ItemOutcome
from domain.ingestion import EventItem


@dataclass
class _Request:
    items: Sequence[EventItem]
    by: str
    done: asyncio.Future[BatchResult] = field(repr=False)


class WriteBatcher:
    def __init__(self, app: Siyu, *, max_items: int = 5000,
                 max_wait: float = 0.002) -> None:
        self.app = app
        self.max_items = max_items
        self.max_wait = max_wait
        self._queue: asyncio.Queue[_Request] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="write-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def record(self, items: Sequence[EventItem], by: str, *, atomic: bool = False
                     ) -> BatchResult:
        if atomic or self._task is None:
            return await to_thread.run_sync(
                lambda: self.app.ingestion.record_batch(items, by, atomic=atomic))
        done: asyncio.Future[BatchResult] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Request(items, by, done))
        return await done

    async def _run(self) -> None:
        while True:
            group = [await self._queue.get()]
            size = len(group[0].items)
            deadline = asyncio.get_running_loop().time() + self.max_wait
            while size < self.max_items:
                timeout = deadline - asyncio.get_running_loop().time()
                try:
                    request = await asyncio.wait_for(self._queue.get(), max(timeout, 0))
                except TimeoutError:
                    break
                group.append(request)
                size += len(request.items)
            await self._write(group)

    async def _write(self, group: list[_Request]) -> None:
        # One actor per write: callers with different principals are written separately.
        by_actor: dict[str, list[_Request]] = {}
        for request in group:
            by_actor.setdefault(request.by, []).append(request)
        for by, requests in by_actor.items():
            items = [item for r in requests for item in r.items]
            try:
                result = await to_thread.run_sync(self.app.ingestion.record_batch, items, by)
            except Exception as error:  # every caller learns of the failure
                for r in requests:
                    if not r.done.done():
                        r.done.set_exception(error)
                continue
            offset = 0
            for r in requests:
                outcomes = [ItemOutcome(o.index - offset, o.event_id, o.status, o.customer_id,
                                        o.error)
                            for o in result.outcomes[offset:offset + len(r.items)]]
                offset += len(r.items)
                stored = any(o.status == "accepted" for o in outcomes)
                if not r.done.done():
                    r.done.set_result(BatchResult(
                        outcomes=outcomes, last_position=result.last_position if stored else None))
