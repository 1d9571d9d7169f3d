"""The department funnel credits a day to the department ``staff_department_on`` gives for
it: moves and leaves at midday and at midnight, a rehire on the day of leaving."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest

from application.app import Siyu
from projections.funnels import FunnelView
from projections.funnels.queries import department_funnel_sql
from projections.funnels.rows import FUNNEL_COUNTS
from projections.runner import BatchRunner, Tracker
from projections.staff_performance import StaffPerformanceView

pytestmark = pytest.mark.integration
Career = tuple[str, datetime, datetime | None, str | None]
SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY0 = date(2026, 3, 1)
ASSIGN = ("INSERT INTO staff_assignment (staff_id, period, department, role, since, until, "
          "reason, by, cause_position, ended_reason, opened_version) "
          "VALUES (%s, %s, %s, 'sales', %s, %s, 'hired', 'test', 0, %s, 1)")


def at(day: int, hour: int = 0) -> datetime:
    return datetime.combine(DAY0 + timedelta(days=day), datetime.min.time(), SHANGHAI
                            ) + timedelta(hours=hour)


def test_credited_days_follow_staff_department_on(pg_app: Siyu) -> None:
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    BatchRunner(pg_app, FunnelView(), tracker)
    BatchRunner(pg_app, StaffPerformanceView(), tracker)
    # Given members moved or gone at midday and at midnight, one rehired the day they left
    careers: list[list[Career]] = [
        [("front_office", at(-30), at(4, 12), "moved"), ("back_office", at(4, 12), None, None)],
        [("front_office", at(-30), at(4), "moved"), ("back_office", at(4), None, None)],
        [("middle_office", at(-30), at(5, 15), "left")],
        [("middle_office", at(-30), at(6), "left")],
        [("front_office", at(-30), at(3, 9), "left"), ("back_office", at(3, 18), None, None)],
        [("back_office", at(2, 10), None, None)],
    ]
    with pg_app.factory.datastore.transaction() as curs:  # type: ignore[attr-defined]
        owners = []
        for career in careers:
            staff = str(uuid4())
            owners.append(staff)
            for period, (department, since, until, ended) in enumerate(career, start=1):
                curs.execute(ASSIGN, (staff, period, department, since, until, ended))
        # And one customer a day for each of them (and one owner nobody employs)
        for owner in [*owners, "wecom_user:s1"]:
            for k in range(10):
                curs.execute("INSERT INTO funnel_owner_daily VALUES (%s, %s, "
                             + ", ".join(["1"] * len(FUNNEL_COUNTS)) + ")",
                             (DAY0 + timedelta(days=k), owner))
        # When the department funnel sums them
        params = {"start": DAY0, "end": DAY0 + timedelta(days=9), "department": None,
                  "as_of": DAY0 + timedelta(days=30)}
        curs.execute(department_funnel_sql(), params)
        got = {r["key"]: r["acquired"] for r in curs.fetchall()}
        # Then each day counts where staff_department_on puts it
        curs.execute("SELECT staff_department_on(owner, day) AS d, sum(acquired) AS n "
                     "FROM funnel_owner_daily GROUP BY 1")
        want = {r["d"]: r["n"] for r in curs.fetchall() if r["d"] is not None}
    assert got == want
    assert set(got) == {"front_office", "middle_office", "back_office"}
