"""Concurrent small writes share one transaction, and each caller gets its own outcomes."""

from __future__ import annotations

import asyncio
from datetime import datetime

from api.batcher import WriteBatcher
from application.app import Siyu
from domain.ingestion import EventItem


def test_concurrent_writes_are_grouped_and_answered_separately(
    memory_app: Siyu, now: datetime
) -> None:
    calls: list[int] = []
    original = memory_app.ingestion.record_batch

    def counting(items: list[EventItem], by: str, *, atomic: bool = False) -> object:
        calls.append(len(items))
        return original(items, by, atomic=atomic)

    memory_app.ingestion.record_batch = counting  # type: ignore[assignment,method-assign]

    async def scenario() -> list[list[tuple[int, str, str | None]]]:
        batcher = WriteBatcher(memory_app, max_wait=0.05)
        batcher.start()
        try:
            requests = [
                [EventItem(f"r{n}-{i}", "TAGGED", ("wx_unionid", f"u{n}"), now, tag=f"t{i}")
                 for i in range(n + 1)]
                + [EventItem(f"bad{n}", "TELEPORTED", ("wx_unionid", "u"), now)]
                for n in range(5)
            ]
            results = await asyncio.gather(*(batcher.record(r, "service:test") for r in requests))
        finally:
            await batcher.stop()
        return [[(o.index, o.status, o.error.code if o.error else None) for o in r.outcomes]
                for r in results]

    answers = asyncio.run(scenario())
    # One transaction for the five callers...
    assert calls == [sum(n + 2 for n in range(5))]
    # ...and each caller sees its own items, indexed from 0, with its own refusals.
    for n, answer in enumerate(answers):
        assert answer == [(i, "accepted", None) for i in range(n + 1)] + [
            (n + 1, "rejected", "UNKNOWN_EVENT_TYPE")]
