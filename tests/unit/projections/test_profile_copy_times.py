"""The profile's COPY text of a time (projections.customer_profile.copy_rows): a time column
is staged as its microseconds since 2000-01-01 UTC, the same instant whatever the zone; a
time in an array names the instant ``isoformat`` names, formatted from its fields when UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.customer_profile.copy_rows import _encoder, _iso, _numbers

TIMES = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31),
                     timezones=st.sampled_from([UTC, timezone(timedelta(hours=8))]))
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
staged_time = _encoder("timestamp with time zone")


@given(TIMES)
def test_a_time_s_text_reads_back_as_the_same_instant_in_the_same_zone(value: datetime) -> None:
    # Given a time, When written as COPY text
    text = _iso(value)
    # Then it reads back as the time itself, with its offset
    back = datetime.fromisoformat(text)
    assert back == value
    assert back.utcoffset() == value.utcoffset()


@given(TIMES)
def test_a_time_column_is_staged_as_its_microseconds_since_2000(value: datetime) -> None:
    # Given a time in any zone, When staged as a column
    text = staged_time(value)
    # Then it is a whole number of microseconds from 2000-01-01 UTC to its instant
    assert PG_EPOCH + timedelta(microseconds=int(text)) == value
    assert staged_time(value.isoformat()) == text  # a row read back from JSON


def test_a_staged_time_is_exact_to_the_microsecond_and_refuses_a_naive_time() -> None:
    assert staged_time(datetime(2026, 12, 8, 9, 30, 0, 1, tzinfo=UTC)) == "850037400000001"
    assert staged_time(datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)) == "-1"
    with pytest.raises(TypeError):
        staged_time(datetime(2026, 12, 8, 9, 30))


def test_a_utc_time_in_an_array_always_carries_its_microseconds() -> None:
    # Given a UTC time on a whole second, When written in an array
    value = datetime(2026, 12, 8, 9, 30, tzinfo=UTC)
    # Then its fields are written out, as PostgreSQL's text input reads them
    assert _numbers([value, value]) == ("{2026-12-08T09:30:00.000000+00:00,"
                                        "2026-12-08T09:30:00.000000+00:00}")
