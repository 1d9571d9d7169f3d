"""Audit over GraphQL: a customer as it stood at an instant, and history filters.

``customer(id, asOf:)`` and ``customers(asOf:)`` answer with the same ``Customer`` type
as the live profile, folded from the event log at that instant of business time
(:mod:`projections.customer_as_of`; which events count is defined in docs/audit.md);
its ``segments`` and ``owner`` are those of the instant too. ``customerHistory`` filters
by event type and business-time range. Readers: managers and service principals (an
auditor role maps onto the same check), and a customer for themself.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.utils import get_topic
from strawberry.types import Info

from api.context import Context
from api.customer_types import Customer, CustomerConnection, CustomerEdge
from api.errors import BAD_INPUT, ApiError, forbidden
from api.read_models import decode_cursor, encode_cursor
from api.types import PageInfo
from domain.customer import Customer as CustomerAggregate
from projections.customer_as_of import queries, row_at
from projections.topics import event_classes, registered_topics

#: Event types a history can be filtered by (as ``CustomerEvent.type`` names them).
EVENT_TYPES = {cls.__qualname__: cls for cls in event_classes(CustomerAggregate)}
MAX_TYPES = len(EVENT_TYPES)


def may_audit(info: Info[Context, None], customer_id: UUID | None = None) -> bool:
    principal = info.context.principal
    return principal.sees_everyone or (
        customer_id is not None and principal.kind == "customer"
        and principal.subject_id == str(customer_id))


def instant(value: datetime, field: str) -> datetime:
    """A business-time bound: with its time zone (a bare time would be read in the
    server's zone)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ApiError(BAD_INPUT, f"{field} needs a time zone (e.g. 2026-11-01T00:00:00+08:00)",
                       field=field)
    return value


def history_topics(types: list[str] | None) -> list[str] | None:
    """The stored topics of the named event types (current and registered old ones)."""
    if types is None:
        return None
    if not 1 <= len(types) <= MAX_TYPES:
        raise ApiError(BAD_INPUT, f"types must name 1 to {MAX_TYPES} event types",
                       field="types")
    topics: set[str] = set()
    for name in types:
        cls = EVENT_TYPES.get(name) or EVENT_TYPES.get(f"Customer.{name}")
        if cls is None:
            raise ApiError(BAD_INPUT, "types names an unknown event type (see docs/events.md)",
                           field="types")
        topics |= {get_topic(cls), *registered_topics(cls)}
    return sorted(topics)


def time_range(occurred_from: datetime | None, occurred_to: datetime | None
               ) -> tuple[datetime | None, datetime | None]:
    start = None if occurred_from is None else instant(occurred_from, "occurredFrom")
    end = None if occurred_to is None else instant(occurred_to, "occurredTo")
    if start is not None and end is not None and end <= start:
        raise ApiError(BAD_INPUT, "occurredTo must be after occurredFrom", field="occurredTo")
    return start, end


async def customer_as_of(info: Info[Context, None], customer_id: UUID, at: datetime
                         ) -> Customer | None:
    """The customer as it stood at ``at``; null if unknown, not yet a customer then, or
    not yours to audit."""
    at = instant(at, "asOf")
    services = info.context.services
    row = await services.read_models.profile(customer_id)
    if row is None or not may_audit(info, row["customer_id"]):
        return None
    root = row["customer_id"]
    streams = await services.read_models.group(root)
    mapper = services.app.mapper
    state = await queries.state_at(services.read_models.pool, mapper.to_domain_event,
                                   mapper.transcoder, streams, root, at)
    return None if state is None else Customer.from_row(row_at(state, at))


async def customers_as_of(info: Info[Context, None], first: int, after: str | None,
                          at: datetime) -> CustomerConnection:
    """Customers first seen by ``at``, newest first, each as it stood at ``at``."""
    if not may_audit(info):
        raise forbidden("state at an instant is for managers and auditors")
    at = instant(at, "asOf")
    try:
        before = None if after is None else decode_cursor("a", after)
    except ValueError:
        raise ApiError(BAD_INPUT, "after is not a cursor of this list", field="after") from None
    pool = info.context.services.read_models.pool
    listed = await queries.customers_seen_by(pool, at, before, first + 1)
    edges = []
    for r in listed[:first]:
        customer = await customer_as_of(info, r["customer_id"], at)
        if customer is not None:
            edges.append(CustomerEdge(cursor=encode_cursor("a", r["position"]), node=customer))
    end = encode_cursor("a", listed[:first][-1]["position"]) if listed else None
    return CustomerConnection(edges=edges, page_info=PageInfo(
        has_next_page=len(listed) > first, end_cursor=end))
