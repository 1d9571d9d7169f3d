"""Alerts and the lexicon over HTTP: who manages, who sees, who reviews the message text."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from adapters.tokens import issue_token
from adapters.wecom_client import Outcome, SendResult
from application.app import Siyu
from projections.runner import BatchRunner, Tracker
from tests.integration.api.conftest import OTHER_STAFF_ID, STAFF_ID, Api
from tests.integration.api.test_tag_groups_http import data, error
from workers.alerts import AlertDeps, AlertOutboxView, AlertStore, deliver_staff_alert

pytestmark = pytest.mark.integration

ADD = """mutation($c: String!, $t: [String!]!) { addSensitiveTerms(input: {category: $c,
  terms: $t}) { added { termId term category } lexicon { version } projected } }"""
LEXICON = "{ sensitiveLexicon { version categories { code label builtIn } terms { termId term } } }"
ALERTS = """query($status: AlertStatus) { staffAlerts(status: $status) { edges { node {
  id kind status staffId customerId recipients hits { category termId term } messageRef
  acknowledgedBy resolvedBy resolutionNote } } } }"""
REVIEW = "query($id: ID!) { sensitiveMessage(alertId: $id) { customerId messageRef text } }"
ACK = """mutation($id: ID!) { acknowledgeAlert(input: {alertId: $id}) {
  alert { status acknowledgedBy acknowledgedAt } projected } }"""
RESOLVE = """mutation($id: ID!, $note: String!) { resolveAlert(input: {alertId: $id, note: $note})
  { alert { status resolvedBy resolutionNote } projected } }"""
RECORD = """mutation($events: [CustomerEventInput!]!) { recordCustomerEvents(input: {
  events: $events, waitForProjection: true}) { results { customerId status } } }"""


class FakeStaffGateway:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send_app_message(self, to_user: str, text: str) -> SendResult:
        self.sent.append((to_user, text))
        return SendResult(Outcome.SENT, "ok", f"m{len(self.sent)}")


def run_alert_worker(app: Siyu, url: str) -> FakeStaffGateway:
    """What the worker does: project the outbox, deliver every due alert."""
    BatchRunner(app, AlertOutboxView(), Tracker(app.factory.datastore)).catch_up()  # type: ignore[attr-defined]
    gateway = FakeStaffGateway()
    with ConnectionPool(url, min_size=1, max_size=2) as pool:
        store = AlertStore(pool)
        keys: list[str] = []
        store.enqueue_due(keys.append, stale_after=timedelta(minutes=5))
        for key in keys:
            deliver_staff_alert(AlertDeps(app=app, store=store, gateway=gateway), key)
    return gateway


def wait_for_alerts(api: Api, count: int) -> list[dict[str, Any]]:
    for _ in range(100):
        edges = data(api.gql(ALERTS, as_="manager"))["staffAlerts"]["edges"]
        if len(edges) >= count:
            return [e["node"] for e in edges]
        time.sleep(0.05)
    raise AssertionError("alerts not projected")


def test_managers_keep_the_lexicon_and_front_line_staff_cannot_read_it(api: Api) -> None:
    body = data(api.gql(ADD, {"c": "private_order", "t": ["私单", "私单", "转账给我"]},
                        as_="manager"))["addSensitiveTerms"]
    assert [t["term"] for t in body["added"]] == ["私单", "转账给我"]
    assert body["projected"] is True and body["lexicon"]["version"] == 3
    lexicon = data(api.gql(LEXICON, as_="manager"))["sensitiveLexicon"]
    assert {"code": "diverted_order", "label": "飞单", "builtIn": True} in lexicon["categories"]
    assert error(api.gql(LEXICON, as_="staff"))["code"] == "FORBIDDEN"
    assert error(api.gql(ADD, {"c": "nope", "t": ["x"]}, as_="manager")) == {
        "code": "BAD_INPUT", "field": "category"}


def test_a_sensitive_message_is_reviewed_by_managers_only_and_unreadable_once_erased(
        api: Api, pg_app: Siyu, pg_url: str) -> None:
    # Given a lexicon term and a staff message that hits it
    data(api.gql(ADD, {"c": "diverted_order", "t": ["飞单"]}, as_="manager"))
    at = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    results = data(api.gql(RECORD, {"events": [{
        "eventId": "m-1", "type": "MESSAGE_SENT", "occurredAt": at, "staffId": STAFF_ID,
        "customer": {"namespace": "wx_unionid", "value": "oU1"}, "messageKind": "TEXT".lower(),
        "text": "这单我们走飞单"}]}))["recordCustomerEvents"]["results"]
    customer_id = results[0]["customerId"]
    # When the worker delivers the alert
    gateway = run_alert_worker(pg_app, pg_url)
    [alert] = wait_for_alerts(api, 1)
    # Then the alert carries the context, and the managers' messages no text
    assert alert["kind"] == "SENSITIVE_WORD" and alert["customerId"] == customer_id
    assert alert["hits"] == [{"category": "diverted_order", "termId": "t1", "term": "飞单"}]
    assert all("走" not in text for _, text in gateway.sent)
    # And a manager reads the text; service principals and staff may not
    review = data(api.gql(REVIEW, {"id": alert["id"]}, as_="manager"))["sensitiveMessage"]
    assert review == {"customerId": customer_id, "messageRef": "message:3",
                      "text": "这单我们走飞单"}
    assert error(api.gql(REVIEW, {"id": alert["id"]}, as_="service"))["code"] == "FORBIDDEN"
    assert error(api.gql(REVIEW, {"id": alert["id"]}, as_="staff"))["code"] == "FORBIDDEN"
    # And the customer's own history does not show staff supervision; a manager's does
    history = "query($id: ID!) { customerHistory(customerId: $id) { edges { node { type } } } }"
    own = issue_token(pg_url, "customer", customer_id, None, "tests")
    types = [e["node"]["type"] for e in data(api.gql(history, {"id": customer_id}, token=own))[
        "customerHistory"]["edges"]]
    assert "Customer.MessageSent" in types and "Customer.SensitiveWordsFound" not in types
    types = [e["node"]["type"] for e in data(api.gql(history, {"id": customer_id},
                                                     as_="manager"))["customerHistory"]["edges"]]
    assert "Customer.SensitiveWordsFound" in types
    # When the customer's key is erased, the text is gone
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DELETE FROM siyu_vault_key WHERE subject_id = %s", (customer_id,))
    review = data(api.gql(REVIEW, {"id": alert["id"]}, as_="manager"))["sensitiveMessage"]
    assert review["text"] is None


def test_a_recipient_acknowledges_and_resolves_their_alert_and_others_do_not_see_it(
        api: Api, pg_app: Siyu, pg_url: str) -> None:
    # Given a chat-timeout alert for the front-line staff member
    alert, _ = pg_app.supervision.raise_alert("chat_timeout:c:s:1:1", "chat_timeout", STAFF_ID, None,
                                  [STAFF_ID], {"since": datetime.now(UTC).isoformat()},
                                  datetime.now(UTC))
    wait_for_alerts(api, 1)
    alert_id = str(alert.id)
    # When they acknowledge it, then resolve it
    acked = data(api.gql(ACK, {"id": alert_id}, as_="staff"))["acknowledgeAlert"]
    resolved = data(api.gql(RESOLVE, {"id": alert_id, "note": "已回复"}, as_="staff"))
    # Then who and when are recorded, and the status moves on
    assert acked["alert"]["status"] == "ACKNOWLEDGED"
    assert acked["alert"]["acknowledgedBy"] == f"staff:{STAFF_ID}"
    assert resolved["resolveAlert"]["alert"] == {"status": "RESOLVED",
                                                 "resolvedBy": f"staff:{STAFF_ID}",
                                                 "resolutionNote": "已回复"}
    assert error(api.gql(ACK, {"id": alert_id}, as_="staff"))["code"] == "ALERT_CLOSED"
    mine = data(api.gql(ALERTS, {"status": "RESOLVED"}, as_="staff"))["staffAlerts"]["edges"]
    assert len(mine) == 1
    # And another staff member neither sees nor changes it
    other = issue_token(pg_url, "staff", OTHER_STAFF_ID, "sales", "tests")
    assert data(api.gql(ALERTS, token=other))["staffAlerts"]["edges"] == []
    assert error(api.gql(RESOLVE, {"id": alert_id, "note": ""}, token=other))["code"] == (
        "NOT_FOUND")
    assert data(api.gql(ALERTS, as_="manager"))["staffAlerts"]["edges"][0]["node"][
        "status"] == "RESOLVED"


STARTER = """mutation { addStarterSensitiveTerms { added { category term } lexicon { version }
  projected } }"""


def test_a_customers_abuse_alerts_the_serving_members_managers_with_the_text_for_review(
        api: Api, pg_app: Siyu, pg_url: str) -> None:
    # Given the starter terms, added once (a second call adds nothing)
    first = data(api.gql(STARTER, as_="manager"))["addStarterSensitiveTerms"]
    assert {t["category"] for t in first["added"]} == {"abuse", "private_order", "diverted_order"}
    assert data(api.gql(STARTER, as_="manager"))["addStarterSensitiveTerms"]["added"] == []
    assert error(api.gql(STARTER, as_="staff"))["code"] == "FORBIDDEN"
    # When a customer abuses the member serving them
    at = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    results = data(api.gql(RECORD, {"events": [{
        "eventId": "in-1", "type": "MESSAGE_RECEIVED", "occurredAt": at, "staffId": STAFF_ID,
        "customer": {"namespace": "wx_unionid", "value": "oU9"}, "messageKind": "text",
        "text": "你们都是白痴"}]}))["recordCustomerEvents"]["results"]
    customer_id = results[0]["customerId"]
    gateway = run_alert_worker(pg_app, pg_url)
    [alert] = wait_for_alerts(api, 1)
    # Then the managers get a customer-side alert, with no text in what they are sent
    assert alert["kind"] == "CUSTOMER_SENSITIVE_WORD" and alert["staffId"] == STAFF_ID
    assert alert["customerId"] == customer_id and STAFF_ID not in alert["recipients"]
    assert [h["category"] for h in alert["hits"]] == ["abuse"]
    assert gateway.sent and all("白痴" not in text for _, text in gateway.sent)
    # And a manager reads the customer's words
    review = data(api.gql(REVIEW, {"id": alert["id"]}, as_="manager"))["sensitiveMessage"]
    assert review["text"] == "你们都是白痴"
