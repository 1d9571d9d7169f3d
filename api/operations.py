"""What operators ask the platform about itself over GraphQL: quarantined events.

A read model that cannot apply an event sets it aside and goes on
(:mod:`projections.quarantine`); ``quarantinedEvents`` lists the open entries, so the
console or a monitor sees them without a database login. Managers and service principals
only: an error message may quote the event's data.
"""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from api.context import Context
from api.types import Long
from projections import quarantine


@strawberry.type(description="An event a read model could not apply and set aside "
                             "(table siyu_projection_quarantine).")
class QuarantinedEvent:
    read_model: str
    position: Long = strawberry.field(description="The event's position in the log.")
    stream_id: strawberry.ID
    stream_version: int
    topic: str = strawberry.field(description="The stored event's topic (its class).")
    error_class: str
    error: str = strawberry.field(description="The error's message (may quote the event).")
    quarantined_at: datetime


@strawberry.type
class OperationsQuery:
    @strawberry.field(description="Events the read models quarantined and have not applied "
                                  "since (resolved by `siyu projections --retry-quarantined` "
                                  "after a fix). Managers and service principals only.")
    async def quarantined_events(self, info: Info[Context, None],
                                 read_model: str | None = None) -> list[QuarantinedEvent]:
        rows = await quarantine.open_rows(info.context.services.read_models.pool, read_model)
        return [QuarantinedEvent(
            read_model=r["projection"], position=r["notification_id"],
            stream_id=strawberry.ID(str(r["originator_id"])),
            stream_version=r["originator_version"], topic=r["topic"],
            error_class=r["error_class"], error=r["error"],
            quarantined_at=r["quarantined_at"]) for r in rows]
