"""Staff members with fixed ids, in the directory before a test's first request.

Tokens no longer carry a role: the API reads it from ``staff_directory``. Tests that
issue a staff token first hire the member (with a known id, so events can name them)
and wait until the directory shows them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from application.app import Siyu
from application.unit_of_work import UnitOfWork
from domain.staff import Staff
from projections.runner import Tracker

HIRED_AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def hire_as(app: Siyu, staff_id: str, role: str, department: str = "front_office",
            *, wait: bool = True, wecom_user_id: str | None = None) -> None:
    """Hire ``staff_id`` with ``role`` (as ``app.staff.hire`` does, with a chosen id)."""
    store = app.staff.store

    def decide(unit: UnitOfWork[Staff]) -> None:
        staff = Staff._create(Staff.Hired, id=UUID(staff_id), role=role,
                              department=department, wecom_user_id=wecom_user_id,
                              by="service:tests", occurred_at=HIRED_AT)
        unit.add(staff)
        store.new_key(staff.id, unit)
        store.seal(staff.id, "display_name", f"tester {staff_id[-4:]}", unit)

    _, position = store.transact(Staff, decide)
    if wait and position is not None:
        tracker = Tracker(app.factory.datastore)  # type: ignore[attr-defined]
        assert tracker.wait("staff_directory", position, 10), "staff_directory lags"
