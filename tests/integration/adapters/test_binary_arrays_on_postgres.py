"""Arrays built in binary form read back on the server as the values they were built from."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters import binary_arrays

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def conn(pg_server: str) -> Any:
    with psycopg.connect(pg_server, autocommit=True) as connection:
        binary_arrays.register(connection.adapters)
        yield connection


CASES: list[tuple[Callable[[Sequence[Any]], Any], str, Any]] = [
    (binary_arrays.text_array, "text", st.text(alphabet=st.characters(
        exclude_categories=["Cs"], exclude_characters="\0"))),
    (binary_arrays.text_or_null_array, "text", st.none() | st.text(
        alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\0"))),
    (binary_arrays.bytea_array, "bytea", st.binary()),
    (binary_arrays.uuid_array, "uuid", st.uuids()),
    (binary_arrays.int8_array, "int8", st.integers(-(2**63), 2**63 - 1)),
    (binary_arrays.int4_array, "int4", st.integers(-(2**31), 2**31 - 1)),
    (binary_arrays.timestamptz_array, "timestamptz", st.datetimes(
        min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=8)), ZoneInfo("Etc/UTC"),
                                   ZoneInfo("UTC"), ZoneInfo("Asia/Shanghai")]))),
    (binary_arrays.timestamptz_or_null_array, "timestamptz", st.none() | st.datetimes(
        min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1),
        timezones=st.sampled_from([UTC, ZoneInfo("Etc/UTC"), ZoneInfo("Asia/Shanghai")]))),
    (binary_arrays.bool_array, "boolean", st.booleans()),
]


def _instant(value: Any) -> Any:
    """A time as its distance from the epoch: two aware datetimes of different zones never
    compare equal when one falls in a gap or fold of its zone (PEP 495), even when both
    name the same instant (Asia/Shanghai's summer time of 1940-1991 has both)."""
    if isinstance(value, datetime):
        return value - datetime(1970, 1, 1, tzinfo=UTC)
    return value


@pytest.mark.parametrize(("build", "sql_type", "values"), CASES)
def test_an_array_built_in_binary_is_read_as_its_values(
        conn: psycopg.Connection[Any], build: Any, sql_type: str, values: Any) -> None:
    @settings(max_examples=40, deadline=None)
    @given(st.lists(values, max_size=30))
    def check(items: list[Any]) -> None:
        row = conn.execute(f"SELECT %b::{sql_type}[]", (build(items),)).fetchone()
        assert row is not None
        got = [bytes(v) if isinstance(v, memoryview) else v for v in row[0]]
        assert [_instant(v) for v in got] == [_instant(v) for v in items]

    check()


def test_an_empty_array_unnests_to_no_rows(conn: psycopg.Connection[Any]) -> None:
    row = conn.execute("SELECT count(*) FROM unnest(%b::uuid[], %b::text[])",
                       (binary_arrays.uuid_array([]), binary_arrays.text_array([]))).fetchone()
    assert row == (0,)


def test_uuids_are_stored_as_the_ids_they_are(conn: psycopg.Connection[Any]) -> None:
    ids = [UUID(int=1), UUID("12345678-1234-5678-1234-567812345678")]
    row = conn.execute("SELECT %b::uuid[]", (binary_arrays.uuid_array(ids),)).fetchone()
    assert row == (ids,)


def test_uuids_given_by_their_ints_are_the_ids_they_are(conn: psycopg.Connection[Any]) -> None:
    ids = [UUID(int=0), UUID(int=1), UUID("12345678-1234-5678-1234-567812345678"),
           UUID(int=(1 << 128) - 1)]
    row = conn.execute("SELECT %b::uuid[]", (binary_arrays.uuid_int_array([i.int for i in ids]),)
                       ).fetchone()
    assert row == (ids,)


def test_pairs_of_uuids_given_by_one_int_each_are_the_ids_they_are(
        conn: psycopg.Connection[Any]) -> None:
    # Given pairs of ids as one 256-bit int each (the high half the first id), and none
    firsts = [UUID(int=0), UUID(int=(1 << 128) - 1), UUID("12345678-1234-5678-1234-567812345678")]
    seconds = [UUID(int=(1 << 128) - 1), UUID(int=1), UUID(int=0)]
    pairs = [a.int << 128 | b.int for a, b in zip(firsts, seconds, strict=True)]
    # When they are sent as two arrays
    row = conn.execute("SELECT %b::uuid[], %b::uuid[]", binary_arrays.uuid_pair_arrays(pairs)
                       ).fetchone()
    empty = conn.execute("SELECT %b::uuid[], %b::uuid[]", binary_arrays.uuid_pair_arrays([])
                         ).fetchone()
    # Then the arrays hold the halves' ids, in order
    assert row == (firsts, seconds)
    assert empty == ([], [])


def test_a_naive_time_is_refused_rather_than_guessed() -> None:
    with pytest.raises(TypeError):
        binary_arrays.timestamptz_array([datetime(2026, 1, 1)])


def test_a_readied_connection_still_copies_lists_into_array_columns(pg_server: str) -> None:
    # Given a pooled connection the event store's writes taught their arrays
    with psycopg.connect(pg_server, autocommit=True) as connection:
        binary_arrays.ready(connection)
        connection.execute("CREATE TEMP TABLE facts (skus text[], ids uuid[], n int8[])")
        # When a read model copies rows whose array columns are lists (binary COPY)
        with connection.cursor() as curs, curs.copy(
                "COPY facts (skus, ids, n) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["text[]", "uuid[]", "int8[]"])
            copy.write_row([["a", "b"], [UUID(int=1)], [1, 2]])
        # Then the lists are stored (the arrays' dumper took over text[] for COPY once)
        assert connection.execute("SELECT skus, ids, n FROM facts").fetchall() == [
            (["a", "b"], [UUID(int=1)], [1, 2])]
        # and lists and built arrays both still bind as parameters
        row = connection.execute("SELECT %s::text[], %b::text[]", (
            ["x"], binary_arrays.text_array(["y"]))).fetchone()
        assert row == (["x"], ["y"])
