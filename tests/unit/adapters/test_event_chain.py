"""The hash chain's links, without a database: what each link covers."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from adapters.event_chain import GENESIS, Record, link_hash, links

STREAM = UUID("0a6f0000-0000-4000-8000-000000000001")
RECORD = (GENESIS, 0, 1, STREAM, 1, "domain.customer:Customer.Registered", b'{"by":"system"}')


@pytest.mark.parametrize("field", range(len(RECORD)))
def test_a_link_changes_with_any_field_of_the_record_or_the_link_before(field: int) -> None:
    changed: list[Any] = list(RECORD)
    value = changed[field]
    if isinstance(value, bytes):
        changed[field] = value[:-1] + bytes([value[-1] ^ 1])
    elif isinstance(value, int):
        changed[field] = value + 1
    elif isinstance(value, UUID):
        changed[field] = UUID(int=value.int ^ 1)
    else:
        changed[field] = f"{value}x"
    assert link_hash(*changed) != link_hash(*RECORD)


def test_fields_cannot_be_shifted_from_one_to_the_next() -> None:
    # the topic's last byte moved into the state: every field is length-prefixed
    a = link_hash(GENESIS, 0, 1, STREAM, 1, "topic.ab", b"state")
    b = link_hash(GENESIS, 0, 1, STREAM, 1, "topic.a", b"bstate")
    assert a != b


def test_links_follow_each_other_in_position_order() -> None:
    records = [Record(n, STREAM, n, "t", b"s%d" % n) for n in (3, 4, 9)]
    ids, previous, hashes = links(records, 1, b"\x01" * 32)
    assert (ids, previous) == ([3, 4, 9], [1, 3, 4])
    assert hashes[0] == link_hash(b"\x01" * 32, 1, 3, STREAM, 3, "t", b"s3")
    assert hashes[2] == link_hash(hashes[1], 4, 9, STREAM, 9, "t", b"s9")
