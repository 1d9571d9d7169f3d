"""Staff KPIs over HTTP: a member's own figures, a manager's view, typed errors."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.integration.api.conftest import OTHER_STAFF_ID, STAFF_ID, Api
from tests.integration.api.test_graphql_http import RECORD
from tests.integration.api.test_tag_groups_http import data, error

pytestmark = pytest.mark.integration

KPIS = """query($staff: ID, $dep: String, $kind: PeriodKind!, $start: Date!, $kpis: [String!]) {
  staffKpis(staffId: $staff, department: $dep, period: {kind: $kind, start: $start},
            kpis: $kpis) { staffId department periodKind firstDay lastDay
            values { name unit value } } }"""


def kpis(api: Api, as_: str, staff: str | None = STAFF_ID, dep: str | None = None,
         names: list[str] | None = None, kind: str = "MONTH") -> dict[str, Any]:
    return api.gql(KPIS, {"staff": staff, "dep": dep, "kind": kind, "start": "2026-11-20",
                          "kpis": names}, as_=as_)


def test_a_member_reads_their_own_month_and_a_manager_reads_anyone(api: Api) -> None:
    # Given two customers added and one message answered by the member in November
    at = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    events = [{"eventId": f"f{n}", "type": "FRIEND_ADDED", "occurredAt": at.isoformat(),
               "customer": {"namespace": "wx_unionid", "value": f"k{n}"}, "staffId": STAFF_ID,
               "channel": "qr:store-1"} for n in range(2)]
    events += [{"eventId": "m1", "type": "MESSAGE_RECEIVED", "staffId": STAFF_ID,
                "occurredAt": "2026-11-20T10:05:00+08:00", "messageKind": "text",
                "customer": {"namespace": "wx_unionid", "value": "k0"}},
               {"eventId": "m2", "type": "MESSAGE_SENT", "staffId": STAFF_ID,
                "occurredAt": "2026-11-20T10:06:30+08:00", "messageKind": "text",
                "customer": {"namespace": "wx_unionid", "value": "k0"}}]
    data(api.gql(RECORD, {"events": events}))
    names = ["friendsNew", "firstResponseMedianS", "conversionRate", "ownedCustomers"]
    deadline = time.monotonic() + 5
    while True:  # the KPI projection follows the log
        mine = data(kpis(api, "staff", names=names))["staffKpis"]
        if mine["values"][0]["value"] == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    # Then the member sees their month, a manager too
    assert (mine["firstDay"], mine["lastDay"], mine["periodKind"]) == (
        "2026-11-01", "2026-11-30", "MONTH")
    assert [(v["name"], v["value"]) for v in mine["values"]] == [
        ("friendsNew", 2.0), ("firstResponseMedianS", 90.0), ("conversionRate", 0.0),
        ("ownedCustomers", 2.0)]
    assert data(kpis(api, "manager", names=names))["staffKpis"] == mine


def test_front_line_staff_cannot_read_others_or_departments(api: Api) -> None:
    assert error(kpis(api, "staff", staff=OTHER_STAFF_ID))["code"] == "FORBIDDEN"
    assert error(kpis(api, "staff", staff=None, dep="front_office"))["code"] == "FORBIDDEN"


def test_bad_selections_and_unknown_kpis_are_typed_errors(api: Api) -> None:
    assert error(kpis(api, "manager", dep="front_office"))["code"] == "BAD_INPUT"
    assert error(kpis(api, "manager", staff=None, dep="nowhere"))["code"] == "BAD_INPUT"
    assert error(kpis(api, "manager", names=["charisma"]))["code"] == "BAD_INPUT"
    department = data(kpis(api, "manager", staff=None, dep="front_office", kind="QUARTER",
                           names=["gmvFen"]))["staffKpis"]
    assert (department["firstDay"], department["values"]) == (
        "2026-10-01", [{"name": "gmvFen", "unit": "fen", "value": 0.0}])


def test_the_catalogue_names_every_kpi_with_its_unit(api: Api) -> None:
    catalogue = data(api.gql("{ kpiCatalogue { name unit definition } }", as_="staff"))
    names = {k["name"]: k["unit"] for k in catalogue["kpiCatalogue"]}
    assert names["gmvFen"] == "fen" and names["conversionRate"] == "ratio"
