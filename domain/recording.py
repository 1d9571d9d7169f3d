"""Where an aggregate's command puts the events it triggers.

By default an event is the library's: an object built, applied to the aggregate and kept
pending until the application saves it. While an application records a command's events
straight as stored rows (ingestion does, for every item it decides on a cached customer;
see :mod:`application.unit_rows`), it sets :data:`RECORDER` around the command, and
:func:`trigger_event` hands each event's class and fields to it instead: the decision
stays the aggregate's own, only the event object is skipped. The recorder must change the
aggregate exactly as the event's ``mutate`` would, and :func:`create` must return the
aggregate the library's ``_create`` would.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, Protocol, TypeVar

from eventsourcing.domain import Aggregate

A = TypeVar("A", bound=Aggregate)


class Recorder(Protocol):
    def __call__(self, aggregate: Any, event_class: type[Any], fields: dict[str, Any]
                 ) -> None:
        """Record ``event_class(**fields)`` as ``aggregate``'s next event, and apply it."""

    def create(self, kind: type[A], event_class: type[Any], fields: dict[str, Any]) -> A:
        """A new ``kind``, its ``event_class(**fields)`` recorded as its first event."""


#: The recorder of the command running in this context (None: the library's events).
RECORDER: ContextVar[Recorder | None] = ContextVar("siyu_event_recorder", default=None)


def trigger_event(aggregate: Aggregate, event_class: type[Any], **kwargs: Any) -> None:
    """``Aggregate.trigger_event``, or the recorder set for this command."""
    record = RECORDER.get()
    if record is None:
        Aggregate.trigger_event(aggregate, event_class, **kwargs)
    else:
        record(aggregate, event_class, kwargs)


def create(kind: type[A], event_class: type[Any], **fields: Any) -> A:
    """``kind._create(event_class, **fields)`` (what ``kind(**fields)`` does when
    ``event_class`` is its created event), or the recorder set for this command's."""
    record = RECORDER.get()
    if record is None:
        return kind._create(event_class, **fields)
    return record.create(kind, event_class, fields)
