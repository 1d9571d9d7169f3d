"""The organisation over HTTP: departments, moves, roles, handovers and who may see what."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.tokens import issue_token
from application.app import Siyu
from projections.runner import Tracker
from tests.integration.api.conftest import MANAGER_ID, STAFF_ID, Api
from tests.integration.api.test_tag_groups_http import data, error, friend_of
from tests.support.directory import hire_as

pytestmark = pytest.mark.integration
OPERATOR_ID = "0a6f0000-0000-4000-8000-0000000000c1"
AUDITOR_ID = "0a6f0000-0000-4000-8000-0000000000c2"

HIRE = """mutation($name: String!) { hireStaff(input: {displayName: $name, role: "sales",
  department: "front_office"}) { staffId } }"""
MOVE = """mutation($id: ID!, $d: String!) { moveStaff(input: {staffId: $id, department: $d}) {
  staff { id department role } projected } }"""
ROLE = """mutation($id: ID!, $r: String!) { changeStaffRole(input: {staffId: $id, role: $r}) {
  staff { id department role } projected } }"""
HANDOVER = """mutation($from: ID!, $to: ID!, $ids: [ID!], $reason: HandoverReason!, $h: String) {
  handOverCustomers(input: {fromStaffId: $from, toStaffId: $to, customerIds: $ids,
                            reason: $reason, handoverId: $h}) {
    handoverId requested transferred unchanged alreadyDone projected
    refused { customerId code } } }"""
OWNERSHIP = """query($id: ID!) { customerOwnership(customerId: $id) {
  staffId since until reason handoverId endedReason } }"""
OWNED = """query($id: ID!, $first: Int!, $after: String) {
  staffCustomers(staffId: $id, first: $first, after: $after) {
    edges { cursor node { customerId reason } } pageInfo { hasNextPage endCursor } } }"""


def hire(api: Api, name: str) -> str:
    staff_id: str = data(api.gql(HIRE, {"name": name}, as_="manager"))["hireStaff"]["staffId"]
    return staff_id


def handover(api: Api, giver: str, receiver: str, ids: list[str] | None,
             reason: str = "REASSIGNMENT", as_: str = "manager", h: str | None = None
             ) -> dict[str, Any]:
    return api.gql(HANDOVER, {"from": giver, "to": receiver, "ids": ids, "reason": reason,
                              "h": h}, as_=as_)


def test_managers_move_staff_and_change_roles_and_everyone_sees_the_departments(
        api: Api) -> None:
    # Given a salesperson
    staff_id = hire(api, "王芳")
    # When a manager moves them and makes them a user operator
    moved = data(api.gql(MOVE, {"id": staff_id, "d": "middle_office"}, as_="manager"))
    changed = data(api.gql(ROLE, {"id": staff_id, "r": "user_operator"}, as_="manager"))
    # Then the directory, the department lists and the history show it
    assert moved["moveStaff"]["staff"]["department"] == "middle_office"
    assert changed["changeStaffRole"] == {"staff": {"id": staff_id, "department": "middle_office",
                                                    "role": "user_operator"}, "projected": True}
    departments = data(api.gql("{ departments { code nameZh functions staffCount } }",
                               as_="staff"))["departments"]
    assert departments[1] == {"code": "middle_office", "nameZh": "中台",
                              "functions": ["operations"], "staffCount": 2}  # + the manager
    members = data(api.gql('{ staffByDepartment(department: "middle_office") { id role } }',
                           as_="manager"))["staffByDepartment"]
    # (front-line staff read their own department's directory only: docs/access.md)
    assert error(api.gql('{ staffByDepartment(department: "middle_office") { id } }',
                         as_="staff"))["code"] == "FORBIDDEN"
    assert members == [{"id": MANAGER_ID, "role": "private_domain_manager"},
                       {"id": staff_id, "role": "user_operator"}]
    history = data(api.gql('query($id: ID!) { staffAssignments(staffId: $id) { department role '
                           'reason until } }', {"id": staff_id}))["staffAssignments"]
    assert [h["reason"] for h in history] == ["hired", "moved", "role_changed"]
    roles = data(api.gql("{ staffRoles { code manager } }", as_="staff"))["staffRoles"]
    assert {"code": "private_domain_manager", "manager": True} in roles


def test_organisation_refusals_carry_stable_codes(api: Api) -> None:
    staff_id = hire(api, "李雷")
    assert error(api.gql(MOVE, {"id": staff_id, "d": "marketing"}, as_="manager")) == {
        "code": "INVALID_ROLE", "field": "department"}
    assert error(api.gql(MOVE, {"id": staff_id, "d": "back_office"}, as_="staff"))["code"] == (
        "FORBIDDEN")
    unknown = "0a6f0000-0000-4000-8000-00000000dead"
    assert error(api.gql(ROLE, {"id": unknown, "r": "sales"}, as_="manager"))["code"] == (
        "NOT_FOUND")
    assert error(api.gql('{ staffByDepartment(department: "x") { id } }'))["code"] == "BAD_INPUT"


def test_a_manager_hands_over_a_leaving_staff_members_customers_in_one_call(api: Api) -> None:
    # Given A owns three customers (their first friend), B owns one, and A leaves
    a, b = hire(api, "A"), hire(api, "B")
    mine = [friend_of(api, a, f"c{n}") for n in range(3)]
    theirs = friend_of(api, b, "d0")
    api.gql('mutation($id: ID!) { leaveStaff(input: {staffId: $id}) { staffId } }', {"id": a},
            as_="manager")
    # When all of A's customers are handed to B for resignation (no list given)
    result = data(handover(api, a, b, None, "RESIGNATION", h="leave-a"))["handOverCustomers"]
    # Then the three move, and their history says from whom, why and with which handover
    assert (result["requested"], result["transferred"], result["refused"]) == (3, 3, [])
    assert result["projected"] is True and result["handoverId"] == "leave-a"
    periods = data(api.gql(OWNERSHIP, {"id": mine[0]}))["customerOwnership"]
    assert [(p["staffId"], p["reason"], p["endedReason"]) for p in periods] == [
        (a, "first_friend", "resignation"), (b, "resignation", None)]
    assert periods[1]["handoverId"] == "leave-a"
    owned = data(api.gql(OWNED, {"id": b, "first": 10}))["staffCustomers"]["edges"]
    assert sorted(e["node"]["customerId"] for e in owned) == sorted([*mine, theirs])
    # and a retry of the same handover records nothing
    again = data(handover(api, a, b, mine, "RESIGNATION", h="leave-a"))["handOverCustomers"]
    assert (again["transferred"], again["alreadyDone"]) == (0, 3)


def test_a_handover_reports_each_refused_customer_and_refuses_bad_staff(api: Api) -> None:
    a, b, c = hire(api, "A"), hire(api, "B"), hire(api, "C")
    mine = friend_of(api, a, "m0")
    theirs = friend_of(api, b, "t0")
    # When A's and B's customers are handed from A to C, Then B's is refused alone
    result = data(handover(api, a, c, [mine, theirs]))["handOverCustomers"]
    assert result["transferred"] == 1
    assert result["refused"] == [{"customerId": theirs, "code": "NOT_OWNED_BY_GIVER"}]
    # When the receiver has left, is unknown or is the giver, Then the whole call is refused
    api.gql('mutation($id: ID!) { leaveStaff(input: {staffId: $id}) { staffId } }', {"id": b},
            as_="manager")
    assert error(handover(api, c, b, [mine]))["code"] == "STAFF_ALREADY_LEFT"
    ghost = "0a6f0000-0000-4000-8000-00000000dead"
    assert error(handover(api, c, ghost, [mine])) == {"code": "NOT_FOUND", "field": "toStaffId"}
    assert error(handover(api, c, c, [mine])) == {"code": "BAD_INPUT", "field": "toStaffId"}
    # and front-line staff may not hand over at all
    assert error(handover(api, c, a, [mine], as_="staff"))["code"] == "FORBIDDEN"


def test_front_line_staff_read_their_own_customers_and_nobody_elses(api: Api,
                                                                    pg_app: Siyu) -> None:
    # Given the staff member owns 3 customers, and another staff member owns one
    other = hire(api, "Other")
    mine = [friend_of(api, STAFF_ID, f"s{n}") for n in range(3)]
    stranger = friend_of(api, other, "x0")
    # (friend_of waits for the customer profile; ownership is another group's read model)
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    assert tracker.wait("customer_ownership", pg_app.recorder.max_notification_id() or 0, 10)
    # When they page through their customers two at a time
    first = data(api.gql(OWNED, {"id": STAFF_ID, "first": 2}, as_="staff"))["staffCustomers"]
    rest = data(api.gql(OWNED, {"id": STAFF_ID, "first": 2,
                                "after": first["pageInfo"]["endCursor"]}, as_="staff"))
    # Then they see all three, newest first, and nobody else's
    ids = [e["node"]["customerId"] for e in first["edges"] + rest["staffCustomers"]["edges"]]
    assert ids == mine[::-1] and first["pageInfo"]["hasNextPage"] is True
    assert error(api.gql(OWNED, {"id": other, "first": 2}, as_="staff"))["code"] == "FORBIDDEN"
    assert len(data(api.gql(OWNERSHIP, {"id": mine[0]}, as_="staff"))["customerOwnership"]) == 1
    assert error(api.gql(OWNERSHIP, {"id": stranger}, as_="staff"))["code"] == "NOT_FOUND"


def test_staff_names_are_masked_for_the_roles_that_see_personal_data_masked(
        api: Api, pg_app: Siyu, pg_url: str) -> None:
    # Given a named colleague, the salesperson's own name, and readers of every kind
    colleague = hire(api, "林晓梅")
    hire_as(pg_app, OPERATOR_ID, "user_operator", "middle_office", wait=False)
    hire_as(pg_app, AUDITOR_ID, "auditor", "back_office")
    tokens = {"operator": issue_token(pg_url, "staff", OPERATOR_ID, None, "tests"),
              "auditor": issue_token(pg_url, "staff", AUDITOR_ID, None, "tests"),
              "auditor_pii": issue_token(pg_url, "staff", AUDITOR_ID, None, "tests",
                                         grants=["audit:pii"])}
    query = "{ staffMembers { id displayName } }"

    def names(as_: str = "manager", token: str | None = None) -> dict[str, str | None]:
        answer = api.gql(query, as_=as_, token=token)
        return {s["id"]: s["displayName"] for s in data(answer)["staffMembers"]}

    own = names()[STAFF_ID]
    assert own is not None and len(own) > 1
    # Then managers and a privileged auditor read names in clear
    assert names()[colleague] == "林晓梅"
    assert names(token=tokens["auditor_pii"])[colleague] == "林晓梅"
    # And operators and auditors read the first character; front line likewise, but its own
    assert names(token=tokens["operator"])[colleague] == "林**"
    assert names(token=tokens["auditor"])[colleague] == "林**"
    front = names(as_="staff")
    assert front[colleague] == "林**" and front[STAFF_ID] == own
