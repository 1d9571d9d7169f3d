"""docs/events.md names every ingestion type and every stored event class."""

from __future__ import annotations

from pathlib import Path

from domain.customer import Customer
from domain.ingestion import EVENT_TYPES
from domain.staff import Staff

DOC = (Path(__file__).resolve().parents[2] / "docs" / "events.md").read_text()


def test_every_ingestion_type_is_documented() -> None:
    missing = [t for t in EVENT_TYPES if f"`{t}`" not in DOC]
    assert missing == []


def test_every_stored_event_class_is_documented() -> None:
    classes = [
        f"{owner.__name__}.{name}"
        for owner in (Customer, Staff)
        for name, value in vars(owner).items()
        if isinstance(value, type) and issubclass(value, owner.Event)
        and name not in ("Event", "Created")
    ]
    assert len(classes) > 10
    assert [c for c in classes if f"`{c}`" not in DOC] == []
