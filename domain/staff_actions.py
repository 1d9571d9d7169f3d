"""Staff actions that concern no single customer, mixed into the application.

A moments post (朋友圈) is the staff member's own act: it is recorded on the
``Staff`` aggregate as :class:`domain.staff.Staff.MomentPosted`, once per
``(staff, moment id)`` (the event key ``moment:<staff id>:<moment id>``), so a
callback delivered twice counts once. Actions on one customer (holiday
greetings, follow-up records) are customer facts recorded by ingestion
(``HOLIDAY_GREETING_SENT``, ``FOLLOW_UP_RECORDED``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, cast
from uuid import UUID

from domain.customer import Customer
from domain.ownership import _staff

if TYPE_CHECKING:
    from application.unit_of_work import UnitOfWork


def moment_key(staff_id: UUID, moment_id: str) -> str:
    return f"moment:{staff_id}:{moment_id.strip()}"


class _Host(Protocol):
    def _once(self, event_key: str, decide: Callable[[UnitOfWork[Customer]], None]) -> bool: ...


class StaffActionCommands:
    """Moments posts (the execution KPIs' staff-level facts)."""

    def record_moment_posted(self: _Host, staff_id: UUID, moment_id: str, by: str,
                             occurred_at: datetime) -> bool:
        """Record a moments post; False if this (staff, moment) was recorded before."""
        key = moment_key(staff_id, moment_id)

        def decide(batch: UnitOfWork[Customer]) -> None:
            staff = _staff(cast(Any, self), staff_id, "staffId")
            staff.post_moment(moment_id, by, occurred_at)
            batch.aggregates[staff.id] = cast(Customer, staff)  # saved with the batch
            batch.writes.event_keys.append((key, staff.id))

        return self._once(key, decide)
