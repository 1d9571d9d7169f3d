"""What every ``Customer`` event shares: its base classes, the state its ``apply`` may
assign, and the name it is stored and shown under.

The events live in modules grouped by subject (``customer_*_events.py``) so that
:mod:`domain.customer` holds the aggregate's decisions; each event keeps the public name
``Customer.<Name>`` it had when it was a class nested in the aggregate:

* the **topic** of every stored event (``domain.customer:Customer.FriendAdded``) stays
  what earlier versions wrote, and resolves, because each event is also an attribute of
  :class:`domain.customer.Customer`;
* read models, the customer history and the event catalogue name an event by its
  ``__qualname__`` (``Customer.FriendAdded``): the same name as before the move.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, TypeVar

from eventsourcing.domain import Aggregate

#: Why a customer's owner changed (``Customer.OwnerChanged``).
FIRST_FRIEND, MERGED, UNMERGED = "first_friend", "merged", "unmerged"

#: Where the aggregate lives: the module part of every customer event's topic.
CUSTOMER_MODULE = "domain.customer"

E = TypeVar("E", bound=type)


def customer_event(cls: E) -> E:
    """Give ``cls`` its public name ``Customer.<Name>`` in :data:`CUSTOMER_MODULE`.

    Applied at import, before any topic of the class is computed (the library caches
    topics on first use). :class:`domain.customer.Customer` must expose the class under
    the same name, which a unit test checks for every event.
    """
    return _publish(cls, cls.__name__)


def _publish(cls: E, name: str) -> E:
    cls.__module__ = CUSTOMER_MODULE
    cls.__qualname__ = f"Customer.{name}"
    return cls


class CustomerState(Protocol):
    """The state of a customer that events assign (see ``Customer.__init__``)."""

    first_channel: str
    identities: dict[str, str]
    friends: dict[str, datetime]
    tags: set[str]
    groups: set[str]
    orders: dict[str, list[int]]
    placed: dict[str, int]
    coupons: dict[str, bool]
    points: int
    dnd: bool
    consents: dict[str, str]
    accounts: list[str]
    member_level: str | None
    referred_by: str | None
    referred_in: str | None
    referred_at: datetime | None
    merged_into: str | None
    absorbed: dict[str, list[str]]
    owner: str | None
    owner_before_merge: str | None
    erased: bool


class CustomerEvent(Aggregate.Event):
    """Every customer event says who (``by``) and when, in business time (``occurred_at``)."""

    by: str
    occurred_at: datetime


class CustomerFact(CustomerEvent):
    """A fact that changes none of the state commands decide on."""


_publish(CustomerEvent, "Event")
_publish(CustomerFact, "Fact")
