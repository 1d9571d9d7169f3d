"""Targets over HTTP: managers set and remove, staff read their own, grades from the KPIs."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.integration.api.conftest import Api
from tests.integration.api.test_graphql_http import RECORD
from tests.integration.api.test_tag_groups_http import data, error

pytestmark = pytest.mark.integration

FIELDS = """id staffId department periodKind firstDay lastDay kpi value metAt exceededAt trial
  setBy updatedBy removedAt achievement { actual ratio grade gradeZh ranked }"""
SET = f"""mutation($input: SetTargetInput!) {{ setTarget(input: $input) {{ projected
  target {{ {FIELDS} }} }} }}"""
REMOVE = f"""mutation($id: ID!) {{ removeTarget(targetId: $id) {{ projected
  target {{ {FIELDS} }} }} }}"""
TARGETS = f"""query($staff: ID, $dep: String, $kind: PeriodKind!, $start: Date!) {{
  targets(staffId: $staff, department: $dep, period: {{kind: $kind, start: $start}}) {{
  {FIELDS} }} }}"""
HIRE = """mutation($input: HireStaffInput!) { hireStaff(input: $input) { staffId } }"""


def hire(api: Api) -> str:
    result = data(api.gql(HIRE, {"input": {"role": "sales", "department": "front_office",
                                           "displayName": "A",
                                           "hiredAt": "2026-10-01T00:00:00Z"}}))
    staff_id: str = result["hireStaff"]["staffId"]
    return staff_id


def friends(api: Api, staff_id: str, n: int, prefix: str = "t") -> None:
    events = [{"eventId": f"{prefix}{i}", "type": "FRIEND_ADDED",
               "occurredAt": "2026-11-20T02:00:00Z", "channel": "qr:store-1",
               "customer": {"namespace": "wx_unionid", "value": f"{prefix}{i}"},
               "staffId": staff_id} for i in range(n)]
    data(api.gql(RECORD, {"events": events}))


def set_target(api: Api, as_: str = "manager", **given: Any) -> dict[str, Any]:
    return api.gql(SET, {"input": {"period": {"kind": "MONTH", "start": "2026-11-15"},
                                   "kpi": "friendsNew", "value": "4", **given}}, as_=as_)


def wait_for_actual(api: Api, staff_id: str, actual: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 5
    while True:
        rows: list[dict[str, Any]] = data(api.gql(TARGETS, {
            "staff": staff_id, "kind": "MONTH", "start": "2026-11-01"}, as_="manager"))["targets"]
        if (rows and rows[0]["achievement"]["actual"] == actual) or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_a_manager_sets_a_monthly_target_graded_by_the_members_kpis(api: Api) -> None:
    # Given a member with 5 new friends in November
    staff_id = hire(api)
    friends(api, staff_id, 5)
    # When a manager sets a target of 4 new friends for November
    payload = data(set_target(api, staffId=staff_id))["setTarget"]
    # Then it is stored for the whole month, and 5 of 4 is met (125 % ≥ 120 %: exceeded)
    target = payload["target"]
    assert payload["projected"] is True
    assert (target["firstDay"], target["lastDay"], target["kpi"], target["value"]) == (
        "2026-11-01", "2026-11-30", "friendsNew", "4")
    assert (target["metAt"], target["exceededAt"], target["trial"]) == ("1.00", "1.20", False)
    [row] = wait_for_actual(api, staff_id, 5.0)
    assert row["achievement"] == {"actual": 5.0, "ratio": 1.25, "grade": "EXCEEDED",
                                  "gradeZh": "超额达成", "ranked": True}
    # When the thresholds are raised and the target marked trial
    revised = data(set_target(api, staffId=staff_id, metAt="1.1", exceededAt="1.5",
                              trial=True))["setTarget"]["target"]
    # Then the same target is met only, and unranked
    assert revised["id"] == target["id"]
    assert revised["achievement"]["grade"] == "MET"
    assert revised["achievement"]["ranked"] is False


def test_staff_read_their_own_targets_only_and_cannot_set_any(api: Api) -> None:
    staff_id = hire(api)
    data(set_target(api, staffId=staff_id))
    assert error(set_target(api, as_="staff", staffId=staff_id))["code"] == "FORBIDDEN"
    assert error(api.gql(TARGETS, {"staff": staff_id, "kind": "MONTH", "start": "2026-11-01"},
                         as_="staff"))["code"] == "FORBIDDEN"
    assert error(api.gql(TARGETS, {"dep": "front_office", "kind": "MONTH",
                                   "start": "2026-11-01"}, as_="staff"))["code"] == "FORBIDDEN"


def test_removal_keeps_the_target_out_of_the_list_and_says_who(api: Api) -> None:
    staff_id = hire(api)
    target = data(set_target(api, staffId=staff_id))["setTarget"]["target"]
    removed = data(api.gql(REMOVE, {"id": target["id"]}, as_="manager"))["removeTarget"]
    assert removed["target"]["removedAt"] is not None
    assert removed["target"]["updatedBy"].startswith("staff:")
    assert data(api.gql(TARGETS, {"staff": staff_id, "kind": "MONTH", "start": "2026-11-01"},
                        as_="manager"))["targets"] == []


def test_invalid_targets_are_typed_errors(api: Api) -> None:
    staff_id = hire(api)
    assert error(set_target(api, staffId=staff_id, value="0"))["code"] == "INVALID_TARGET"
    assert error(set_target(api, staffId=staff_id, kpi="charisma"))["code"] == "BAD_INPUT"
    assert error(set_target(api, department="nowhere"))["code"] == "BAD_INPUT"
    assert error(set_target(api, staffId="0a6f0000-0000-4000-8000-000000000077")
                 )["code"] == "NOT_FOUND"
    assert error(api.gql(SET, {"input": {"period": {"kind": "WEEK", "start": "2026-11-15"},
                                         "kpi": "gmvFen", "value": "1", "department":
                                         "front_office"}}, as_="manager"))["code"] == "BAD_INPUT"
    department = data(set_target(api, department="front_office", kpi="gmvFen",
                                 value="100000"))["setTarget"]["target"]
    assert department["achievement"]["grade"] == "MISSED"
