"""The event catalogue: docs/events.md is generated from the code and says what the code does."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from domain.catalogue import TYPES, event_classes, example, render
from domain.errors import DomainError
from domain.ingestion import EVENT_TYPES, EventItem, OrderItem, parse_item
from domain.staff import Staff

DOC = Path(__file__).resolve().parents[3] / "docs" / "events.md"
NOW = datetime(2026, 11, 21, tzinfo=UTC)


def item_from_example(data: dict[str, Any]) -> EventItem:
    """The example, as the GraphQL layer would hand it to the domain."""
    fields: dict[str, Any] = {}
    for key, value in data.items():
        snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in key)
        fields[snake] = value
    for name in ("link", "inviter"):
        if isinstance(fields.get(name), dict):
            fields[name] = (fields[name]["namespace"], fields[name]["value"])
    fields["items"] = [OrderItem(i["sku"], i["quantity"], i["priceFen"])
                       for i in fields.get("items", [])]
    customer = fields.pop("customer")
    return EventItem(identity=(customer["namespace"], customer["value"]),
                     occurred_at=datetime.fromisoformat(fields.pop("occurred_at")), **fields)


def test_docs_events_md_is_generated_from_the_code() -> None:
    assert DOC.read_text() == render(), "run: python -m domain.catalogue > docs/events.md"


def test_every_ingestion_type_is_described() -> None:
    assert sorted(TYPES) == sorted(EVENT_TYPES)


def test_every_event_class_is_listed() -> None:
    classes = event_classes()
    assert Staff.Hired in classes and len(classes) > 40


@pytest.mark.parametrize("kind", EVENT_TYPES)
def test_each_documented_example_is_accepted(kind: str) -> None:
    parse_item(item_from_example(example(kind)), NOW)


@pytest.mark.parametrize(("kind", "field"), [(k, f) for k in EVENT_TYPES for f in TYPES[k].required])
def test_each_documented_required_field_is_required(kind: str, field: str) -> None:
    item = replace(item_from_example(example(kind)), **{field: None})  # type: ignore[arg-type]
    with pytest.raises(DomainError) as refused:
        parse_item(item, NOW)
    assert refused.value.field is not None
    assert refused.value.field.split(".")[0].replace("_", "").lower() == field.replace("_", "")
