"""The membership engine's (segment, customer) keys: one int per pair, two pairs never on
one key, and ordered as the pairs of UUIDs are (the order its writes lock rows in)."""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID, uuid4

from hypothesis import given
from hypothesis import strategies as st

from domain.segment_rules import parse_rule
from projections.segments.engine import (
    Spec,
    customer_int,
    customer_of,
    key,
    segment_of,
)

EDGES = [UUID(int=0), UUID(int=1), UUID(int=2), UUID(int=1 << 127), UUID(int=(1 << 128) - 1)]
ids = st.one_of(st.uuids(), st.sampled_from(EDGES))


@given(st.lists(st.tuples(ids, ids), max_size=40))
def test_pairs_and_keys_are_one_to_one_and_sort_alike(pairs: list[tuple[UUID, UUID]]) -> None:
    keys = [key(segment, customer) for segment, customer in pairs]
    assert len(set(keys)) == len(set(pairs))
    for (segment, customer), pair in zip(pairs, keys, strict=True):
        assert segment_of(pair) == segment.int
        assert customer_of(pair) == customer and customer_int(pair) == customer.int
    assert sorted(keys) == [key(s, c) for s, c in sorted(pairs)]


def test_a_segment_and_a_customer_swapped_are_another_pair() -> None:
    one, two = UUID(int=1), UUID(int=2)
    assert key(one, two) != key(two, one)
    assert len({key(a, b) for a in EDGES for b in EDGES}) == len(EDGES) ** 2


def test_a_spec_keys_its_customers_as_key_does_even_once_replaced() -> None:
    spec = Spec.of(uuid4(), 1, parse_rule({"isFriend": True}))
    customer = uuid4()
    assert spec.base | customer.int == key(spec.segment_id, customer)
    other = replace(spec, segment_id=uuid4())
    assert other.base | customer.int == key(other.segment_id, customer) != key(spec.segment_id,
                                                                               customer)
