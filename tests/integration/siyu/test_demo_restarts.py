"""Starting the demo again records nothing and changes nothing (a restart is not news)."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg
import pytest

from application.app import Siyu
from domain.target import Target, period_start
from domain.working_time import SHANGHAI
from siyu import demo
from siyu.processes import catch_up, prepare_read_models

pytestmark = pytest.mark.integration


def read_models(url: str) -> dict[str, tuple[int, str]]:
    """Every table of the public schema: its row count and a digest of its rows."""
    out: dict[str, tuple[int, str]] = {}
    with psycopg.connect(url) as conn:
        tables = [t for (t,) in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
            "AND table_type = 'BASE TABLE' ORDER BY table_name")]
        for table in tables:
            row = conn.execute(f'SELECT count(*), md5(coalesce(string_agg(t::text, \'|\' '
                               f'ORDER BY t::text), \'\')) FROM "{table}" t').fetchone()
            assert row is not None
            out[table] = (int(row[0]), str(row[1]))
    return out


def test_a_second_demo_start_records_nothing_and_keeps_a_managers_target(
        pg_app: Siyu, pg_url: str, now: datetime) -> None:
    # Given the demo loaded and projected, and a manager who then lowered a target
    prepare_read_models(pg_app)
    first = demo.load(pg_app, customers=120, now=now)
    member = next(sid for sid, role in first.staff if role == "sales")
    today = now.astimezone(SHANGHAI).date()
    pg_app.targets.set("staff", str(member), "month", today, "gmv_fen", 900_000,
                       "staff:manager", now)
    catch_up(pg_app)
    before = read_models(pg_url)
    # When the demo starts again three days later (another process, another clock)
    again = demo.load(pg_app, customers=120, now=now + timedelta(days=3))
    catch_up(pg_app)
    # Then nothing was recorded: every table, the event log included, is as it was
    assert again.accepted == 0 and again.duplicates == first.events
    assert read_models(pg_url) == before
    target = pg_app.find(Target.create_id("staff", str(member), "month",
                                          period_start("month", today).isoformat(), "gmv_fen"),
                         Target, fresh=True)
    assert target is not None and target.value == 900_000


def test_a_demo_interrupted_after_hiring_some_staff_completes_them(
        pg_app: Siyu, pg_url: str, now: datetime) -> None:
    # Given a first start stopped after hiring 5 of the demo's 20 staff
    for n, (role, department) in enumerate(demo.STAFF_PLAN[:5]):
        pg_app.staff.hire(role, department, f"员工{n}", "system:demo", now - demo.HIRED_BEFORE,
                          wecom_user_id=f"demo-staff-{n:02d}")
    # When the demo starts again
    result = demo.load(pg_app, customers=10, now=now + timedelta(hours=1))
    # Then it has all 20, the 5 of the first start among them, and its first start's clock
    assert len(result.staff) == len(demo.STAFF_PLAN) == len({s for s, _ in result.staff})
    with psycopg.connect(pg_url) as conn:
        hired = conn.execute("SELECT count(*) FROM siyu_events WHERE topic LIKE %s",
                             ("%Staff.Hired",)).fetchone()
    assert hired == (len(demo.STAFF_PLAN),)
