"""Departments are credited day by day: a member's friends count for the department they held
on the day of each change, ``friendsTotal`` included (docs/staff-kpis.md)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from application.app import Siyu
from domain.customer import Customer
from domain.ingestion import EventItem
from domain.staff import Staff
from projections.organisation import StaffAssignmentView
from projections.private_domain import queries
from projections.runner import BatchRunner, Tracker
from projections.staff_performance import SHANGHAI, StaffPerformanceView

pytestmark = pytest.mark.integration


def at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), SHANGHAI).astimezone(UTC)


def truth_friends_total(app: Siyu, department: str, last_day: date,
                        adds_only: bool = False) -> int:
    """Fold the raw log: each friend change (or only each add) counts for the member's
    department at the end of its business day."""
    moves: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    changes: list[tuple[str, datetime, int]] = []
    start = 1
    while page := app.recorder.select_notifications(start, 1000):
        for stored in page:
            e: Any = app.mapper.to_domain_event(stored)
            if isinstance(e, (Staff.Hired, Staff.Moved)):
                moves[str(e.originator_id)].append((e.occurred_at, e.department))
            elif isinstance(e, Customer.FriendAdded):
                changes.append((e.staff_id, e.occurred_at, 1))
            elif isinstance(e, Customer.FriendDeleted):
                changes.append((e.staff_id, e.occurred_at, -1))
        start = page[-1].id + 1
    total = 0
    for staff, when, step in changes:
        day = when.astimezone(SHANGHAI).date()
        end_of_day = datetime.combine(day + timedelta(days=1), time(), SHANGHAI)
        held = [d for since, d in sorted(moves[staff]) if since < end_of_day]
        if day <= last_day and held and held[-1] == department and (step > 0 or not adds_only):
            total += step
    return total


def test_a_departments_friends_total_credits_each_day_to_the_department_held_that_day(
        pg_app: Siyu, pg_url: str) -> None:
    # Given a member of the front office who makes friends, moves to the middle office on
    # 10 November, makes more friends there and loses one of the first ones
    first = date(2026, 11, 1)
    li = pg_app.staff.hire("sales", "front_office", "李", "service:t", at(first, 9))
    sid = str(li)

    def friend(n: int, day: date, kind: str = "FRIEND_ADDED",
               deleted_by: str | None = None) -> None:
        result = pg_app.ingestion.record_batch([EventItem(
            f"e{n}-{kind}", kind, ("wecom_external:ww1", f"wm{n}"), at(day, 11), staff_id=sid,
            channel="qr", deleted_by=deleted_by)], "service:test")
        assert result.outcomes[0].status == "accepted"

    for n, day in enumerate((date(2026, 11, 3), date(2026, 11, 5), date(2026, 11, 5))):
        friend(n, day)
    pg_app.staff.move(li, "middle_office", "service:t", at(date(2026, 11, 10), 15))
    friend(10, date(2026, 11, 12))
    friend(11, date(2026, 11, 20))
    friend(0, date(2026, 11, 15), "FRIEND_DELETED", deleted_by="customer")
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    for view in (StaffPerformanceView(), StaffAssignmentView()):
        BatchRunner(pg_app, view, tracker).catch_up()

    def total(department: str | None, last: date) -> int:
        with psycopg.connect(pg_url, row_factory=dict_row) as conn:
            row = conn.execute(
                "SELECT friends_total FROM staff_kpi_rollup(%s, %s, %s, %s)",
                (None if department else [sid], department, first, last)).fetchone()
        assert row is not None
        return int(row["friends_total"])

    # When each department's friendsTotal is read for November, and for its first week
    # Then each has the friend changes made while the member was in it
    for department, last in (("front_office", date(2026, 11, 30)),
                             ("middle_office", date(2026, 11, 30)),
                             ("front_office", date(2026, 11, 7)),
                             ("middle_office", date(2026, 11, 7))):
        assert total(department, last) == truth_friends_total(pg_app, department, last), (
            department, last)
    assert (total("front_office", date(2026, 11, 30)),
            total("middle_office", date(2026, 11, 30))) == (3, 1)
    # and the departments add up to the member's own total
    assert total(None, date(2026, 11, 30)) == 4

    # And the manager overview's new friends per channel of a department (one set-based
    # query over the range) credit each add to the department held that day too
    async def friends_new(department: str, last: date) -> int:
        async with AsyncConnectionPool(pg_url, connection_class=AsyncConnection[DictRow],
                                       kwargs={"row_factory": dict_row}, open=False) as pool:
            rows = await queries.retention_by_channel(pool, first, last, department, last)
        return sum(int(r["friends_new"]) for r in rows)

    for department, last in (("front_office", date(2026, 11, 30)),
                             ("middle_office", date(2026, 11, 30)),
                             ("middle_office", date(2026, 11, 12))):
        assert asyncio.run(friends_new(department, last)) == truth_friends_total(
            pg_app, department, last, adds_only=True), (department, last)
    assert asyncio.run(friends_new("middle_office", date(2026, 11, 30))) == 2
