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
