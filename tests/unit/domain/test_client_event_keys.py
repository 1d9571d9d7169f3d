"""Client event ids are deduped per source: the key names the source."""

from __future__ import annotations

import pytest

from domain.ingestion import client_event_key


def test_the_key_names_the_source_and_keeps_the_event_id_as_sent() -> None:
    assert client_event_key("service:mall", "a/b") == "client/service:mall/a/b"
    assert client_event_key("service:pos", "a/b") != client_event_key("service:mall", "a/b")


@pytest.mark.parametrize("source", ["", "service/x"], ids=["empty", "slash"])
def test_a_source_that_would_make_keys_ambiguous_is_refused(source: str) -> None:
    with pytest.raises(ValueError, match="source"):
        client_event_key(source, "1")
