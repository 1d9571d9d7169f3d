"""The topics a read model reads are derived from the event classes its code handles.

The runner decodes only the notifications stored under a view's topics
(:mod:`projections.topics`). A topic that resolves to nothing would read nothing; an event
class the view's code handles but whose topic is not read would silently never arrive.
"""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
from types import ModuleType
from typing import Any

import pytest
from eventsourcing.domain import Aggregate, DomainEvent, event
from eventsourcing.utils import get_topic, register_topic, resolve_topic

from projections.runner import View
from projections.topics import event_classes, stored_topics, topics_of_view
from siyu.processes import read_model_views
from workers.alerts import AlertOutboxView


def views() -> list[View]:
    return [*read_model_views(), AlertOutboxView()]


def ids(view: View) -> str:
    return view.name


def _value(node: ast.expr, scope: dict[str, Any]) -> object:
    """What a name or dotted name in the source is bound to at run time (None if local)."""
    if isinstance(node, ast.Name):
        return scope.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _value(node.value, scope)
        return None if base is None else getattr(base, node.attr, None)
    return None


def handled_event_classes(view: object) -> set[type[DomainEvent]]:
    """Event classes named in the view's code or in the projection code it reaches.

    Walks the view class's source, then the source of every function or class of
    ``projections``/``workers`` it names, transitively: every name bound to an event
    class (or a tuple, set or dict of them, as ``HANDLED``) is an event it handles.
    """
    found: set[type[DomainEvent]] = set()
    seen: set[int] = set()
    todo: list[Any] = [type(view)]
    while todo:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        module = sys.modules[obj.__module__]
        tree = ast.parse(textwrap.dedent(inspect.getsource(obj)))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Name | ast.Attribute):
                continue
            value = _value(node, vars(module))
            values = value if isinstance(value, tuple | list | set | frozenset | dict) else [value]
            for v in values:
                if inspect.isclass(v) and issubclass(v, DomainEvent):
                    found.add(v)
                elif ((inspect.isfunction(v) or inspect.isclass(v))
                      and not isinstance(v, ModuleType)
                      and v.__module__.startswith(("projections.", "workers."))):
                    todo.append(v)
    return found


@pytest.mark.parametrize("view", views(), ids=ids)
def test_every_topic_a_view_reads_resolves_to_an_event_class(view: View) -> None:
    topics = topics_of_view(view)
    assert topics is None or topics, f"{view.name} declares no event class"
    for topic in sorted(topics or ()):
        resolved = resolve_topic(topic)
        assert inspect.isclass(resolved) and issubclass(resolved, DomainEvent), topic


@pytest.mark.parametrize("view", views(), ids=ids)
def test_every_event_class_a_view_handles_is_read(view: View) -> None:
    topics = topics_of_view(view)
    if topics is None:  # reads the whole log
        return
    handled = handled_event_classes(view)
    assert handled, f"no event class found in {view.name}'s code"
    # A base class (``Customer.Event``, the library's ``DomainEvent``) names a family,
    # not a stored event: only classes without subclasses are checked.
    unread = sorted(get_topic(c) for c in handled
                    if not c.__subclasses__() and get_topic(c) not in topics)
    assert not unread, f"{view.name} handles events it never reads: {unread}"


# -- topics registered for moved classes ----------------------------------------------------
class Ticket(Aggregate):
    class Opened(Aggregate.Created):
        pass

    @event(Opened)
    def __init__(self) -> None:
        pass

    class Closed(Aggregate.Event):
        pass


def test_an_aggregate_stands_for_its_nested_event_classes() -> None:
    assert set(event_classes(Ticket)) == {Ticket.Opened, Ticket.Closed, Ticket.Event,
                                          Ticket.Created}
    assert event_classes(Ticket.Closed) == (Ticket.Closed,)


def test_old_topics_registered_for_a_moved_class_module_or_aggregate_are_read() -> None:
    # Given old names registered as eventsourcing's docs advise on a move or a rename
    module = sys.modules[__name__]
    register_topic("tests.projections.ticketing", module)  # the module moved
    register_topic("tests.old_package", sys.modules["tests"])  # a package above it moved
    register_topic(f"{__name__}:Issue", Ticket)  # the aggregate renamed
    register_topic(f"{__name__}:Ticket.Shut", Ticket.Closed)  # the event renamed
    # Then the topics of the event class include every old one, each resolving to it
    topics = stored_topics(Ticket.Closed)
    assert topics == {get_topic(Ticket.Closed),
                      "tests.projections.ticketing:Ticket.Closed",
                      "tests.old_package.unit.projections.test_topics:Ticket.Closed",
                      f"{__name__}:Issue.Closed", f"{__name__}:Ticket.Shut"}
    assert {resolve_topic(t) for t in topics} == {Ticket.Closed}


class Parcel(Aggregate):
    class Sent(Aggregate.Event):
        pass


def test_a_topic_registered_after_a_first_answer_is_read_too() -> None:
    # Given the topics of an event class asked for once (the answer is kept)
    before = stored_topics(Parcel.Sent)
    assert get_topic(Parcel.Sent) in before
    # When an old name is registered for it afterwards
    register_topic(f"{__name__}:Parcel.Shipped", Parcel.Sent)
    # Then the next answer includes it
    assert stored_topics(Parcel.Sent) == before | {f"{__name__}:Parcel.Shipped"}
