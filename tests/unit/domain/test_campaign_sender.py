"""Which WeCom UserID a mass send goes out under, for each kind of planned sender."""

from __future__ import annotations

from domain.campaign import sender_user_id, staff_senders

STAFF = "0a6f0000-0000-4000-8000-000000000001"
NO_USERID = "0a6f0000-0000-4000-8000-000000000002"


def test_a_staff_member_sends_under_the_userid_of_their_staff_record() -> None:
    directory = {STAFF: "zhangsan"}
    assert staff_senders([STAFF, NO_USERID, "wecom_user:lisi", "wangwu"]) == [STAFF, NO_USERID]
    assert sender_user_id(STAFF, directory) == "zhangsan"
    assert sender_user_id(NO_USERID, directory) is None  # fails NO_SENDER_USERID


def test_a_member_without_a_staff_record_or_an_ingested_userid_is_the_userid_itself() -> None:
    assert sender_user_id("wecom_user:lisi", {}) == "lisi"
    assert sender_user_id("wangwu", {}) == "wangwu"
    assert sender_user_id("wecom_user:", {}) is None
