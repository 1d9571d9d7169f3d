"""The event log refuses text that no read model could hold, whoever builds the event."""

from __future__ import annotations

import dataclasses
from uuid import uuid4

import pytest
from eventsourcing.persistence import StoredEvent

from domain.storable import StorableTranscoder, UnstorableText, stored_event


def test_a_nul_anywhere_in_an_event_is_refused_before_it_is_stored() -> None:
    transcoder = StorableTranscoder()
    with pytest.raises(UnstorableText) as refused:
        transcoder.encode({"body": "亲\x00", "by": "staff:1"})
    assert refused.value.code == "INVALID_INPUT"
    with pytest.raises(UnstorableText):
        transcoder.encode({"nested": [{"k": "\x00"}]})


def test_a_lone_surrogate_is_refused_as_input_not_a_crash() -> None:
    with pytest.raises(UnstorableText):
        StorableTranscoder().encode({"title": "\ud800"})


def test_an_escaped_backslash_before_u0000_is_ordinary_text() -> None:
    transcoder = StorableTranscoder()
    for text in ("\\u0000", "a\\\\u0000", "😀\t\n"):
        assert transcoder.decode(transcoder.encode({"t": text})) == {"t": text}
    with pytest.raises(UnstorableText):
        transcoder.encode({"t": "\\\x00"})


def test_a_stored_event_made_the_short_way_is_the_librarys_record() -> None:
    # Given the fields of a record
    stream = uuid4()
    # When it is made without the dataclass's constructor
    made = stored_event(stream, 7, "domain.customer:Customer.Tagged", b"{}")
    # Then it equals the library's, field for field, and stays frozen
    assert made == StoredEvent(originator_id=stream, originator_version=7,
                               topic="domain.customer:Customer.Tagged", state=b"{}")
    assert type(made) is StoredEvent
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.topic = "x"  # type: ignore[misc]
