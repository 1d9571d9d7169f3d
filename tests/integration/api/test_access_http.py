"""Access over HTTP: tokens name principals, the directory gives the role on each request.

A manager token used to keep listing customers and hiring staff after ``leaveStaff``
(the role was frozen in the token), tokens never expired, managers could not revoke
one, and there were no auditor, operator or department-manager roles.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from adapters.tokens import ensure_token_table, issue_token, resolve_token
from application.app import Siyu
from tests.integration.api.conftest import OTHER_STAFF_ID, STAFF_ID, Api
from tests.integration.api.test_graphql_http import event, record
from tests.support.directory import hire_as

pytestmark = pytest.mark.integration

AUDITOR_ID = "0a6f0000-0000-4000-8000-0000000000a1"
OPERATOR_ID = "0a6f0000-0000-4000-8000-0000000000a2"
DEPT_MANAGER_ID = "0a6f0000-0000-4000-8000-0000000000a3"
SECOND_MANAGER_ID = "0a6f0000-0000-4000-8000-0000000000a4"
BACK_OFFICE_ID = "0a6f0000-0000-4000-8000-0000000000a5"

CUSTOMERS = "{ customers(first: 50) { edges { node { id nickname } } } }"
HIRE = """mutation { hireStaff(input: {displayName: "新人", role: "sales",
          department: "front_office"}) { staffId } }"""


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


def until(check: Callable[[], bool], seconds: float = 10.0) -> float:
    """Seconds it took ``check`` to hold (fails after ``seconds``)."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds, "did not happen in time"
        time.sleep(0.2)
    return time.monotonic() - started


def post(api: Api, query: str, token: str | None, variables: dict[str, Any] | None = None
         ) -> tuple[int, dict[str, Any]]:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    response = api.client.post("/graphql", json={"query": query, "variables": variables},
                               headers=headers)
    return response.status_code, response.json()


@pytest.fixture
def roles(api: Api, pg_app: Siyu, pg_url: str) -> dict[str, str]:
    """A token per role (the fixture's manager, salesperson and service, and more)."""
    hire_as(pg_app, AUDITOR_ID, "auditor", "back_office", wait=False)
    hire_as(pg_app, OPERATOR_ID, "copywriter", "middle_office", wait=False)
    hire_as(pg_app, BACK_OFFICE_ID, "data_operator", "back_office", wait=False)
    hire_as(pg_app, DEPT_MANAGER_ID, "department_manager", "front_office")
    tokens = dict(api.tokens)
    for name, staff_id in (("auditor", AUDITOR_ID), ("operator", OPERATOR_ID),
                           ("department_manager", DEPT_MANAGER_ID)):
        tokens[name] = issue_token(pg_url, "staff", staff_id, None, "tests")
    tokens["auditor_pii"] = issue_token(pg_url, "staff", AUDITOR_ID, None, "tests",
                                        grants=["audit:pii"])
    return tokens


def seed(api: Api) -> None:
    now = datetime.now(UTC)
    mine = {"namespace": "wecom_external:ww-corp", "value": "wmMine"}
    other = {"namespace": "wecom_external:ww-corp", "value": "wmOther"}
    record(api, [
        event("x1", "FRIEND_ADDED", now, mine, channel="qr", staffId=STAFF_ID),
        event("x2", "PROFILE_UPDATED", now, mine, nickname="张三丰"),
        event("x3", "FRIEND_ADDED", now, other, channel="qr", staffId=BACK_OFFICE_ID),
        event("x4", "PROFILE_UPDATED", now, other, nickname="李四光"),
    ])


def test_each_role_reads_the_customers_of_its_scope_masked_as_the_matrix_says(
        api: Api, roles: dict[str, str]) -> None:
    # Given one customer of a front-office salesperson and one of a back-office member
    seed(api)

    def names(role: str) -> list[str]:
        status, body = post(api, CUSTOMERS, roles[role])
        assert status == 200 and not codes(body), body
        return sorted(e["node"]["nickname"] for e in body["data"]["customers"]["edges"])

    # Then the company manager and a PII-granted auditor see both, unmasked
    assert names("manager") == names("auditor_pii") == ["张三丰", "李四光"]
    # operators and auditors without the grant see both, masked
    assert names("operator") == names("auditor") == ["张**", "李**"]
    # the front-office department manager sees their department's customer only
    assert names("department_manager") == ["张三丰"]
    # front-line staff see their own friend, masked
    assert names("staff") == ["张**"]
    # and a service (ingestion only) reads nothing
    status, body = post(api, CUSTOMERS, roles["service"])
    assert status == 200 and codes(body) == ["FORBIDDEN"]


@pytest.mark.parametrize(("role", "allowed"), [
    ("manager", True), ("department_manager", True), ("operator", False),
    ("staff", False), ("auditor", False), ("service", False),
], ids=lambda v: str(v))
def test_only_managers_hire(api: Api, roles: dict[str, str], role: str, allowed: bool) -> None:
    status, body = post(api, HIRE, roles[role])
    assert status == 200
    assert (codes(body) == []) is allowed, body
    if not allowed:
        assert codes(body) == ["FORBIDDEN"] and body["data"] is None


@pytest.mark.parametrize("token", [None, "not-a-token", ""], ids=["none", "bad", "empty"])
def test_no_token_or_a_bad_one_is_unauthenticated_on_every_route(
        api: Api, token: str | None) -> None:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    for method, path in (("POST", "/graphql"), ("GET", "/exports/segments/x/members.csv")):
        response = api.client.request(method, path, json={"query": "{ me { id } }"},
                                      headers=headers)
        assert response.status_code == 401, (path, response.text)
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(("role", "status"), [
    ("manager", 404), ("operator", 404), ("auditor", 404), ("department_manager", 403),
    ("staff", 403), ("service", 403),
], ids=lambda v: str(v))
def test_the_segment_export_is_for_company_managers_operators_and_auditors(
        api: Api, roles: dict[str, str], role: str, status: int) -> None:
    path = "/exports/segments/0a6f0000-0000-4000-8000-00000000ffff/members.csv"
    response = api.client.get(path, headers={"Authorization": f"Bearer {roles[role]}"})
    assert response.status_code == status, response.text


def test_a_manager_who_leaves_loses_their_rights_within_seconds_without_a_restart(
        api: Api, pg_app: Siyu, pg_url: str) -> None:
    # Given a second company manager whose token lists customers and hires
    hire_as(pg_app, SECOND_MANAGER_ID, "private_domain_manager", "middle_office")
    theirs = issue_token(pg_url, "staff", SECOND_MANAGER_ID, None, "tests")
    assert post(api, CUSTOMERS, theirs) == (200, post(api, CUSTOMERS, theirs)[1])
    assert not codes(post(api, HIRE, theirs)[1])
    # When the first manager records that they left
    leave = 'mutation($id: ID!) { leaveStaff(input: {staffId: $id}) { staffId } }'
    assert not codes(api.gql(leave, {"id": SECOND_MANAGER_ID}))
    # Then within seconds their token is refused, the API still running
    took = until(lambda: post(api, CUSTOMERS, theirs)[0] == 401)
    assert took < 6
    assert post(api, HIRE, theirs)[0] == 401


def test_a_role_change_takes_effect_within_seconds(api: Api, pg_app: Siyu,
                                                   pg_url: str) -> None:
    hire_as(pg_app, SECOND_MANAGER_ID, "private_domain_manager", "middle_office")
    theirs = issue_token(pg_url, "staff", SECOND_MANAGER_ID, None, "tests")
    assert not codes(post(api, HIRE, theirs)[1])
    demote = ('mutation($id: ID!) { changeStaffRole(input: {staffId: $id, role: "sales"}) '
              '{ staff { role } } }')
    assert not codes(api.gql(demote, {"id": SECOND_MANAGER_ID}))
    took = until(lambda: codes(post(api, HIRE, theirs)[1]) == ["FORBIDDEN"])
    assert took < 6


def test_a_department_manager_administers_only_their_own_department(
        api: Api, roles: dict[str, str]) -> None:
    dm = roles["department_manager"]
    # their own department's member: allowed
    move = ('mutation($id: ID!, $role: String!) { changeStaffRole(input: {staffId: $id, '
            'role: $role}) { staff { role } } }')
    assert not codes(post(api, move, dm, {"id": OTHER_STAFF_ID, "role": "service"})[1])
    # someone in another department, or a promotion to manager: refused
    assert codes(post(api, move, dm, {"id": OPERATOR_ID, "role": "sales"})[1]) == [
        "FORBIDDEN"]
    assert codes(post(api, move, dm, {"id": STAFF_ID, "role": "private_domain_manager"})[1]
                 ) == ["FORBIDDEN"]
    elsewhere = HIRE.replace("front_office", "back_office")
    assert codes(post(api, elsewhere, dm)[1]) == ["FORBIDDEN"]


def test_tokens_expire(api: Api, pg_url: str) -> None:
    short = issue_token(pg_url, "staff", STAFF_ID, None, "tests", ttl_seconds=1)
    assert post(api, "{ me { id } }", short)[0] == 200
    took = until(lambda: post(api, "{ me { id } }", short)[0] == 401)
    assert took < 8  # one second of life, at most five more in the API's cache


def test_managers_list_tokens_without_secrets_and_revoke_one_that_stops_at_once(
        api: Api, roles: dict[str, str]) -> None:
    listed = api.gql("""query($s: String) { apiTokens(subjectId: $s) { id kind subjectId
                          roleAtIssue grants expiresAt revokedAt } }""",
                     {"s": STAFF_ID})["data"]["apiTokens"]
    assert len(listed) == 1 and listed[0]["kind"] == "staff" and listed[0]["expiresAt"]
    assert roles["staff"] not in str(listed)
    # Given the salesperson's token works
    assert post(api, CUSTOMERS, roles["staff"])[0] == 200
    # When a manager revokes it
    revoke = 'mutation($id: ID!) { revokeApiToken(id: $id) { tokenId } }'
    assert not codes(api.gql(revoke, {"id": listed[0]["id"]}))
    # Then it is refused on the next request, and it is listed as revoked
    assert post(api, CUSTOMERS, roles["staff"])[0] == 401
    again = api.gql("""query($s: String) { apiTokens(subjectId: $s, liveOnly: false) {
                         revokedAt } }""", {"s": STAFF_ID})["data"]["apiTokens"]
    assert again[0]["revokedAt"] is not None
    # Bad and unknown ids are typed errors; other roles may not list or revoke
    assert codes(api.gql(revoke, {"id": "zz"})) == ["BAD_INPUT"]
    assert codes(api.gql(revoke, {"id": listed[0]["id"]})) == ["NOT_FOUND"]
    for role in ("department_manager", "operator", "auditor", "service"):
        assert codes(post(api, revoke, roles[role], {"id": listed[0]["id"]})[1]) == [
            "FORBIDDEN"]
    assert not codes(post(api, "{ apiTokens { id } }", roles["auditor"])[1])


@pytest.mark.fresh_database
def test_tokens_issued_before_expiry_existed_get_one_when_the_table_is_migrated(
        pg_url: str) -> None:
    # Given a token table of the previous release with a live and a revoked token
    with psycopg.connect(pg_url) as conn:
        conn.execute("DROP TABLE IF EXISTS api_token")
        conn.execute("""CREATE TABLE api_token (token_hash text PRIMARY KEY, kind text NOT NULL,
                        subject_id text NOT NULL, role text, label text NOT NULL DEFAULT '',
                        created_at timestamptz NOT NULL DEFAULT now(), revoked_at timestamptz)""")
        conn.execute("INSERT INTO api_token (token_hash, kind, subject_id, role) VALUES "
                     "(encode(sha256('old-live'), 'hex'), 'staff', %s, 'sales'), "
                     "(encode(sha256('old-gone'), 'hex'), 'service', 'x', NULL)", (STAFF_ID,))
        conn.execute("UPDATE api_token SET revoked_at = now() WHERE kind = 'service'")
    # When the new release migrates it (twice: every start does)
    ensure_token_table(pg_url, ttl_seconds=3600)
    ensure_token_table(pg_url, ttl_seconds=60)
    # Then the live token still resolves, with an expiry an hour ahead; the revoked one not
    held = resolve_token(pg_url, "old-live")
    assert held is not None and (held.kind, held.subject_id) == ("staff", STAFF_ID)
    assert resolve_token(pg_url, "old-gone") is None
    with psycopg.connect(pg_url) as conn:
        left = conn.execute("SELECT expires_at - now() FROM api_token WHERE kind = 'staff'"
                            ).fetchone()
    assert left is not None and 3500 < left[0].total_seconds() <= 3600



def test_a_start_on_a_current_token_table_takes_no_lock_on_it(api: Api, pg_url: str) -> None:
    # Given a token look-up of another process in a transaction still open
    with psycopg.connect(pg_url) as reader:
        reader.execute("SELECT count(*) FROM api_token")
        # When an API process starts (its lifespan ensures the token table)
        started = threading.Thread(target=ensure_token_table, args=(pg_url,), daemon=True)
        started.start()
        started.join(5)
        # Then it did not wait for the look-up (an ALTER TABLE would have)
        assert not started.is_alive()
    started.join(10)
