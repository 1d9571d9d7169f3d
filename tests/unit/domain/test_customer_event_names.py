"""Customer events live in modules by subject (``domain/customer_*_events.py``) but keep the
name and topic they had as classes nested in the aggregate: stored events must resolve, and
read models, the history and the catalogue show ``Customer.<Name>``."""

from __future__ import annotations

import inspect
from types import ModuleType

import pytest
from eventsourcing.utils import get_topic, resolve_topic

from domain import (
    customer_commerce_events,
    customer_engagement_events,
    customer_identity_events,
    customer_outreach_events,
    customer_relationship_events,
)
from domain.customer import Customer
from domain.customer_state import CustomerEvent

MODULES = [customer_identity_events, customer_relationship_events, customer_engagement_events,
           customer_commerce_events, customer_outreach_events]


def _events(module: ModuleType) -> list[type]:
    return [c for _, c in inspect.getmembers(module, inspect.isclass)
            if issubclass(c, CustomerEvent) and c.__name__ in vars(module)
            and vars(module)[c.__name__] is c and c is not CustomerEvent
            and c.__name__ not in ("CustomerFact",)]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.split(".")[-1])
def test_every_event_is_customer_dot_name_by_topic_and_attribute(module: ModuleType) -> None:
    events = _events(module)
    assert events
    for cls in events:
        topic = f"domain.customer:Customer.{cls.__name__}"
        assert (cls.__qualname__, get_topic(cls)) == (f"Customer.{cls.__name__}", topic)
        assert getattr(Customer, cls.__name__) is cls
        assert resolve_topic(topic) is cls


def test_the_aggregate_exposes_no_event_that_lives_nowhere() -> None:
    exposed = {name for name, value in vars(Customer).items()
               if inspect.isclass(value) and issubclass(value, CustomerEvent)}
    defined = {cls.__name__ for module in MODULES for cls in _events(module)}
    assert exposed - {"Event", "Fact", "Created", "Registered"} == defined


def test_a_stored_event_of_the_nested_era_decodes_to_the_moved_class() -> None:
    assert resolve_topic("domain.customer:Customer.FriendAdded") is Customer.FriendAdded
    assert Customer.Event is CustomerEvent
    assert issubclass(Customer.FriendAdded, Customer.Event)
