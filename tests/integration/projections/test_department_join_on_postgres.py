"""``department_performance_by_period`` credits each member-day to a department with one
set-based join on the assignment history, and gives exactly what the per-row
``staff_department_on`` call gave: moves mid-day, leaving, re-hiring, ids spelled in upper
case and ids that are no staff id, over a year of member-days."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg.rows import dict_row

from application.app import Siyu
from projections.organisation import StaffAssignmentView
from projections.runner import BatchRunner, Tracker
from projections.staff_performance import StaffPerformanceView

pytestmark = pytest.mark.integration

START = date(2025, 1, 1)
DEPARTMENTS = ("front_office", "middle_office", "back_office")

#: The function's body before the set-based join: a staff_department_on call per member-day.
PER_ROW = """
SELECT x.department, (kpi_period(%(kind)s, d.day)).first_day AS period_start,
       count(DISTINCT d.staff_id) AS staff_count, sum(d.friends_new) AS friends_new,
       sum(d.friends_net) AS friends_net, sum(d.messages_sent) AS messages_sent,
       (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY s)
          FROM unnest(staff_kpi_array_cat(d.response_seconds)) s) AS first_response_median_s,
       sum(d.gmv_fen) AS gmv_fen
FROM staff_daily_performance d
CROSS JOIN LATERAL (SELECT staff_department_on(d.staff_id, d.day) AS department) x
WHERE d.day BETWEEN %(from)s AND %(to)s AND x.department IS NOT NULL
GROUP BY 1, 2 ORDER BY 1, 2
"""
SET_BASED = """
SELECT department, period_start, staff_count, friends_new, friends_net, messages_sent,
       first_response_median_s, gmv_fen
FROM department_performance_by_period(%(kind)s, %(from)s, %(to)s) ORDER BY 1, 2
"""


def at(day: date, hour: float) -> datetime:
    """``hour`` o'clock of a business day in Asia/Shanghai (UTC+8), as UTC."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=hour - 8)


def staff_history(app: Siyu, rng: random.Random, members: int) -> list[UUID]:
    """Hires, moves (some several a day, some at midnight), departures and re-hires."""
    ids = []
    for n in range(members):
        hired = START + timedelta(days=rng.randrange(-30, 60))
        sid = app.staff.hire("sales", rng.choice(DEPARTMENTS), f"m{n}", "staff:hr", at(hired, 9))
        ids.append(sid)
        day = hired
        for _ in range(rng.randrange(6)):
            day += timedelta(days=rng.randrange(1, 90))
            hour = rng.choice([0, 9.5, 23.99])
            app.staff.move(sid, rng.choice(DEPARTMENTS), "staff:hr", at(day, hour))
            if rng.random() < 0.3:  # and once more the same day
                app.staff.move(sid, rng.choice(DEPARTMENTS), "staff:hr", at(day, hour + 0.001))
        if rng.random() < 0.3:
            app.staff.leave(sid, "staff:hr", at(day + timedelta(days=rng.randrange(1, 40)),
                                                rng.choice([0, 15])))
    return ids


def member_days(conn: psycopg.Connection[Any], ids: list[UUID], rng: random.Random) -> None:
    """A year of figures per member (some spelled in upper case), and a non-staff id."""
    spellings = [str(s).upper() if n % 7 == 0 else str(s) for n, s in enumerate(ids)]
    for staff_id in [*spellings, "wecom_user:bot"]:
        for offset in range(-10, 380):
            if rng.random() < 0.15:
                continue
            conn.execute(
                "INSERT INTO staff_daily_performance (staff_id, day, friends_new, "
                "friends_deleted_by_customer, "
                "messages_sent, response_seconds, gmv_fen) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (staff_id, START + timedelta(days=offset), rng.randrange(5),
                 rng.randrange(3), rng.randrange(40),
                 [rng.randrange(1, 900) for _ in range(rng.randrange(3))], rng.randrange(10_000)))


def test_the_set_based_department_credit_equals_the_per_row_lookup(pg_app: Siyu,
                                                                   pg_url: str) -> None:
    # Given members hired, moved and leaving through a year, and their daily figures
    rng = random.Random(18)
    ids = staff_history(pg_app, rng, members=24)
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    for view in (StaffAssignmentView(), StaffPerformanceView()):
        BatchRunner(pg_app, view, tracker).catch_up()
    with psycopg.connect(pg_url, row_factory=dict_row, autocommit=True) as conn:
        member_days(conn, ids, rng)
        moves = conn.execute("SELECT count(*) AS n FROM staff_assignment").fetchone()
        assert moves is not None and moves["n"] > 3 * len(ids)
        for kind, first, last in (("month", START, date(2025, 12, 31)),
                                  ("quarter", START, date(2025, 12, 31)),
                                  ("week", date(2025, 2, 3), date(2025, 5, 4)),
                                  ("day", date(2025, 3, 1), date(2025, 3, 31))):
            params = {"kind": kind, "from": first, "to": last}
            # When the rollup is read per department and period, set-based and per row
            new = conn.execute(SET_BASED, params).fetchall()
            old = conn.execute(PER_ROW, params).fetchall()
            # Then both credit the same member-days to the same departments
            assert new == old, kind
            assert {r["department"] for r in new} == set(DEPARTMENTS)
