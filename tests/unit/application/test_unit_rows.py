"""Facts written straight as stored rows store what their event objects would have stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import eventsourcing.domain as domain_module
import pytest

from application.unit_of_work import EventStore, UnitOfWork
from application.unit_rows import creatable, created_row, fact_row, layout
from bench import workload
from domain.customer import Customer
from domain.ingestion import _FACTS, EventItem
from siyu.bootstrap import build_application

AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def _every_fact(count: int) -> list[EventItem]:
    """``count`` items of each fact type ingestion records, on a few customers."""
    items = []
    for n in range(count):
        for name, (_, spec) in sorted(_FACTS.items()):
            values: dict[str, Any] = {}
            for _, item_field, check, required in spec:
                if required or n % 2:
                    values[item_field] = (3 + n if check == "count" else
                                          str(UUID(int=n + 1)) if check == "uuid" else
                                          f"{item_field}-{n}·名")
            items.append(EventItem(f"{name}-{n}", name, ("phone", f"1390000{n % 7:04d}"),
                                   AT - timedelta(minutes=n), channel="mini_program", **values))
    return items


def _stored(monkeypatch: pytest.MonkeyPatch, items: list[EventItem], *, rows: bool
            ) -> list[tuple[Any, ...]]:
    """Every stored record after ingesting ``items``, recording times and new ids drawn
    from the same sequences, facts written as rows or as event objects."""
    ticks = iter(range(10**6))
    ids = iter(range(1, 10**6))

    def as_event(store: EventStore, unit: UnitOfWork[Any], aggregate: Any, kind: Any,
                 **fields: Any) -> None:
        aggregate.trigger_event(kind, **fields)

    with monkeypatch.context() as patch:
        patch.setattr(domain_module, "datetime_now_with_tzinfo",
                      lambda: AT + timedelta(microseconds=next(ticks)))
        patch.setattr(domain_module, "uuid4", lambda: UUID(int=next(ids)))
        if not rows:
            patch.setattr(EventStore, "append_fact", as_event)
            patch.setattr(EventStore, "row_recorder", lambda store, unit: None)
        app = build_application(None, b"s" * 32)
        for start in range(0, len(items), 200):
            result = app.ingestion.record_batch(items[start:start + 200], "service:tests")
            assert result.count("rejected") == 0, result.outcomes
    return [(n.id, n.originator_id, n.originator_version, n.topic, n.state)
            for n in app.recorder.select_notifications(start=1, limit=10**6)]


def test_every_fact_type_is_stored_as_its_event_object_would_be(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Given items of every fact type, with and without their optional fields
    items = _every_fact(6)
    # When they are ingested once with facts as event objects and once as rows
    before = _stored(monkeypatch, items, rows=False)
    after = _stored(monkeypatch, items, rows=True)
    # Then every stored record is the same, position, version and bytes
    assert len(before) > len(items)
    assert after == before


def test_a_mixed_workload_stores_the_same_records_either_way(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Given views (facts) interleaved with tags, friends, groups and orders on the same customers
    items = workload.items(1200, customers=60, seed=7)
    # When it is ingested with facts as event objects, then as rows
    before = _stored(monkeypatch, items, rows=False)
    after = _stored(monkeypatch, items, rows=True)
    # Then each customer's stream interleaves them in the same order, byte for byte
    assert after == before


def test_a_fact_row_advances_its_aggregate_as_the_event_would() -> None:
    # Given a customer at version 1
    app = build_application(None, b"s" * 32)
    customer = Customer(first_channel="h5", by="system", occurred_at=AT)
    # When a view is written as a row
    row = fact_row(app.mapper.transcoder, customer, Customer.ContentViewed,
                   {"by": "system", "occurred_at": AT, "content_id": "c", "channel": "h5",
                    "seconds": None, "topic": None})
    # Then the row is its version 2, and the customer is at version 2 as of the row's time
    assert (row.originator_id, row.originator_version) == (customer.id, 2)
    assert customer.version == 2
    stored = app.mapper.to_domain_event(row)
    assert isinstance(stored, Customer.ContentViewed)
    assert customer.modified_on == stored.timestamp


def test_an_event_that_assigns_state_cannot_be_written_as_a_fact_row() -> None:
    app = build_application(None, b"s" * 32)
    customer = Customer(first_channel="h5", by="system", occurred_at=AT)
    assert layout(Customer.Tagged).applies and not layout(Customer.StoreVisited).applies
    with pytest.raises(TypeError, match="not a fact"):
        fact_row(app.mapper.transcoder, customer, Customer.Tagged,
                 {"by": "system", "occurred_at": AT, "tag": "t", "reason": "manual"})
    assert customer.version == 1 and not customer.tags


def test_a_fact_row_refuses_missing_and_unknown_fields() -> None:
    app = build_application(None, b"s" * 32)
    customer = Customer(first_channel="h5", by="system", occurred_at=AT)
    with pytest.raises(TypeError, match="missing"):
        fact_row(app.mapper.transcoder, customer, Customer.StoreVisited,
                 {"by": "system", "occurred_at": AT})
    with pytest.raises(TypeError, match="unexpected"):
        fact_row(app.mapper.transcoder, customer, Customer.StoreVisited,
                 {"by": "system", "occurred_at": AT, "store_id": "s", "colour": "red"})
    assert customer.version == 1  # nothing was recorded


def test_snapshots_are_taken_at_every_interval_a_row_reaches() -> None:
    # Given one customer viewing content 250 times, in batches of 60
    app = build_application(None, b"s" * 32)
    who = ("phone", "13900000001")
    customer_id = None
    for start in range(0, 250, 60):
        result = app.ingestion.record_batch(
            [EventItem(f"v{n}", "CONTENT_VIEWED", who, AT, content_id="c")
             for n in range(start, min(250, start + 60))], "service:tests")
        customer_id = result.outcomes[0].customer_id
    assert customer_id is not None
    # Then snapshots were taken at versions 100 and 200, and a fresh read equals the cached one
    assert app.snapshots is not None
    taken = [s.originator_version for s in app.snapshots.get(customer_id)]
    assert taken == [100, 200]
    cached = app.find(customer_id, Customer)
    fresh = app.find(customer_id, Customer, fresh=True)
    assert cached is not None and fresh is not None
    assert fresh.version == cached.version == 252  # registered, identity linked, 250 views
    assert vars(fresh) == vars(cached)


def test_a_customer_created_as_a_row_is_the_customer_and_record_the_library_makes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the same ids and clock for both ways of creating a customer
    app = build_application(None, b"s" * 32)
    fields: dict[str, Any] = {"first_channel": "h5", "by": "system", "occurred_at": AT}
    made: list[tuple[dict[str, Any], Any]] = []
    for as_row in (False, True):
        with monkeypatch.context() as patch:
            patch.setattr(domain_module, "datetime_now_with_tzinfo", lambda: AT)
            patch.setattr(domain_module, "uuid4", lambda: UUID(int=7))
            # When it is created by the library, then as a row
            if as_row:
                assert creatable(Customer, Customer.Registered, frozenset(fields))
                customer, row = created_row(app.mapper.transcoder, Customer,
                                            Customer.Registered, fields)
            else:
                customer = Customer(**fields)
                (event,) = customer.collect_events()
                row = app.mapper.to_stored_event(event)
        made.append((vars(customer), row))
    # Then both are the same customer, stored as the same record
    assert made[1] == made[0]


def test_only_plain_creations_are_made_as_rows() -> None:
    names = frozenset({"first_channel", "by", "occurred_at"})
    assert creatable(Customer, Customer.Registered, names)
    assert not creatable(Customer, Customer.Registered, names | {"id"})
    assert not creatable(Customer, Customer.Registered, names - {"by"})
    assert not creatable(Customer, Customer.Tagged, names)
