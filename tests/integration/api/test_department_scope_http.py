"""Department scope on every read: nothing of another department comes back.

Two departments are hired: the front office (a department manager, the fixture's
salespeople) and the back office (one salesperson with a customer, a marketing task and a
target). For every query field a department manager or a front-line member may call
(``api.policy.POLICY``), the table below asks for the back office's data; the answer's
``data`` never names the back-office member, their customer, that customer's nickname or
the back-office department. The same query as the company manager does name them (where
the seed gives it something to name), so the check can fail. A field the table does not
cover must be listed in ``NO_STAFF_OR_CUSTOMER_DATA`` with the reason.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from adapters.tokens import issue_token
from api.policy import DM, FL, POLICY
from application.app import Siyu
from projections.runner import Tracker
from tests.integration.api.conftest import OTHER_STAFF_ID, STAFF_ID, Api
from tests.integration.api.test_graphql_http import event, record
from tests.support.directory import hire_as

pytestmark = pytest.mark.integration

DEPT_MANAGER_ID = "0a6f0000-0000-4000-8000-0000000000d1"
BACK_MEMBER_ID = "0a6f0000-0000-4000-8000-0000000000d2"
THEIRS = {"namespace": "wecom_external:ww-corp", "value": "wmBackOffice"}
OURS = {"namespace": "wecom_external:ww-corp", "value": "wmFrontOffice"}
PERIOD = {"kind": "MONTH", "start": datetime.now(UTC).date().replace(day=1).isoformat()}
NOW = datetime.now(UTC).replace(microsecond=0)
SHANGHAI = ZoneInfo("Asia/Shanghai")

#: (name, query, control): ``control`` — the company manager's answer names the back office.
#: Variables: $b (the back-office member), $bc (their customer), $task (their task),
#: $p (this month).
READS: list[tuple[str, str, bool]] = [
    ("customers", "{ customers(first: 100) { edges { node { id nickname } } } }", True),
    ("customer", "query($bc: ID!) { customer(id: $bc) { id nickname } }", True),
    ("customerByIdentity", '{ customerByIdentity(namespace: "wecom_external:ww-corp", '
                           'value: "wmBackOffice") { id nickname } }', True),
    ("customerHistory", "query($bc: ID!) { customerHistory(customerId: $bc) "
                        "{ edges { node { customerId type } } } }", True),
    ("customerOwnership", "query($bc: ID!) { customerOwnership(customerId: $bc) "
                          "{ staffId } }", True),
    ("customerCoupons", "query($bc: ID!) { customerCoupons(customerId: $bc) "
                        "{ couponId customerId } }", False),
    ("staffMember", "query($b: ID!) { staffMember(id: $b) { id } }", True),
    ("staffMembers", "{ staffMembers(includeLeft: true) { id } }", True),
    ("staffByDepartment", '{ staffByDepartment(department: "back_office", includeLeft: true) '
                          '{ id } }', True),
    ("staffAssignments", "query($b: ID!) { staffAssignments(staffId: $b) "
                         "{ department role } }", True),
    ("staffCustomers", "query($b: ID!) { staffCustomers(staffId: $b) "
                       "{ edges { node { customerId } } } }", True),
    ("staffKpis", "query($b: ID!, $p: KpiPeriodInput!) { staffKpis(period: $p, staffId: $b) "
                  "{ staffId values { name value } } }", True),
    ("staffKpis", 'query($p: KpiPeriodInput!) { staffKpis(period: $p, department: '
                  '"back_office") { department values { name value } } }', True),
    ("leaderboard", 'query($p: KpiPeriodInput!) { leaderboard(kpi: "friendsNew", period: $p) '
                    '{ department entries { staffId } } }', True),
    ("leaderboard", 'query($p: KpiPeriodInput!) { leaderboard(kpi: "friendsNew", period: $p, '
                    'department: "back_office") { department entries { staffId } } }', True),
    ("dailyReports", "query($b: ID!) { dailyReports(recipientId: $b) { id recipientId "
                     "members { staffId } } }", False),
    ("dailyReports", "{ dailyReports { id recipientId members { staffId } } }", False),
    ("targets", "query($b: ID!, $p: KpiPeriodInput!) { targets(period: $p, staffId: $b) "
                "{ id staffId } }", True),
    ("targets", 'query($p: KpiPeriodInput!) { targets(period: $p, department: "back_office") '
                '{ id department } }', True),
    ("marketingTasks", "{ marketingTasks(first: 50) { edges { node { id staffId } } } }", True),
    ("marketingTasks", "query($b: ID!) { marketingTasks(staffId: $b, first: 50) "
                       "{ edges { node { id staffId } } } }", True),
    ("marketingTask", "query($task: ID!) { marketingTask(id: $task) { id staffId } }", True),
    ("staffAlerts", "query($b: ID!) { staffAlerts(staffId: $b) { edges { node { id staffId } } } "
                    "all: staffAlerts { edges { node { id staffId } } } }", False),
    ("channelCodes", "{ channelCodes(includeDeleted: true) { id staffIds userIds } }", True),
    ("kpiLineage", 'query($b: ID!, $p: KpiPeriodInput!) { kpiLineage(kpi: "friendsNew", '
                   "period: $p, staffId: $b) { events { staffId customerId } } }", True),
    ("managerOverview", 'query($p: KpiPeriodInput!) { managerOverview(period: $p, '
                        'department: "back_office") { department } }', True),
    ("momentTasks", "{ momentTasks { staffIds userIds } }", True),
    ("momentTask", "query($mt: ID!) { momentTask(id: $mt) { staffIds userIds } }", True),
    ("departmentFunnel", 'query($day0: Date!, $day: Date!) { departmentFunnel(from: $day0, '
                         'to: $day, department: "back_office") { department } }', True),
    ("satisfaction", 'query($day0: Date!, $day: Date!) { satisfaction(from: $day0, to: $day) '
                     "{ byStaff { staffId } } }", True),
]

#: Fields a department manager or front-line member may call that read nothing of one
#: staff member or customer (company-wide catalogues and settings), or that need an
#: object of their own to name (an alert, a segment): the rule is in docs/access.md.
NO_STAFF_OR_CUSTOMER_DATA = {
    "Query.me": "a staff token's me is null (it is the customer's own profile)",
    "Query.departments": "the department catalogue and headcounts",
    "Query.staffRoles": "the role catalogue",
    "Query.segments": "definitions and counts, no members (Segment.entries is MIDDLE)",
    "Query.segment": "a definition and its count",
    "Query.segmentExplanation": "one customer, through the customer scope (may_see)",
    "Query.tagGroups": "the tag catalogue",
    "Query.tagGroup": "the tag catalogue",
    "Query.chatScripts": "the shared script library",
    "Query.chatScript": "the shared script library",
    "Query.scriptScenarios": "the scenario names",
    "Query.activities": "company activities and their figures, no per-member line",
    "Query.activity": "company activities and their figures, no per-member line",
    "Query.channelCode": "as channelCodes (one code)",
    "Query.kpiCatalogue": "KPI definitions",
    "Query.workingHours": "the company's working hours",
    "Query.sensitiveLexicon": "the word list",
    "Query.staffAlert": "as staffAlerts (one alert: NOT_FOUND outside the scope)",
    "Query.sensitiveMessage": "the message of an alert visible through staffAlert",
    "Query.customerDataExport": "privacy officers only (docs/privacy.md), any customer",
    "Subscription.leaderboardChanged": "the same key (and department rule) as leaderboard",
    "Query.productCategories": "the product library",
    "Query.products": "the product library",
    "Query.product": "the product library",
    "Query.productSales": "company sales by product and category, no staff or customer",
}


def test_the_table_covers_every_read_a_department_manager_or_front_line_member_may_call(
        ) -> None:
    reads = {f for f, roles in POLICY.items()
             if not f.startswith("Mutation.") and roles & {DM, FL}}
    covered = {f"Query.{name}" for name, _, _ in READS}
    assert reads - covered - set(NO_STAFF_OR_CUSTOMER_DATA) == set()


@pytest.fixture
def seeded(api: Api, pg_app: Siyu, pg_url: str) -> dict[str, Any]:
    hire_as(pg_app, BACK_MEMBER_ID, "sales", "back_office", wait=False)
    hire_as(pg_app, DEPT_MANAGER_ID, "department_manager", "front_office")
    record(api, [
        event("d1", "FRIEND_ADDED", NOW - timedelta(hours=2), THEIRS, channel="qr",
              staffId=BACK_MEMBER_ID),
        event("d2", "PROFILE_UPDATED", NOW - timedelta(hours=2), THEIRS, nickname="李四光"),
        event("d3", "FRIEND_ADDED", NOW - timedelta(hours=2), OURS, channel="qr",
              staffId=STAFF_ID),
        event("d4", "PROFILE_UPDATED", NOW - timedelta(hours=2), OURS, nickname="张三丰"),
        event("d5", "SURVEY_ANSWERED", NOW - timedelta(hours=1), THEIRS, surveyKind="CSAT",
              score=4, staffId=BACK_MEMBER_ID),
    ])
    coded = str(pg_app.staff.hire("sales", "back_office", "王五", "system", NOW,
                                  wecom_user_id="backwecom"))
    settle(pg_app)
    body = api.gql("""mutation($input: CreateChannelCodeInput!) { createChannelCode(input:
        $input) { code { id } } }""", {"input": {"name": "后台码", "channel": "qr:back",
                                                 "userIds": ["backwecom"]}})
    assert "errors" not in body, body
    theirs = api.gql('{ customerByIdentity(namespace: "wecom_external:ww-corp", '
                     'value: "wmBackOffice") { id } }')["data"]["customerByIdentity"]["id"]
    task = api.gql("""mutation($input: AssignMarketingTaskInput!) { assignMarketingTask(
        input: $input) { task { id } } }""", {"input": {
        "assignmentKey": "dept-b-1", "title": "Back office task", "kind": "MOMENTS_POST",
        "staffId": BACK_MEMBER_ID, "dueAt": (NOW + timedelta(days=1)).isoformat()}})
    for given in ({"staffId": BACK_MEMBER_ID}, {"department": "back_office"}):
        body = api.gql("""mutation($input: SetTargetInput!) { setTarget(input: $input)
            { target { id } } }""", {"input": {"period": PERIOD, "kpi": "friendsNew",
                                               "value": "4", **given}})
        assert "errors" not in body, body
    moment = api.gql("""mutation($input: CreateMomentTaskInput!) { createMomentTask(
        input: $input) { task { id } } }""", {"input": {"content": "后台朋友圈",
                                                        "staffIds": [coded]}})
    assert "errors" not in moment, moment
    return {
        "vars": {"b": BACK_MEMBER_ID, "bc": theirs, "p": PERIOD,
                 "mt": moment["data"]["createMomentTask"]["task"]["id"],
                 "day": NOW.astimezone(SHANGHAI).date().isoformat(),
                 "day0": (NOW - timedelta(days=1)).astimezone(SHANGHAI).date().isoformat(),
                 "task": task["data"]["assignMarketingTask"]["task"]["id"]},
        "markers": [BACK_MEMBER_ID, coded, "backwecom", theirs, "李四光", "back_office"],
        "tokens": {"department_manager": issue_token(pg_url, "staff", DEPT_MANAGER_ID, None,
                                                     "tests"),
                   "staff": api.tokens["staff"], "manager": api.tokens["manager"]},
    }


def settle(app: Siyu) -> None:
    tracker = Tracker(app.factory.datastore)  # type: ignore[attr-defined]
    latest = app.recorder.max_notification_id() or 0
    assert tracker.wait("staff_directory", latest, 20)


def ask(api: Api, query: str, variables: dict[str, Any], token: str) -> dict[str, Any]:
    used = {k: v for k, v in variables.items() if f"${k}" in query}
    response = api.client.post("/graphql", json={"query": query, "variables": used},
                               headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    for error in body.get("errors", []):
        assert error["extensions"]["code"] in ("FORBIDDEN", "NOT_FOUND"), body
    return body


def named(body: dict[str, Any], markers: list[str]) -> list[str]:
    text = json.dumps(body.get("data"), ensure_ascii=False)
    return [m for m in markers if m in text]


def test_nothing_of_another_department_comes_back_on_any_read(
        api: Api, seeded: dict[str, Any]) -> None:
    variables, markers, tokens = seeded["vars"], seeded["markers"], seeded["tokens"]
    leaks = {}
    for name, query, control in READS:
        if control:  # the company manager sees the back office here: the check can fail
            assert named(ask(api, query, variables, tokens["manager"]), markers), name
        for role in ("department_manager", "staff"):
            found = named(ask(api, query, variables, tokens[role]), markers)
            if found:
                leaks[f"{name} as {role}"] = found
    assert leaks == {}


def test_a_department_manager_reads_their_whole_department(
        api: Api, seeded: dict[str, Any]) -> None:
    variables, dm = seeded["vars"], seeded["tokens"]["department_manager"]
    api.gql("""mutation($input: AssignMarketingTaskInput!) { assignMarketingTask(
        input: $input) { task { id } } }""", {"input": {
        "assignmentKey": "dept-a-1", "title": "Front office task", "kind": "MOMENTS_POST",
        "staffId": OTHER_STAFF_ID, "dueAt": (NOW + timedelta(days=1)).isoformat()}})

    def data(query: str) -> str:
        body = ask(api, query, variables, dm)
        assert "errors" not in body, body
        return json.dumps(body["data"], ensure_ascii=False)

    assert "张三丰" in data(READS[0][1])
    assert OTHER_STAFF_ID in data(READS[19][1])  # the department's tasks
    board = data(READS[13][1])
    assert STAFF_ID in board and '"front_office"' in board
    members = data("{ staffMembers { id } }")
    assert STAFF_ID in members and OTHER_STAFF_ID in members
    assert '"front_office"' in data('query($p: KpiPeriodInput!) { staffKpis(period: $p, '
                                    'department: "front_office") { department } }')


SET_TARGET = """mutation($input: SetTargetInput!) { setTarget(input: $input) {
  target { id } } }"""
REMOVE_TARGET = """mutation($id: ID!) { removeTarget(targetId: $id) { target { id } } }"""


def test_a_department_manager_sets_their_departments_targets_only(
        api: Api, seeded: dict[str, Any]) -> None:
    dm = seeded["tokens"]["department_manager"]

    def set_(given: dict[str, str]) -> dict[str, Any]:
        body: dict[str, Any] = api.client.post(
            "/graphql", json={"query": SET_TARGET, "variables": {"input": {
                "period": PERIOD, "kpi": "gmvFen", "value": "100000", **given}}},
            headers={"Authorization": f"Bearer {dm}"}).json()
        return body

    # Their member and their department: set, and removable by them
    for given in ({"staffId": STAFF_ID}, {"department": "front_office"}):
        body = set_(given)
        assert "errors" not in body, body
        target = body["data"]["setTarget"]["target"]["id"]
        removed = ask(api, REMOVE_TARGET, {"id": target}, dm)
        assert "errors" not in removed, removed
    # Another department's member, the department itself, or its targets: FORBIDDEN
    for given in ({"staffId": BACK_MEMBER_ID}, {"department": "back_office"}):
        assert [e["extensions"]["code"] for e in set_(given)["errors"]] == ["FORBIDDEN"]
    theirs = api.gql(SET_TARGET, {"input": {"period": PERIOD, "kpi": "gmvFen", "value": "5",
                                            "staffId": BACK_MEMBER_ID}})
    body = ask(api, REMOVE_TARGET, {"id": theirs["data"]["setTarget"]["target"]["id"]}, dm)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    # Front-line staff set none
    staff = api.gql(SET_TARGET, {"input": {"period": PERIOD, "kpi": "gmvFen", "value": "5",
                                           "staffId": STAFF_ID}}, as_="staff")
    assert [e["extensions"]["code"] for e in staff["errors"]] == ["FORBIDDEN"]
