"""Every filter by channel uses one rule: a channel matches itself and every channel under it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from domain.segment_rules import parse_rule
from domain.sop import FRIEND_ADDED, Trigger, check_trigger, matches
from projections.segments.evaluation import evaluate

AT = datetime(2026, 12, 1, tzinfo=UTC)


def truth(rule: dict[str, Any], row: dict[str, Any], at: datetime) -> bool:
    return evaluate(parse_rule(rule), row, at)[0]


def test_an_sop_filter_on_qr_matches_an_add_through_a_store_code() -> None:
    # Given the README's SOP filter channels: ["qr"]
    qr = check_trigger({"kind": FRIEND_ADDED, "channels": ["qr"]})
    store = check_trigger({"kind": FRIEND_ADDED, "channels": ["qr:store-shanghai-01"]})
    # Then an add through qr:store-shanghai-01 matches it, and the store's own filter
    assert matches(qr, Trigger(FRIEND_ADDED, channel="qr:store-shanghai-01"))
    assert matches(store, Trigger(FRIEND_ADDED, channel="qr:store-shanghai-01"))
    # And a broader add, or another branch, does not match a narrower filter
    assert not matches(store, Trigger(FRIEND_ADDED, channel="qr"))
    assert not matches(qr, Trigger(FRIEND_ADDED, channel="qrcode"))


def test_joined_via_qr_matches_a_customer_who_joined_through_a_store_code() -> None:
    row = {"first_channel": "mall", "staff_relations": [
        {"staff_id": "s1", "channel": "qr:store-shanghai-01"}]}
    assert truth({"joinedVia": "qr"}, row, AT) is True
    assert truth({"joinedVia": "qr:store-shanghai-01"}, row, AT) is True
    assert truth({"joinedVia": "qr:store"}, row, AT) is False
    assert truth({"joinedVia": "mall"}, {**row, "first_channel": "mall:tmall"}, AT) is True
