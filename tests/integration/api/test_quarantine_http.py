"""Operators see the events their read models set aside, over GraphQL; nobody else does."""

from __future__ import annotations

from uuid import UUID

import psycopg
import pytest
from eventsourcing.persistence import Notification
from psycopg.rows import dict_row

from projections import quarantine
from tests.integration.api.conftest import Api

QUERY = """query($m: String) { quarantinedEvents(readModel: $m) {
  readModel position streamId streamVersion topic errorClass error } }"""
STREAM = UUID("0a6f0000-0000-4000-8000-0000000000f1")


def set_aside(pg_url: str, projection: str, position: int) -> None:
    with psycopg.connect(pg_url, row_factory=dict_row) as conn, conn.cursor() as curs:
        quarantine.record(curs, projection, Notification(
            id=position, originator_id=STREAM, originator_version=3,
            topic="domain.customer:Customer.Tagged", state=b"{}"),
            ValueError("text the table cannot hold"))


def test_managers_list_quarantined_events_front_line_staff_and_services_may_not(
        api: Api, pg_url: str) -> None:
    # Given two events set aside by two read models
    set_aside(pg_url, "customer_profile", 41)
    set_aside(pg_url, "staff_performance", 42)
    # Then a manager sees both, or one read model's
    every = api.gql(QUERY, as_="manager")["data"]["quarantinedEvents"]
    assert [(e["readModel"], e["position"]) for e in every] == [
        ("customer_profile", 41), ("staff_performance", 42)]
    assert every[0] == {"readModel": "customer_profile", "position": 41,
                        "streamId": str(STREAM), "streamVersion": 3,
                        "topic": "domain.customer:Customer.Tagged", "errorClass": "ValueError",
                        "error": "text the table cannot hold"}
    one = api.gql(QUERY, {"m": "staff_performance"}, as_="manager")["data"]
    assert [e["position"] for e in one["quarantinedEvents"]] == [42]
    # And front-line staff and services are refused
    for refused_role in ("staff", "service"):
        refused = api.gql(QUERY, as_=refused_role)
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize("read_model", ["customer_profile", None])
def test_nothing_quarantined_is_an_empty_list(api: Api, read_model: str | None) -> None:
    assert api.gql(QUERY, {"m": read_model}, as_="manager")["data"] == {"quarantinedEvents": []}
