"""Marketing tasks over HTTP: managers assign, staff see and complete their own, retries
record nothing, typed errors for the rest."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from adapters.tokens import issue_token
from tests.integration.api.conftest import Api
from tests.integration.api.test_tag_groups_http import data, error
from tests.integration.api.test_targets_http import hire

pytestmark = pytest.mark.integration

FIELDS = """id title kind staffId previousStaffIds status overdue dueAt targetCount
  completedCount evidence completedLate assignedBy completedBy cancelledBy cancelReason"""
ASSIGN = f"""mutation($input: AssignMarketingTaskInput!) {{ assignMarketingTask(input: $input)
  {{ recorded projected task {{ {FIELDS} }} }} }}"""
COMPLETE = f"""mutation($id: ID!, $n: Int, $ev: [String!]!) {{ completeMarketingTask(input:
  {{taskId: $id, completedCount: $n, evidence: $ev}}) {{ recorded task {{ {FIELDS} }} }} }}"""
CANCEL = f"""mutation($id: ID!) {{ cancelMarketingTask(input: {{taskId: $id, reason: "no stock"}})
  {{ recorded task {{ {FIELDS} }} }} }}"""
REASSIGN = f"""mutation($id: ID!, $s: ID!) {{ reassignMarketingTask(input: {{taskId: $id,
  staffId: $s}}) {{ recorded task {{ {FIELDS} }} }} }}"""
LIST = """query($staff: ID, $status: MarketingTaskStatus, $overdue: Boolean, $from: DateTime,
  $first: Int!, $after: String) { marketingTasks(staffId: $staff, status: $status,
  overdue: $overdue, dueFrom: $from, first: $first, after: $after) {
  edges { cursor node { id title staffId status overdue } }
  pageInfo { hasNextPage endCursor } } }"""
NOW = datetime.now(UTC).replace(microsecond=0)


def assign(api: Api, staff_id: str, key: str, due: datetime, as_: str = "manager"
           ) -> dict[str, Any]:
    return api.gql(ASSIGN, {"input": {
        "assignmentKey": key, "title": f"Task {key}", "kind": "MOMENTS_POST",
        "staffId": staff_id, "dueAt": due.isoformat(), "targetCount": 20}}, as_=as_)


def token(api: Api, pg_url: str, staff_id: str) -> str:
    return issue_token(pg_url, "staff", staff_id, "sales", "tests")


def test_a_manager_assigns_once_and_the_staff_member_completes_it(
        api: Api, pg_url: str) -> None:
    # Given a staff member and a task assigned twice with one key (a retry)
    member = hire(api)
    first = data(assign(api, member, "form-1", NOW + timedelta(days=1)))["assignMarketingTask"]
    again = data(assign(api, member, "form-1", NOW + timedelta(days=1)))["assignMarketingTask"]
    task = first["task"]
    assert (first["recorded"], first["projected"], again["recorded"]) == (True, True, False)
    assert again["task"]["id"] == task["id"]
    assert (task["status"], task["overdue"], task["kind"], task["targetCount"],
            task["assignedBy"]) == ("OPEN", False, "MOMENTS_POST", 20,
                                    "staff:0a6f0000-0000-4000-8000-0000000000aa")
    # When the member completes it, twice
    mine = token(api, pg_url, member)
    done = data(api.gql(COMPLETE, {"id": task["id"], "n": 18, "ev": ["moment:m-1"]},
                        token=mine))["completeMarketingTask"]
    retry = data(api.gql(COMPLETE, {"id": task["id"], "n": 18, "ev": []},
                         token=mine))["completeMarketingTask"]
    # Then it is completed once, with who and the evidence
    assert done["recorded"] and not retry["recorded"]
    assert (done["task"]["status"], done["task"]["completedCount"], done["task"]["evidence"],
            done["task"]["completedBy"], done["task"]["completedLate"]) == (
        "COMPLETED", 18, ["moment:m-1"], f"staff:{member}", False)


def test_staff_see_only_their_own_tasks_and_cannot_complete_or_assign_others(
        api: Api, pg_url: str) -> None:
    a, b = hire(api), hire(api)
    mine = data(assign(api, a, "a-1", NOW - timedelta(hours=1)))["assignMarketingTask"]["task"]
    theirs = data(assign(api, b, "b-1", NOW + timedelta(days=2)))["assignMarketingTask"]["task"]
    as_a = token(api, pg_url, a)
    listed = data(api.gql(LIST, {"first": 10}, token=as_a))["marketingTasks"]["edges"]
    assert [e["node"]["id"] for e in listed] == [mine["id"]]
    assert listed[0]["node"]["overdue"] is True
    assert error(api.gql(LIST, {"first": 10, "staff": b}, token=as_a))["code"] == "FORBIDDEN"
    assert error(api.gql(COMPLETE, {"id": theirs["id"], "ev": []}, token=as_a))[
        "code"] == "NOT_YOUR_TASK"
    assert error(assign(api, a, "a-2", NOW, as_="staff"))["code"] == "FORBIDDEN"
    assert error(api.gql(CANCEL, {"id": mine["id"]}, token=as_a))["code"] == "FORBIDDEN"
    everything = data(api.gql(LIST, {"first": 10}, as_="manager"))["marketingTasks"]["edges"]
    assert {e["node"]["id"] for e in everything} >= {mine["id"], theirs["id"]}


def test_reassigned_and_cancelled_tasks_and_typed_errors(api: Api, pg_url: str) -> None:
    a, b = hire(api), hire(api)
    task = data(assign(api, a, "r-1", NOW + timedelta(days=1)))["assignMarketingTask"]["task"]
    moved = data(api.gql(REASSIGN, {"id": task["id"], "s": b}, as_="manager"))[
        "reassignMarketingTask"]["task"]
    assert (moved["staffId"], moved["previousStaffIds"]) == (b, [a])
    cancelled = data(api.gql(CANCEL, {"id": task["id"]}, as_="manager"))["cancelMarketingTask"]
    assert (cancelled["task"]["status"], cancelled["task"]["cancelReason"]) == (
        "CANCELLED", "no stock")
    assert error(api.gql(COMPLETE, {"id": task["id"], "ev": []}, token=token(api, pg_url, b))
                 )["code"] == "MARKETING_TASK_CLOSED"
    assert error(assign(api, a, "r-1", NOW))["code"] == "ASSIGNMENT_KEY_REUSED"
    assert error(assign(api, "0a6f0000-0000-4000-8000-00000000dead", "r-2", NOW)) == {
        "code": "NOT_FOUND", "field": "staffId"}
    assert error(api.gql(CANCEL, {"id": "0a6f0000-0000-4000-8000-00000000beef"},
                         as_="manager"))["code"] == "NOT_FOUND"


def test_the_task_list_pages_by_due_time_and_filters_by_status_and_due_range(
        api: Api) -> None:
    member = hire(api)
    for n in range(5):
        assign(api, member, f"p-{n}", NOW + timedelta(days=n))
    seen: list[str] = []
    after = None
    while True:
        page = data(api.gql(LIST, {"first": 2, "after": after, "staff": member},
                            as_="manager"))["marketingTasks"]
        seen += [e["node"]["title"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [f"Task p-{n}" for n in range(5)]
    later = data(api.gql(LIST, {"first": 10, "staff": member, "status": "OPEN",
                                "from": (NOW + timedelta(days=3)).isoformat()},
                         as_="manager"))["marketingTasks"]["edges"]
    assert [e["node"]["title"] for e in later] == ["Task p-3", "Task p-4"]
    assert error(api.gql(LIST, {"first": 2, "after": "bogus"}, as_="manager")) == {
        "code": "BAD_INPUT", "field": "after"}


KPIS = """query($staff: ID!, $start: Date!) { staffKpis(staffId: $staff, period: {kind: MONTH,
  start: $start}, kpis: ["marketingTasksAssigned", "marketingTasksCompleted",
  "marketingTaskCompletionRate"]) { values { name value } } }"""


def test_the_members_kpis_count_tasks_due_and_completed(api: Api, pg_url: str) -> None:
    # Given two tasks due this month, one of them completed now
    member = hire(api)
    due = NOW  # (the completion is now too: both in this month but within seconds of its end)
    ids = [data(assign(api, member, f"kpi-{n}", due))["assignMarketingTask"]["task"]["id"]
           for n in range(2)]
    data(api.gql(COMPLETE, {"id": ids[0], "ev": []}, token=token(api, pg_url, member)))
    # Then the member's month counts them (once the KPI read model has caught up)
    start = NOW.astimezone(timezone(timedelta(hours=8))).date().replace(day=1).isoformat()
    want = {"marketingTasksAssigned": 2.0, "marketingTasksCompleted": 1.0,
            "marketingTaskCompletionRate": 0.5}
    got: dict[str, Any] = {}
    for _ in range(100):
        values = data(api.gql(KPIS, {"staff": member, "start": start},
                              as_="manager"))["staffKpis"]["values"]
        got = {v["name"]: v["value"] for v in values}
        if got == want:
            break
        time.sleep(0.05)
    assert got == want
