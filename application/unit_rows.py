"""What a unit of work writes: its aggregates' new events and its facts, as stored records.

A *fact* (an event class whose ``apply`` is the library's no-op, such as every
:class:`domain.customer_state.CustomerFact`) changes no state a command decides on:
recording one only advances its aggregate's ``version`` and ``modified_on``. Ingestion
records most items as facts, and an event object per fact — built, applied to the
aggregate, then mapped back to a stored record by the library — was a third of the
application's time per event. :func:`fact_row` does what ``trigger_event``, ``mutate`` and
``Mapper.to_stored_event`` do for such an event, in one step: the state in the event's
field order (``timestamp``, its dataclass fields, ``class_version`` above 1) encoded by
the store's transcoder, so the stored bytes are the library's (a test compares both paths
on every fact type). :func:`stored_records` then puts each aggregate's facts and pending
events together in version order, aggregate after aggregate, as ``Application.save``
orders events.

Events that do assign state (a tag, a friend, a group, an order) are decided by the
aggregate's own command as ever; ingestion runs the command with a :func:`recorder`
(:mod:`domain.recording`), and :func:`event_row` writes the event the command triggers
as a row and gives its ``apply`` the event's fields, without the event object.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any, TypeVar, cast
from uuid import UUID

from eventsourcing.domain import Aggregate, CanInitAggregate, CanMutateAggregate
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder
from eventsourcing.utils import get_topic

from domain.recording import Recorder
from domain.storable import stored_event

_OWN = frozenset({"originator_id", "originator_version", "timestamp"})
A = TypeVar("A", bound=Aggregate)


@dataclass(frozen=True, slots=True)
class EventLayout:
    topic: str
    fields: tuple[str, ...]  # after ``timestamp``, in the dataclass's order
    names: frozenset[str]
    defaults: Mapping[str, Any]
    class_version: int
    applies: bool  # its ``apply`` assigns state (False: a fact)


@functools.cache
def layout(kind: type[Aggregate.Event]) -> EventLayout:
    """How ``kind``'s events are stored."""
    names: list[str] = []
    defaults: dict[str, Any] = {}
    for f in dataclasses.fields(kind):
        if f.name in _OWN:
            continue
        if f.default_factory is not dataclasses.MISSING:
            raise TypeError(f"{kind.__qualname__}.{f.name} has a default factory")
        if f.default is not dataclasses.MISSING:
            defaults[f.name] = f.default
        names.append(f.name)
    return EventLayout(get_topic(kind), tuple(names), frozenset(names), defaults,
                       getattr(kind, "class_version", 1), kind.apply is not CanMutateAggregate.apply)


def fact_row(transcoder: Transcoder, aggregate: Aggregate, kind: type[Aggregate.Event],
             fields: Mapping[str, Any]) -> StoredEvent:
    """The stored record of the fact ``kind(**fields)`` as ``aggregate``'s next event, which
    it advances as the event's ``mutate`` would; ``TypeError`` if ``kind`` assigns state."""
    if layout(kind).applies:
        raise TypeError(f"{kind.__qualname__} assigns state: it is not a fact")
    return event_row(transcoder, aggregate, kind, fields)


def event_row(transcoder: Transcoder, aggregate: Aggregate, kind: type[Aggregate.Event],
              fields: Mapping[str, Any]) -> StoredEvent:
    """The stored record of ``kind(**fields)`` as ``aggregate``'s next event, applied to
    ``aggregate`` as the event's ``mutate`` would: its ``apply`` (which reads the event's
    attributes only) is given them as a namespace, then the version and time advance."""
    version = aggregate.version + 1
    timestamp = kind.create_timestamp()
    row = event_state(transcoder, kind, aggregate.id, version, timestamp, fields,
                      aggregate=aggregate)
    aggregate.version = version
    aggregate.modified_on = timestamp
    return row


def event_state(transcoder: Transcoder, kind: type[Aggregate.Event], originator_id: UUID,
                version: int, timestamp: datetime, fields: Mapping[str, Any], *,
                aggregate: Aggregate | None = None) -> StoredEvent:
    """The record of ``kind(**fields)`` at ``version``: the state in the event's field
    order, encoded; ``aggregate`` is given it first (an ``apply`` that raises stores
    nothing and changes nothing, as with ``mutate``)."""
    spec = layout(kind)
    if not fields.keys() <= spec.names:
        raise TypeError(f"Can't construct event {kind}: unexpected {set(fields) - spec.names}")
    state: dict[str, Any] = {"timestamp": timestamp}
    for name in spec.fields:
        if name in fields:
            state[name] = fields[name]
        elif name in spec.defaults:
            state[name] = spec.defaults[name]
        else:
            raise TypeError(f"Can't construct event {kind}: missing {name!r}")
    if aggregate is not None and spec.applies:
        kind.apply(cast(Any, SimpleNamespace(originator_id=originator_id,
                                             originator_version=version, **state)), aggregate)
    if spec.class_version > 1:
        state["class_version"] = spec.class_version
    return stored_event(originator_id, version, spec.topic, transcoder.encode(state))


def recorder(mapper: Mapper[UUID], rows: dict[UUID, list[StoredEvent]],
             held: Mapping[UUID, Aggregate]) -> Recorder | None:
    """Records the events of the aggregates ``held`` by a unit into its ``rows``
    (:data:`domain.recording.RECORDER`), or None when ``mapper`` compresses or encrypts:
    its records are then made from event objects."""
    if mapper.cipher is not None or mapper.compressor is not None:
        return None
    return RowRecorder(mapper.transcoder, rows, held)


class RowRecorder:
    """Events as rows into ``rows`` (stream id -> its new rows, in version order). An
    aggregate the unit does not hold (another unit's, in a nested command) keeps the
    library's event objects: only its own unit saves it."""

    def __init__(self, transcoder: Transcoder, rows: dict[UUID, list[StoredEvent]],
                 held: Mapping[UUID, Aggregate]) -> None:
        self.transcoder = transcoder
        self.rows = rows
        self.held = held

    def __call__(self, aggregate: Any, event_class: type[Any], fields: dict[str, Any]
                 ) -> None:
        if aggregate.id not in self.held:
            Aggregate.trigger_event(aggregate, event_class, **fields)
            return
        self.rows.setdefault(aggregate.id, []).append(
            event_row(self.transcoder, aggregate, event_class, fields))

    def create(self, kind: type[A], event_class: type[Any], fields: dict[str, Any]) -> A:
        if not creatable(kind, event_class, frozenset(fields)):
            return kind._create(event_class, **fields)
        aggregate, row = created_row(self.transcoder, kind, event_class, fields)
        self.rows.setdefault(aggregate.id, []).append(row)
        return aggregate


_CREATABLE: dict[tuple[type[Any], type[Any], frozenset[str]], bool] = {}


def creatable(kind: type[Aggregate], event_class: type[Any], names: frozenset[str]) -> bool:
    """Whether :func:`created_row` makes what ``kind._create(event_class, **fields)``
    makes: a created event that only constructs (no ``apply``, the library's ``mutate``),
    fields that are exactly ``__init__``'s parameters (not the id), ids from ``create_id``
    without arguments, no explicit topics."""
    key = (kind, event_class, names)
    known = _CREATABLE.get(key)
    if known is None:
        parameters = inspect.signature(kind.__init__).parameters
        known = _CREATABLE[key] = (
            issubclass(event_class, CanInitAggregate)
            and event_class.mutate is CanInitAggregate.mutate
            and event_class.apply is CanMutateAggregate.apply
            and names == set(parameters) - {"self"} and "id" not in names
            and not inspect.signature(kind.create_id).parameters.keys() - {"_", "__"}
            and not getattr(kind, "TOPIC", None))
    return known


def created_row(transcoder: Transcoder, kind: type[A], event_class: type[Any],
                fields: Mapping[str, Any]) -> tuple[A, StoredEvent]:
    """A new ``kind`` and the stored record of its created event, as the library's
    ``_create`` and ``CanInitAggregate.mutate`` make them (check :func:`creatable`)."""
    originator_id = kind.create_id()  # first the id, then the time, as ``_create``
    timestamp = event_class.create_timestamp()
    row = event_state(transcoder, event_class, originator_id, kind.INITIAL_VERSION, timestamp,
                      {**fields, "originator_topic": get_topic(kind)})
    aggregate = kind.__new__(kind)
    aggregate.__base_init__(originator_id=originator_id,
                            originator_version=kind.INITIAL_VERSION, timestamp=timestamp)
    aggregate.__init__(**fields)  # type: ignore[misc]  # the body under @event, as mutate
    return aggregate, row


def stored_records(aggregates: Mapping[UUID, Aggregate], rows: Mapping[UUID, list[StoredEvent]],
                   mapper: Mapper[UUID]) -> list[StoredEvent]:
    """Every aggregate's pending events (collected: no longer pending) and fact rows, in
    version order, aggregate after aggregate (``aggregates``: by id). An aggregate with
    rows only (ingestion's usual case) has them in version order already."""
    to_stored = mapper.to_stored_event
    records: list[StoredEvent] = []
    for aggregate_id, aggregate in aggregates.items():
        pending = aggregate.collect_events()
        facts = rows.get(aggregate_id)
        if not pending:
            if facts:
                records.extend(facts)
            continue
        stored = [to_stored(e) for e in pending]
        if facts:
            stored.extend(facts)
            stored.sort(key=_version)
        records.extend(stored)
    return records


def _version(record: StoredEvent) -> int:
    return record.originator_version
