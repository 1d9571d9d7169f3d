"""Waiting, after a mutation, for its read model to show what it recorded.

A mutation's payload reads the read model it changed; :func:`caught_up` waits (off the
event loop) until that read model's tracking position reaches the position the command
recorded, for at most :data:`WAIT_SECONDS`, and says whether it did — the payload's
``projected`` flag. Nothing recorded (``position`` None) is caught up at once.
"""

from __future__ import annotations

from anyio import to_thread
from strawberry.types import Info

from api.context import Context

WAIT_SECONDS = 5.0


async def caught_up(info: Info[Context, None], view: str, position: int | None,
                    seconds: float = WAIT_SECONDS) -> bool:
    if position is None:
        return True
    tracker = info.context.services.tracker
    done: bool = await to_thread.run_sync(lambda: tracker.wait(view, position, seconds))
    return done
