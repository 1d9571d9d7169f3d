"""Execution facts: moments posts on the staff member, greetings and follow-ups on customers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from application.app import Siyu
from domain.customer import Customer
from domain.errors import StaffAlreadyLeft
from domain.ingestion import EventItem
from domain.staff import Staff

AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_a_moments_post_delivered_twice_is_recorded_once(memory_app: Siyu) -> None:
    # Given a salesperson
    staff_id = memory_app.staff.hire("sales", "front_office", "王芳", "staff:m", AT)
    # When the same post is reported twice
    first = memory_app.staff.record_moment_posted(staff_id, "moment-1", "service:wecom", AT)
    again = memory_app.staff.record_moment_posted(staff_id, "moment-1", "service:wecom", AT)
    # Then one MomentPosted is stored
    events = list(memory_app.repository.event_store.get(staff_id))
    assert (first, again) == (True, False)
    assert [type(e) for e in events].count(Staff.MomentPosted) == 1


def test_a_member_who_left_cannot_post_moments(memory_app: Siyu) -> None:
    staff_id = memory_app.staff.hire("sales", "front_office", "王芳", "staff:m", AT)
    memory_app.staff.leave(staff_id, "staff:m", AT)
    with pytest.raises(StaffAlreadyLeft):
        memory_app.staff.record_moment_posted(staff_id, "moment-1", "service:wecom", AT)


def test_greetings_and_follow_ups_are_customer_facts_with_the_staff_member(
        memory_app: Siyu) -> None:
    # When a greeting and a follow-up are ingested
    items = [EventItem("g-1", "HOLIDAY_GREETING_SENT", ("wx_unionid", "u1"), AT, staff_id="s1",
                       occasion="spring_festival"),
             EventItem("f-1", "FOLLOW_UP_RECORDED", ("wx_unionid", "u1"), AT, staff_id="s1",
                       follow_up_kind="call")]
    result = memory_app.ingestion.record_batch(items, "service:wecom")
    # Then both are stored on the customer, saying who and what
    customer_id = result.outcomes[0].customer_id
    assert customer_id is not None
    events = list(memory_app.repository.event_store.get(customer_id))
    greeting = next(e for e in events if isinstance(e, Customer.HolidayGreetingSent))
    follow_up = next(e for e in events if isinstance(e, Customer.FollowUpRecorded))
    assert (greeting.staff_id, greeting.occasion) == ("s1", "spring_festival")
    assert (follow_up.staff_id, follow_up.follow_up_kind) == ("s1", "call")
