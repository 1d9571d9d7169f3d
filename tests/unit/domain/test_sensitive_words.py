"""Sensitive words: the lexicon, the matcher, and messages scanned at ingestion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from application.app import Siyu
from domain.customer import Customer
from domain.errors import InvalidInput, UnknownTerm
from domain.ingestion import EventItem
from domain.lexicon import LEXICON_ID
from domain.wordmatch import Matcher, fold

AT = datetime(2026, 11, 20, 2, tzinfo=UTC)
STAFF = "5f904020-9939-4c13-bb15-b374ca2d40c1"


def sent(app: Siyu, text: str | None, n: int = 1, external: str = "wmA"
         ) -> UUID:
    result = app.ingestion.record_batch([EventItem(
        event_id=f"msg-{external}-{n}", type="MESSAGE_SENT",
        identity=("wecom_external:ww7788", external), occurred_at=AT + timedelta(minutes=n),
        staff_id=STAFF, message_kind="text", text=text)], "service:test")
    outcome = result.outcomes[0]
    assert outcome.status == "accepted", outcome
    assert outcome.customer_id is not None
    return outcome.customer_id


def events(app: Siyu, customer_id: UUID) -> list[object]:
    return list(app.repository.event_store.get(customer_id))


def test_the_matcher_finds_every_term_once_whatever_the_overlaps() -> None:
    matcher = Matcher([("a", "he"), ("b", "she"), ("c", "his"), ("d", "hers"), ("e", "私单")])
    assert matcher.find("ushers") == ["b", "a", "d"]
    assert matcher.find("接私 单吗") == ["e"]
    assert matcher.find("quiet") == []


def test_folding_ignores_width_case_spaces_and_separators() -> None:
    assert fold("\uff37\uff38: Abc-1 2") == "wx:abc12"


def test_a_message_without_a_hit_stores_only_kind_and_length(
        memory_app: Siyu) -> None:
    # Given a lexicon with a private-order term
    memory_app.supervision.add_terms("private_order", ["私单"], "staff:m", AT)
    # When a staff message without it is recorded
    customer_id = sent(memory_app, "您好, 订单已发货")
    # Then the event holds its length, no hit is recorded and nothing is sealed
    recorded = events(memory_app, customer_id)
    message = next(e for e in recorded if isinstance(e, Customer.MessageSent))
    assert message.text_length == 9
    assert not [e for e in recorded if isinstance(e, Customer.SensitiveWordsFound)]
    assert memory_app.customers.personal_data(customer_id).get("message:3") is None
    assert not any("订单" in str(vars(e)) for e in recorded)


def test_a_hit_records_the_terms_and_seals_the_text_for_review(
        memory_app: Siyu) -> None:
    # Given terms in two categories
    added, _ = memory_app.supervision.add_terms("private_order", ["私单", "加我微信"], "staff:m", AT)
    memory_app.supervision.add_terms("abuse", ["滚"], "staff:m", AT)
    # When a message hits two of them (with a dodge: a space inside the term)
    customer_id = sent(memory_app, "走私 单吧, 加我微信")
    # Then a SensitiveWordsFound names the terms, and the vault holds the text
    found = [e for e in events(memory_app, customer_id)
             if isinstance(e, Customer.SensitiveWordsFound)]
    assert len(found) == 1
    hit = found[0]
    assert [h["term_id"] for h in hit.hits] == [t.term_id for t in added]
    assert {h["category"] for h in hit.hits} == {"private_order"}
    assert hit.staff_id == STAFF and hit.message_ref == "message:3"
    assert "走" not in str(vars(hit))
    assert memory_app.customers.personal_data(customer_id)[hit.message_ref] == "走私 单吧, 加我微信"


def test_erasing_the_customers_key_makes_the_sealed_message_unreadable(
        memory_app: Siyu) -> None:
    memory_app.supervision.add_terms("diverted_order", ["飞单"], "staff:m", AT)
    customer_id = sent(memory_app, "这单走飞单")
    # When the customer's key is erased
    del memory_app.recorder.vault_keys[customer_id]  # type: ignore[attr-defined]
    # Then the text cannot be read any more; the hit (term ids only) stays in the history
    assert memory_app.customers.personal_data(customer_id) == {}
    assert any(isinstance(e, Customer.SensitiveWordsFound) for e in events(memory_app,
                                                                          customer_id))


def test_a_lexicon_change_applies_to_the_next_batch(memory_app: Siyu) -> None:
    memory_app.supervision.add_terms("abuse", ["笨蛋"], "staff:m", AT)
    first = sent(memory_app, "你这个傻瓜", 1, "wmB")
    memory_app.supervision.add_terms("abuse", ["傻瓜"], "staff:m", AT)
    second = sent(memory_app, "你这个傻瓜", 2, "wmC")
    found = [[e for e in events(memory_app, c) if isinstance(e, Customer.SensitiveWordsFound)]
             for c in (first, second)]
    assert [len(f) for f in found] == [0, 1]
    assert found[1][0].lexicon_version == 3


def test_the_lexicon_is_versioned_and_refuses_what_it_cannot_hold(
        memory_app: Siyu) -> None:
    assert memory_app.supervision.define_category("competitor", "竞品", "staff:m", AT)
    added, _ = memory_app.supervision.add_terms("competitor", ["某宝", "某 宝"], "staff:m", AT)
    assert [t.term for t in added] == ["某宝"]  # the second folds to the same term
    memory_app.supervision.remove_term(added[0].term_id, "staff:m", AT)
    lexicon = memory_app.supervision.lexicon()
    assert lexicon is not None and lexicon.id == LEXICON_ID
    assert lexicon.version == 4 and lexicon.terms == {}
    assert lexicon.categories["competitor"] == "竞品"
    with pytest.raises(InvalidInput):
        memory_app.supervision.add_terms("nope", ["x"], "staff:m", AT)
    with pytest.raises(InvalidInput):
        memory_app.supervision.define_category("Bad Code", "x", "staff:m", AT)
    with pytest.raises(UnknownTerm):
        memory_app.supervision.remove_term("t99", "staff:m", AT)


def test_message_text_is_bounded(memory_app: Siyu) -> None:
    result = memory_app.ingestion.record_batch([EventItem(
        event_id="long", type="MESSAGE_SENT", identity=("wecom_external:ww7788", "wmZ"),
        occurred_at=AT, staff_id=STAFF, message_kind="text", text="x" * 5000)], "service:t")
    error = result.outcomes[0].error
    assert error is not None and error.field == "text"


def test_folding_drops_every_kind_of_white_space_as_the_plain_definition_does() -> None:
    import random
    import unicodedata

    from domain.wordmatch import SEPARATORS

    def plain(text: str) -> str:
        normal = unicodedata.normalize("NFKC", text).casefold()
        return "".join(c for c in normal if not c.isspace() and c not in SEPARATORS)

    rng = random.Random(7)
    alphabet = [chr(i) for i in range(0x20, 0x3100)] + list("私单\u3000\u2028\u00a0\x1c\x85")
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(24)))
        assert fold(text) == plain(text), repr(text)
