"""Daily reports over HTTP: managers read everyone's, staff their own."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

import pytest

from application.app import Siyu
from tests.integration.api.conftest import STAFF_ID, Api
from tests.integration.api.test_tag_groups_http import data, error

pytestmark = pytest.mark.integration

REPORTS = """query($day: Date, $r: ID) { dailyReports(day: $day, recipientId: $r) {
  recipientId scope day status figures { measure value previous change } } }"""


def test_managers_read_every_report_and_staff_only_theirs(
        api: Api, pg_app: Siyu) -> None:
    # Given two compiled reports for a day
    day = date(2026, 11, 30)
    figures = {"new_friends": 3, "gmv_fen": 12900}
    pg_app.daily_reports.compile(STAFF_ID, "staff", day, figures, {"new_friends": 1},
                                datetime.now(UTC))
    pg_app.daily_reports.compile("0a6f0000-0000-4000-8000-0000000000aa", "manager", day,
                                figures, {}, datetime.now(UTC))
    for _ in range(100):
        if len(data(api.gql(REPORTS, {"day": "2026-11-30"}, as_="manager"))["dailyReports"]) == 2:
            break
        time.sleep(0.05)
    # When a manager and the staff member read the latest day
    everyone = data(api.gql(REPORTS, as_="manager"))["dailyReports"]
    mine = data(api.gql(REPORTS, as_="staff"))["dailyReports"]
    # Then the manager sees both, the staff member their own, with the change
    assert [r["scope"] for r in everyone] == ["manager", "staff"]
    assert [r["recipientId"] for r in mine] == [STAFF_ID]
    friends = next(f for f in mine[0]["figures"] if f["measure"] == "new_friends")
    assert friends == {"measure": "new_friends", "value": 3, "previous": 1, "change": 2}
    assert mine[0]["day"] == "2026-11-30" and mine[0]["status"] == "COMPILED".lower()
    assert error(api.gql(REPORTS, {"r": "someone-else"}, as_="staff"))["code"] == "FORBIDDEN"


FULL = """query($day: Date) { dailyReports(day: $day) { recipientId scope
  targets { kpi subject target actual ratio grade gradeZh trial }
  members { staffId figures { measure value previous change } } } }"""


def test_a_managers_report_shows_target_progress_and_each_members_figures(
        api: Api, pg_app: Siyu) -> None:
    # Given a manager's report compiled with a department target and two members' figures
    day = date(2026, 11, 29)
    progress = [{"kpi": "gmv_fen", "subject": "department:front_office", "target": "100000",
                 "actual": "99996", "ratio": "1.0000", "grade": "missed", "trial": False}]
    members = [{"staff_id": STAFF_ID, "figures": {"new_friends": 2, "gmv_fen": 99996},
                "previous": {"new_friends": 5}},
               {"staff_id": "someone", "figures": {}, "previous": {"orders": 1}}]
    pg_app.daily_reports.compile("0a6f0000-0000-4000-8000-0000000000aa", "manager", day,
                                {"new_friends": 2, "gmv_fen": 99996}, {}, datetime.now(UTC),
                                progress, members)
    for _ in range(100):
        if data(api.gql(FULL, {"day": "2026-11-29"}, as_="manager"))["dailyReports"]:
            break
        time.sleep(0.05)
    # When the manager reads it
    [report] = data(api.gql(FULL, {"day": "2026-11-29"}, as_="manager"))["dailyReports"]
    # Then the target progress is there, graded as compiled (on the unrounded ratio)
    assert report["targets"] == [{"kpi": "gmvFen", "subject": "department:front_office",
                                  "target": "100000", "actual": "99996", "ratio": "1.0000",
                                  "grade": "MISSED", "gradeZh": "未达成", "trial": False}]
    # and each member's figures with the change from the day before
    mine, other = report["members"]
    assert mine["staffId"] == STAFF_ID
    figures = {f["measure"]: (f["value"], f["previous"], f["change"]) for f in mine["figures"]}
    assert figures["new_friends"] == (2, 5, -3) and figures["gmv_fen"] == (99996, 0, 99996)
    assert {f["measure"]: f["change"] for f in other["figures"]}["orders"] == -1
