"""The stored topics a read model reads, derived from the event classes it folds.

A stored event's topic is its class's module path (``domain.customer:Customer.Tagged``).
A view names the classes it folds — event classes, or an aggregate class for all of its
events — and the runner keeps the notifications whose topic is one of theirs: the current
topic (eventsourcing's ``get_topic``) and every old one the library maps to the class
(``register_topic`` of the old class topic, of its aggregate's old topic, or of its old
module or package). Moving a module therefore cannot silently filter events out.

Snapshots are not in the notification log, so a view never needs the snapshot class.

Finding the old topics walks the library's whole topic registry once per event class
(~25 ms for every read model's classes): every runner built does it, and the API and each
projections process build one per read model at start. The answer is kept per subjects
and per size of the registry, which only grows: ``register_topic`` refuses to bind a topic
again and ``resolve_topic`` only adds; a registration made later is therefore seen.
(``clear_topic_cache``, which nothing here calls, would need ``_stored_topics.cache_clear``.)
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterable
from types import ModuleType
from typing import Any

from eventsourcing.domain import DomainEvent
from eventsourcing.utils import _topic_cache, get_topic


def event_classes(*subjects: type[Any]) -> tuple[type[DomainEvent], ...]:
    """The event classes of ``subjects``: an event class stands for itself, an aggregate
    class for every event class nested in it (not the library's ``Snapshot``)."""
    found: dict[type[DomainEvent], None] = {}
    for subject in subjects:
        if issubclass(subject, DomainEvent):
            found[subject] = None
            continue
        nested = [getattr(subject, name) for name in dir(subject)]
        events = [c for c in nested if inspect.isclass(c) and issubclass(c, DomainEvent)
                  and c.__qualname__.startswith(f"{subject.__qualname__}.")]
        if not events:
            raise TypeError(f"{subject!r} is neither an event class nor an aggregate")
        found.update(dict.fromkeys(sorted(events, key=get_topic)))
    return tuple(found)


def registered_topics(cls: type[Any]) -> set[str]:
    """Old topics that resolve to ``cls`` through ``register_topic``: of the class itself,
    of a class it is nested in (an aggregate renamed or moved), or of its module or of a
    package above it (a module or package moved)."""
    current = get_topic(cls)
    module, _, qualname = current.partition(":")
    found = set()
    for topic, obj in list(_topic_cache.items()):
        if topic == current:
            continue
        if obj is cls:
            found.add(topic)
        elif (":" in topic and inspect.isclass(obj) and obj.__module__ == module
              and qualname.startswith(f"{obj.__qualname__}.") and topic != get_topic(obj)):
            found.add(topic + qualname[len(obj.__qualname__):])
        elif (":" not in topic and isinstance(obj, ModuleType) and topic != obj.__name__
              and (module == obj.__name__ or module.startswith(f"{obj.__name__}."))):
            found.add(f"{topic}{module[len(obj.__name__):]}:{qualname}")
    return found


def stored_topics(*subjects: type[Any]) -> frozenset[str]:
    """Every topic under which events of ``subjects`` are stored (see the module)."""
    return _stored_topics(subjects, len(_topic_cache))


@functools.lru_cache(maxsize=1024)
def _stored_topics(subjects: tuple[type[Any], ...], _registered: int) -> frozenset[str]:
    topics: set[str] = set()
    for cls in event_classes(*subjects):
        topics.add(get_topic(cls))
        topics |= registered_topics(cls)
    return frozenset(topics)


def topics_of_view(view: object) -> frozenset[str] | None:
    """The stored topics a view reads (None: every event), from its ``events``."""
    events: Iterable[type[Any]] | None = getattr(view, "events", None)
    return None if events is None else stored_topics(*events)
