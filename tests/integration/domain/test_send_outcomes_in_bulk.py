"""Recording a chunk's send outcomes and reading its addresses in bulk, on both recorders:
many customers' vault fields decrypted in two queries, many aggregates loaded in one."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid4

import pytest

from application.app import Siyu
from application.campaigns import SendOutcome
from domain.customer import Customer
from domain.identity import Identity, blind_index
from domain.ingestion import EventItem
from siyu.bootstrap import build_application
from tests.conftest import SECRET


@pytest.fixture(params=["memory", "postgres"])
def app(request: pytest.FixtureRequest) -> Siyu:
    if request.param == "memory":
        built: Siyu = request.getfixturevalue("memory_app")
        return built
    pg: Siyu = request.getfixturevalue("pg_app")
    return pg


def customers(app: Siyu, now: datetime, n: int) -> dict[str, UUID]:
    result = app.ingestion.record_batch([EventItem(f"e{i}", "TAGGED", ("wx_openid:wxa", f"oBulk{i}"), now,
                                         tag="t") for i in range(n)], "service:test")
    return {f"oBulk{i}": o.customer_id for i, o in enumerate(result.outcomes)
            if o.customer_id is not None}


def test_personal_fields_decrypt_one_field_of_many_subjects_and_skip_unknown_ones(
        app: Siyu, now: datetime) -> None:
    # Given three customers, each with its openid sealed in the vault
    ids = customers(app, now, 3)
    field = {openid: f"identity:{blind_index(app.blind_key, Identity('wx_openid:wxa', openid))}"
             for openid in ids}
    # When their openid fields, an unknown field and an unknown subject are asked for
    wanted = [(ids[o], field[o]) for o in ids] + [(ids["oBulk0"], "identity:none"),
                                                  (uuid4(), field["oBulk0"])]
    values = app.customers.personal_fields(wanted)
    # Then each known field is decrypted, the others are absent
    assert values == {(ids[o], field[o]): o for o in ids}


def test_outcomes_of_customers_unknown_to_the_cache_are_recorded_once_each(
        app: Siyu, now: datetime) -> None:
    # Given 30 customers, one of them with a long history (past the bulk-load limit)
    ids = list(customers(app, now, 30).values())
    app.ingestion.record_batch([EventItem(f"v{n}", "CONTENT_VIEWED", ("wx_openid:wxa", "oBulk0"), now,
                                content_id=f"c{n}") for n in range(120)], "service:test")
    cache = app.repository.cache
    assert cache is not None
    for customer_id in ids:  # as in a fresh worker process
        cache.get(customer_id, evict=True)
    campaign = uuid4()
    outcomes = [SendOutcome(campaign, c, 0, "mini_program", "a", n % 3 != 0, f"m{n}")
                for n, c in enumerate(ids)]
    # When the outcomes are recorded, twice
    assert app.campaigns.record_send_outcomes(outcomes, now) == 30
    assert app.campaigns.record_send_outcomes(outcomes, now) == 0
    # Then every customer has exactly one outcome event, after its history
    for n, customer_id in enumerate(ids):
        customer: Customer = app.repository.get(customer_id)
        assert isinstance(customer, Customer)
        events = app.recorder.select_events(customer_id)
        kinds = [e.topic.rsplit(".", 1)[-1] for e in events[-1:]]
        assert kinds == ["CampaignMessageSent" if n % 3 else "CampaignMessageFailed"]
        assert customer.version == len(events)
    assert len(app.recorder.select_events(ids[0])) == 2 + 1 + 120 + 1


@pytest.mark.integration
def test_the_bulk_loaded_aggregate_equals_the_one_read_from_snapshots(pg_url: str,
                                                                      now: datetime) -> None:
    # Given a customer recorded by one process
    writer = build_application(pg_url, SECRET)
    try:
        [customer_id] = customers(writer, now, 1).values()
    finally:
        writer.close()
    # When another process records an outcome for it (bulk load) and reads it back
    reader = build_application(pg_url, SECRET)
    try:
        reader.campaigns.record_send_outcomes([SendOutcome(uuid4(), customer_id, 0, "sms", "a", True,
                                                 "m")], now)
        cached: Customer = reader.repository.get(customer_id)
        fresh = build_application(pg_url, SECRET)
        try:
            stored: Customer = fresh.repository.get(customer_id)
        finally:
            fresh.close()
    finally:
        reader.close()
    assert cached.version == stored.version == 4
    assert vars(cached) == vars(stored)
