"""Where an aggregate's command puts the events it triggers.

By default an event is the library's: an object built, applied to the aggregate and kept
pending until the application saves it. While an application records a command's events
straight as stored rows (ingestion does, for every item it decides on a cached customer;
see :mod:`application.unit_rows`), it sets :data:`RECORDER` around the command, and
:func:`trigger_event` hands each event's class and fields to it instead: the decision
stays the aggregate's own, only the event object is skipped. The recorder must change the
aggregate exactly as the event's ``mutate`` would.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from eventsourcing.domain import Aggregate

#: (aggregate, event class, fields) -> None: records the event and applies it.
Recorder = Callable[[Any, type[Any], dict[str, Any]], None]

#: The recorder of the command running in this context (None: the library's events).
RECORDER: ContextVar[Recorder | None] = ContextVar("siyu_event_recorder", default=None)


def trigger_event(aggregate: Aggregate, event_class: type[Any], **kwargs: Any) -> None:
    """``Aggregate.trigger_event``, or the recorder set for this command."""
    record = RECORDER.get()
    if record is None:
        Aggregate.trigger_event(aggregate, event_class, **kwargs)
    else:
        record(aggregate, event_class, kwargs)
