"""SOP sequences over HTTP: define, list with progress, enrolments, revise, pause, archive."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from application.app import Siyu
from projections.runner import Tracker
from tests.integration.api.conftest import STAFF_ID, Api
from tests.integration.api.test_graphql_http import event, record

pytestmark = pytest.mark.integration

DEFINE = """
mutation($input: SopInput!) { defineSop(input: $input) { sopId position } }"""

LIST = """
query { sops { id name state revision trigger
  progress { enrolled active completed stopped stoppedConverted }
  stepProgress { revision step channel planned sent } } }"""

ENROLMENTS = """
query($id: ID!) { customerSopEnrolments(customerId: $id) {
  sopName revision triggerKind state stopReason steps { step channel status } } }"""


def welcome(**overrides: object) -> dict[str, object]:
    return {"name": "新好友欢迎", "trigger": {"kind": "friend_added", "channels": ["qr"]},
            "steps": [{"offsetDays": 0, "channel": "wecom_mass",
                       "variants": [{"variantId": "a", "text": "欢迎 {member_level}"}]},
                      {"offsetDays": 3, "channel": "wecom_mass",
                       "variants": [{"variantId": "b", "text": "新手指南"}]}], **overrides}


def settle(pg_app: Siyu) -> None:
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    assert tracker.wait("sop", pg_app.recorder.max_notification_id() or 0, 10)


def test_a_sequence_enrols_new_friends_and_shows_its_progress(
        api: Api, pg_app: Siyu) -> None:
    # Given a welcome sequence for friends added through a QR code
    body = api.gql(DEFINE, {"input": welcome()}, as_="manager")
    assert "errors" not in body, body
    sop_id = body["data"]["defineSop"]["sopId"]
    # When two customers add a staff member, one through an ad
    now = datetime.now(UTC)
    qr = record(api, [event("s1", "FRIEND_ADDED", now, {"namespace": "wecom_external:ww",
                                                          "value": "wmA"},
                            channel="qr", staffId=STAFF_ID)])["results"][0]["customerId"]
    record(api, [event("s2", "FRIEND_ADDED", now, {"namespace": "wecom_external:ww",
                                                    "value": "wmB"},
                       channel="ad", staffId=STAFF_ID)])
    settle(pg_app)
    # Then the sequence lists one enrolment and two planned steps
    [listed] = api.gql(LIST, as_="manager")["data"]["sops"]
    assert (listed["id"], listed["state"], listed["revision"]) == (sop_id, "active", 1)
    assert listed["trigger"] == {"kind": "friend_added", "channels": ["qr"], "staff_ids": []}
    assert listed["progress"] == {"enrolled": 1, "active": 1, "completed": 0, "stopped": 0,
                                  "stoppedConverted": 0}
    assert [(s["step"], s["planned"]) for s in listed["stepProgress"]] == [(0, 1), (1, 1)]
    # and the customer's enrolment shows its steps
    [enrolment] = api.gql(ENROLMENTS, {"id": qr}, as_="manager")["data"][
        "customerSopEnrolments"]
    assert (enrolment["sopName"], enrolment["state"], enrolment["triggerKind"]) == (
        "新好友欢迎", "active", "friend_added")
    assert [s["status"] for s in enrolment["steps"]] == ["planned", "planned"]
    # When the sequence is revised, then archived
    revised = api.gql("""mutation($id: ID!, $input: SopInput!) { reviseSop(sopId: $id,
        input: $input) { sopId } }""", {"id": sop_id, "input": welcome(name="v2")},
                      as_="manager")
    assert "errors" not in revised, revised
    archived = api.gql("mutation($id: ID!) { archiveSop(sopId: $id) { sopId } }",
                       {"id": sop_id}, as_="manager")
    assert "errors" not in archived, archived
    settle(pg_app)
    # Then the running enrolment stopped as archived, its steps cancelled
    [enrolment] = api.gql(ENROLMENTS, {"id": qr}, as_="manager")["data"][
        "customerSopEnrolments"]
    assert (enrolment["state"], enrolment["stopReason"]) == ("stopped", "archived")
    assert [s["status"] for s in enrolment["steps"]] == ["cancelled", "cancelled"]
    [listed] = api.gql(LIST, as_="manager")["data"]["sops"]
    assert (listed["name"], listed["state"], listed["revision"]) == ("v2", "archived", 2)
    # and an archived sequence cannot be resumed
    again = api.gql("mutation($id: ID!) { resumeSop(sopId: $id) { sopId } }", {"id": sop_id},
                    as_="manager")
    assert again["errors"][0]["extensions"]["code"] == "SOP_STATE"


def test_bad_sequences_are_refused_with_a_code_and_staff_cannot_define_them(api: Api) -> None:
    bad = api.gql(DEFINE, {"input": welcome(steps=[
        {"offsetDays": 3, "channel": "sms",
         "variants": [{"variantId": "a", "text": "x", "templateId": "t"}]},
        {"offsetDays": 1, "channel": "sms",
         "variants": [{"variantId": "a", "text": "y", "templateId": "t"}]}])},
        as_="manager")
    assert bad["errors"][0]["extensions"]["code"] == "INVALID_SOP"
    assert bad["errors"][0]["extensions"]["field"] == "steps[1].offset"
    unknown = api.gql("mutation { pauseSop(sopId: \"0a6f0000-0000-4000-8000-000000000009\") "
                      "{ sopId } }", as_="manager")
    assert unknown["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    refused = api.gql(DEFINE, {"input": welcome()}, as_="staff")
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
