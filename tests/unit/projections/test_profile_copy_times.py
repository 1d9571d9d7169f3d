"""The profile's COPY text of a time (projections.customer_profile.copy_rows) names the
instant ``isoformat`` names, whatever the zone: formatted from its fields when UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from projections.customer_profile.copy_rows import _iso, _numbers, _time

TIMES = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31),
                     timezones=st.sampled_from([UTC, timezone(timedelta(hours=8))]))


@given(TIMES)
def test_a_time_s_text_reads_back_as_the_same_instant_in_the_same_zone(value: datetime) -> None:
    # Given a time, When written as COPY text
    text = _iso(value)
    # Then it reads back as the time itself, with its offset
    back = datetime.fromisoformat(text)
    assert back == value
    assert back.utcoffset() == value.utcoffset()


def test_a_utc_time_always_carries_its_microseconds() -> None:
    # Given a UTC time on a whole second, When written (as a column, in an array)
    value = datetime(2026, 12, 8, 9, 30, tzinfo=UTC)
    # Then its fields are written out, as PostgreSQL's text input reads them
    assert _time(value) == "2026-12-08T09:30:00.000000+00:00"
    assert _numbers([value, value]) == ("{2026-12-08T09:30:00.000000+00:00,"
                                        "2026-12-08T09:30:00.000000+00:00}")
