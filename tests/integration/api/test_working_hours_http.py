"""Working hours over HTTP: managers set them, staff read them, bad hours are refused by
field; the staff KPIs measure response times in working time from then on."""

from __future__ import annotations

import pytest

from tests.integration.api.conftest import Api
from tests.integration.api.test_tag_groups_http import data, error

pytestmark = pytest.mark.integration

FIELDS = "alwaysOn workingMinutesPerWeek days { weekday intervals { start end } }"
SET = f"""mutation($input: SetWorkingHoursInput!) {{ setWorkingHours(input: $input) {{
  changed projected workingHours {{ {FIELDS} }} }} }}"""
GET = f"query {{ workingHours {{ {FIELDS} }} }}"
OFFICE = {"days": [{"weekday": d, "intervals": [{"start": "09:00", "end": "12:00"},
                                                {"start": "13:00", "end": "18:00"}]}
                   for d in ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY")]}


def test_until_hours_are_set_every_minute_counts(api: Api) -> None:
    hours = data(api.gql(GET, as_="staff"))["workingHours"]
    assert hours["alwaysOn"] is True
    assert hours["workingMinutesPerWeek"] == 7 * 24 * 60
    assert hours["days"][0] == {"weekday": "MONDAY",
                                "intervals": [{"start": "00:00", "end": "24:00"}]}


def test_a_manager_sets_office_hours_and_staff_read_them(api: Api) -> None:
    # When a manager sets office hours (twice: the second changes nothing)
    first = data(api.gql(SET, {"input": OFFICE}, as_="manager"))["setWorkingHours"]
    again = data(api.gql(SET, {"input": OFFICE}, as_="manager"))["setWorkingHours"]
    # Then they are in force, projected into the staff KPIs, and staff read them
    assert first["changed"] is True and first["projected"] is True
    assert again["changed"] is False
    hours = data(api.gql(GET, as_="staff"))["workingHours"]
    assert hours["alwaysOn"] is False and hours["workingMinutesPerWeek"] == 5 * 8 * 60
    assert hours["days"][5] == {"weekday": "SATURDAY", "intervals": []}
    assert hours["days"][0]["intervals"][1] == {"start": "13:00", "end": "18:00"}


def test_staff_may_not_set_hours(api: Api) -> None:
    assert error(api.gql(SET, {"input": OFFICE}, as_="staff"))["code"] == "FORBIDDEN"


@pytest.mark.parametrize(("days", "field"), [
    ([{"weekday": "MONDAY", "intervals": [{"start": "18:00", "end": "09:00"}]}],
     "days[0].intervals[0].end"),
    ([{"weekday": "SUNDAY", "intervals": []},
      {"weekday": "TUESDAY", "intervals": [{"start": "9h", "end": "12:00"}]}],
     "days[1].intervals[0].start"),
    ([{"weekday": "MONDAY", "intervals": [{"start": "09:00", "end": "12:00"},
                                          {"start": "11:00", "end": "13:00"}]}], "days[0]"),
    ([{"weekday": "MONDAY", "intervals": [{"start": "09:00", "end": "12:00"}]},
      {"weekday": "MONDAY", "intervals": []}], "days[1].weekday"),
    ([], "days"),
])
def test_bad_hours_are_refused_with_the_input_field_at_fault(
        api: Api, days: list[object], field: str) -> None:
    refused = error(api.gql(SET, {"input": {"days": days}}, as_="manager"))
    assert (refused["code"], refused.get("field")) == ("INVALID_WORKING_HOURS", field)
    assert data(api.gql(GET, as_="manager"))["workingHours"]["alwaysOn"] is True
