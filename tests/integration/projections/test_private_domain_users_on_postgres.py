"""The manager view ``private_domain_users``: customers now in each part of the private
domain, personal-WeChat friends included, equal to a count of what was recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.rows import dict_row

from application.app import Siyu
from domain.ingestion import EventItem
from projections.postgres_views import CustomerProfileView
from projections.runner import BatchRunner, Tracker
from projections.staff_performance import StaffPerformanceView

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 20, 2, tzinfo=UTC)


def test_private_domain_users_count_each_channel_and_personal_wechat_friends(
        pg_app: Siyu, pg_url: str) -> None:
    # Given customers in the mini-program, a group, WeCom, personal WeChat, and one who left it
    items = [
        EventItem("a1", "REGISTERED", ("wx_openid:wxapp", "o-a"), T0, channel="mini_program"),
        EventItem("b1", "GROUP_JOINED", ("wx_unionid", "u-b"), T0, group_id="g1"),
        EventItem("c1", "FRIEND_ADDED", ("wx_unionid", "u-c"), T0, staff_id="wecom_user:s1"),
        EventItem("d1", "PERSONAL_WECHAT_FRIEND_ADDED", ("wx_unionid", "u-d"), T0,
                  staff_id="wecom_user:s1"),
        EventItem("d2", "PERSONAL_WECHAT_FRIEND_ADDED", ("wx_unionid", "u-d"),
                  T0 + timedelta(minutes=1), staff_id="wecom_user:s2"),
        EventItem("e1", "PERSONAL_WECHAT_FRIEND_ADDED", ("wx_unionid", "u-e"), T0,
                  staff_id="wecom_user:s2"),
        EventItem("e2", "PERSONAL_WECHAT_FRIEND_DELETED", ("wx_unionid", "u-e"),
                  T0 + timedelta(hours=1), staff_id="wecom_user:s2"),
    ]
    result = pg_app.ingestion.record_batch(items, "service:test")
    assert result.count("accepted") == len(items)
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    BatchRunner(pg_app, CustomerProfileView(), tracker).catch_up()
    BatchRunner(pg_app, StaffPerformanceView(), tracker)  # creates the view
    # Then each part counts its customers, and the total counts each customer once
    with psycopg.connect(pg_url, row_factory=dict_row) as conn:
        users = conn.execute("SELECT * FROM private_domain_users").fetchone()
        staff = conn.execute("SELECT personal_wechat_staff_ids FROM customer_profile "
                             "WHERE cardinality(personal_wechat_staff_ids) > 0").fetchall()
    assert users == {"mini_program": 1, "groups": 1, "members": 0, "wecom_friends": 1,
                     "personal_wechat": 1, "total": 4}
    assert [sorted(r["personal_wechat_staff_ids"]) for r in staff] == [["wecom_user:s1", "wecom_user:s2"]]


def test_a_personal_wechat_friend_add_needs_a_staff_member(pg_app: Siyu) -> None:
    result = pg_app.ingestion.record_batch([EventItem("x1", "PERSONAL_WECHAT_FRIEND_ADDED",
                                            ("wx_unionid", "u-x"), T0)], "service:test")
    outcome = result.outcomes[0]
    assert outcome.status == "rejected" and outcome.error is not None
    assert outcome.error.field == "staffId"
