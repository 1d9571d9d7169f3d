"""A page's decoder gives exactly the events the library's mapper gives, errors included."""

from __future__ import annotations

import gzip
import json
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import Notification

from application.app import Siyu
from projections.page_decoding import event_decoder
from tests.unit.application.test_event_encoding import FIXTURE


def _notifications() -> list[Notification]:
    with gzip.open(FIXTURE) as raw:
        rows = json.load(raw)["events"]
    return [Notification(id=r["notification_id"], originator_id=UUID(r["originator_id"]),
                         originator_version=r["originator_version"], topic=r["topic"],
                         state=r["state"].encode()) for r in rows]


def _as_compared(event: Any) -> tuple[type, list[tuple[str, Any]]]:
    return type(event), list(event.__dict__.items())  # the members in their order too


def test_every_stored_event_of_the_fixture_decodes_as_the_mapper_decodes_it(
        memory_app: Siyu) -> None:
    # Given every stored event of the fixture (old class versions among them: upcast)
    notifications = _notifications()
    assert len({n.topic for n in notifications}) > 50
    # When the page's decoder and the library's mapper decode each
    to_event = event_decoder(memory_app.mapper)
    # Then they give the same events, their members in the same order
    for n in notifications:
        assert _as_compared(to_event(n)) == _as_compared(memory_app.mapper.to_domain_event(n))


@pytest.mark.parametrize("state", [b"{", b'{"a": {"_type_": "nope", "_data_": 1}}', b"[1]"])
def test_a_state_that_cannot_be_decoded_raises_the_mapper_s_error(
        memory_app: Siyu, state: bytes) -> None:
    # Given a stored event whose state cannot be decoded
    n = _notifications()[0]
    broken = Notification(id=n.id, originator_id=n.originator_id,
                          originator_version=n.originator_version, topic=n.topic, state=state)
    # When the page's decoder and the mapper decode it
    errors = []
    for decode in (event_decoder(memory_app.mapper), memory_app.mapper.to_domain_event):
        with pytest.raises(Exception) as raised:
            decode(broken)
        errors.append((type(raised.value), str(raised.value)))
    # Then both raise the same error
    assert errors[0] == errors[1]
