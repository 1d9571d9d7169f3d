"""Customer messages: their text sealed in the vault, scanned on the customer's side too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from application.app import Siyu
from domain.customer import Customer
from domain.errors import InvalidInput
from domain.ingestion import EventItem
from domain.lexicon import STARTER_TERMS
from domain.staff_alert import CUSTOMER_SENSITIVE_WORD, SENSITIVE_WORD
from projections.staff_performance.view import counter_deltas, ledger_entry
from workers.alerts import alert_row

AT = datetime(2026, 11, 20, 2, tzinfo=UTC)
STAFF = "5f904020-9939-4c13-bb15-b374ca2d40c1"


def message(app: Siyu, kind: str, text: str | None, n: int = 1) -> UUID:
    result = app.ingestion.record_batch([EventItem(
        event_id=f"{kind}-{n}", type=kind, identity=("wecom_external:ww7788", "wmA"),
        occurred_at=AT + timedelta(minutes=n), staff_id=STAFF, message_kind="text",
        text=text)], "service:test")
    outcome = result.outcomes[0]
    assert outcome.status == "accepted", outcome
    assert outcome.customer_id is not None
    return outcome.customer_id


def stored(app: Siyu, customer_id: UUID) -> list[object]:
    return list(app.repository.event_store.get(customer_id))


def test_a_customer_message_keeps_kind_and_length_and_seals_its_text(
        memory_app: Siyu) -> None:
    # Given no lexicon at all
    # When a customer message with text is recorded
    customer_id = message(memory_app, "MESSAGE_RECEIVED", "我的订单到哪了?")
    # Then the event holds kind and length, and the text is in the vault only
    events = stored(memory_app, customer_id)
    received = next(e for e in events if isinstance(e, Customer.MessageReceived))
    assert (received.message_kind, received.text_length) == ("text", 8)
    assert not any("订单" in str(vars(e)) for e in events)
    ref = f"message:{received.originator_version}"
    assert memory_app.customers.personal_data(customer_id)[ref] == "我的订单到哪了?"


def test_a_customers_abuse_is_a_customer_side_hit_not_the_members(memory_app: Siyu) -> None:
    # Given the starter terms
    added, _ = memory_app.supervision.add_starter_terms("staff:m", AT)
    assert {t.category for t in added} == set(STARTER_TERMS)
    # When the customer abuses the member
    customer_id = message(memory_app, "MESSAGE_RECEIVED", "你 是 白痴吗")
    # Then the hit names the customer's side, the serving member and the abuse term
    found = [e for e in stored(memory_app, customer_id)
             if isinstance(e, Customer.SensitiveWordsFound)]
    assert len(found) == 1 and found[0].side == "customer" and found[0].staff_id == STAFF
    assert [h["category"] for h in found[0].hits] == ["abuse"]
    assert memory_app.customers.personal_data(customer_id)[found[0].message_ref] == "你 是 白痴吗"
    # And it alerts the serving member's managers, and is no hit on the member's own KPI but
    # a customer-side hit (abuse) credited to the member serving the chat
    row = alert_row(found[0])
    assert row is not None and row["kind"] == CUSTOMER_SENSITIVE_WORD
    assert row["staff_id"] == STAFF
    entry = ledger_entry(found[0], 10)
    assert entry is not None and entry["staff_id"] == STAFF
    assert (entry["kind"], entry["categories"]) == ("customer_sensitive_word_hit", ["abuse"])
    assert counter_deltas(entry) == {"customer_sensitive_word_hits": 1, "customer_abuse_hits": 1}


def test_a_members_private_order_is_a_staff_side_hit_on_the_members_kpi(
        memory_app: Siyu) -> None:
    memory_app.supervision.add_starter_terms("staff:m", AT)
    customer_id = message(memory_app, "MESSAGE_SENT", "转我个人账户, 便宜点")
    found = next(e for e in stored(memory_app, customer_id)
                 if isinstance(e, Customer.SensitiveWordsFound))
    assert found.side == "staff" and found.hits[0]["category"] == "private_order"
    row = alert_row(found)
    assert row is not None and row["kind"] == SENSITIVE_WORD
    entry = ledger_entry(found, 10)
    assert entry is not None and entry["kind"] == "sensitive_word_hit"


def test_starter_terms_are_added_once_and_managers_extend_them(memory_app: Siyu) -> None:
    first, _ = memory_app.supervision.add_starter_terms("staff:m", AT)
    again, position = memory_app.supervision.add_starter_terms("staff:m", AT)
    assert first and again == [] and position is None
    more, _ = memory_app.supervision.add_terms("diverted_order", ["去隔壁店买"], "staff:m", AT)
    assert [t.term for t in more] == ["去隔壁店买"]
    with pytest.raises(InvalidInput) as refused:
        memory_app.supervision.add_terms("no_such", ["x"], "staff:m", AT)
    assert refused.value.field == "category"


def test_no_starter_term_is_a_single_character() -> None:
    assert all(len(term) > 1 for terms in STARTER_TERMS.values() for term in terms)


def test_erasing_the_customer_makes_their_sealed_messages_unreadable(memory_app: Siyu) -> None:
    customer_id = message(memory_app, "MESSAGE_RECEIVED", "我家住在人民路 1 号")
    assert memory_app.customers.personal_data(customer_id)
    del memory_app.recorder.vault_keys[customer_id]  # type: ignore[attr-defined]
    assert memory_app.customers.personal_data(customer_id) == {}


def test_an_old_hit_without_a_side_reads_as_a_staff_message() -> None:
    state: dict[str, object] = {}
    Customer.SensitiveWordsFound.upcast_v1_v2(state)
    assert state == {"side": "staff"}
