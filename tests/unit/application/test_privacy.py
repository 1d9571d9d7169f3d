"""Erasure and export over the in-memory store: who is erased, what is refused, what an
export holds."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

import pytest

from application.app import Siyu
from domain.customer import Customer
from domain.errors import CustomerErased, InvalidInput
from domain.ingestion import EventItem

BY = "staff:privacy-1"


def _record(app: Siyu, *items: EventItem) -> list[UUID]:
    result = app.ingestion.record_batch(list(items), "service:test")
    assert result.count("rejected") == 0, result.outcomes
    ids = [o.customer_id for o in result.outcomes]
    assert None not in ids
    return [i for i in ids if i is not None]


def test_erasing_a_survivor_erases_the_customers_it_absorbed_and_unlinks_every_identity(
    memory_app: Siyu, now: datetime
) -> None:
    # Given two customers merged by an identity link (OneID), with a nickname each
    a, b = _record(memory_app,
                   EventItem("1", "PROFILE_UPDATED", ("phone", "13900000001"), now, nickname="甲"),
                   EventItem("2", "PROFILE_UPDATED", ("wx_unionid", "uB"), now, nickname="乙"))
    survivor, = _record(memory_app, EventItem("3", "IDENTITY_LINKED", ("phone", "13900000001"),
                                              now, link=("wx_unionid", "uB")))
    assert survivor == a
    # When the absorbed id is erased
    streams, position = memory_app.privacy.erase(b, "customer_request", None, BY, now)
    # Then the survivor and the absorbed customer are both erased, keys and identities gone
    assert streams == [a, b] and position is not None
    assert memory_app.customers.personal_data(a) == {} == memory_app.customers.personal_data(b)
    customer = memory_app.find(a, Customer)
    assert customer is not None and customer.erased and customer.identities == {}
    # and a second erasure is refused, as is merging or unmerging it
    with pytest.raises(CustomerErased):
        memory_app.privacy.erase(a, "customer_request", None, BY, now)
    with pytest.raises(CustomerErased):
        memory_app.identity.unmerge(b, BY, now)
    # and the same phone later is a new customer
    again, = _record(memory_app, EventItem("4", "TAGGED", ("phone", "13900000001"), now, tag="x"))
    assert again not in (a, b)


@pytest.mark.parametrize(("reason", "ticket", "field"), [
    ("because", None, "reason"),
    ("customer_request", "张三 13900000001", "ticket"),
    ("customer_request", "x" * 65, "ticket"),
], ids=["unknown-reason", "personal-data-in-ticket", "long-ticket"])
def test_an_erasure_needs_a_known_reason_and_a_plain_ticket(
    memory_app: Siyu, now: datetime, reason: str, ticket: str | None, field: str
) -> None:
    cid, = _record(memory_app, EventItem("1", "TAGGED", ("phone", "13900000001"), now, tag="x"))
    with pytest.raises(InvalidInput) as refused:
        memory_app.privacy.erase(cid, reason, ticket, BY, now)
    assert refused.value.field == field
    customer = memory_app.find(cid, Customer)
    assert customer is not None and not customer.erased
    assert memory_app.index.owners_of(list(customer.identities))


def test_an_export_holds_every_event_decrypted_personal_data_and_consents(
    memory_app: Siyu, now: datetime
) -> None:
    earlier = now - timedelta(hours=1)
    cid, *_ = _record(
        memory_app,
        EventItem("1", "PROFILE_UPDATED", ("phone", "13900000001"), earlier, nickname="甲"),
        EventItem("2", "CONSENT_GIVEN", ("phone", "13900000001"), now, purpose="marketing",
                  wording_version="2026-10"),
        EventItem("3", "CONSENT_GIVEN", ("phone", "13900000001"), now, purpose="analytics",
                  wording_version="v1"),
        EventItem("4", "CONSENT_WITHDRAWN", ("phone", "13900000001"), now, purpose="analytics"))
    export = memory_app.privacy.export(cid)
    assert export.customer_id == cid and not export.erased
    assert export.consents == {"marketing": "2026-10"}
    assert [e.type for e in export.events] == [
        "Customer.Registered", "Customer.IdentityLinked", "Customer.PersonalDataRecorded",
        "Customer.ConsentGiven", "Customer.ConsentGiven", "Customer.ConsentWithdrawn"]
    assert export.events[3].data == {"purpose": "marketing", "wording_version": "2026-10"}
    fields = export.personal[str(cid)]
    assert fields["nickname"] == "甲" and "+8613900000001" in fields.values()
