"""Channel codes: members are current staff (by WeCom UserID); a friend add through a
code's state is recorded on the code's channel; WeCom's answers are recorded once."""

from __future__ import annotations

from datetime import datetime
from uuid import uuid4

import pytest

from application.app import Siyu
from domain.channel_code import ChannelCode, ChannelCodeDeleted, NotAMember, UnknownChannelCode
from domain.customer import Customer
from domain.errors import InvalidInput
from domain.ingestion import EventItem


def hire(app: Siyu, user_id: str, now: datetime) -> str:
    return str(app.staff.hire("sales", "front_office", "张三", "system", now, wecom_user_id=user_id))


def test_a_friend_add_through_a_codes_state_is_on_the_codes_channel(
        memory_app: Siyu, now: datetime) -> None:
    # Given a code of channel qr:store-shanghai-01 served by zhangsan
    staff = hire(memory_app, "zhangsan", now)
    code_id, _ = memory_app.channel_codes.create(
        "上海一店", "qr:store-shanghai-01", {"zhangsan": staff}, "欢迎光临", ["门店"], True,
        "staff:manager", now)
    code = memory_app.channel_codes.get(code_id)
    assert code.wecom_work == "add" and len(code.state) <= 30
    # When WeCom calls back an add through its state (the callback says channel "wecom")
    result = memory_app.ingestion.record_batch([
        EventItem("cb-1", "FRIEND_ADDED", ("wecom_external:ww1", "wmabc"), now,
                  channel="wecom", staff_id=staff, state=code.state, welcome_code="WC")],
        "service:wecom")
    # Then the customer joined through the code's channel, and the add names the code
    customer_id = result.outcomes[0].customer_id
    assert customer_id is not None
    customer: Customer = memory_app.repository.get(customer_id)
    assert customer.first_channel == "qr:store-shanghai-01"
    added = [e for e in memory_app.events.get(customer_id)
             if isinstance(e, Customer.FriendAdded)]
    assert [(e.channel, e.state) for e in added] == [("qr:store-shanghai-01", code.state)]
    assert ChannelCode.create_id(added[0].state or "") == code_id


def test_a_state_that_names_no_code_keeps_the_reported_channel(
        memory_app: Siyu, now: datetime) -> None:
    result = memory_app.ingestion.record_batch([
        EventItem("cb-2", "FRIEND_ADDED", ("wecom_external:ww1", "wmdef"), now,
                  channel="wecom", staff_id="wecom_user:s1", state="cc" + "0" * 24)], "service:wecom")
    customer_id = result.outcomes[0].customer_id
    assert customer_id is not None
    customer: Customer = memory_app.repository.get(customer_id)
    assert customer.first_channel == "wecom"


def test_members_must_be_current_staff_with_that_wecom_user_id(
        memory_app: Siyu, now: datetime) -> None:
    staff = hire(memory_app, "lisi", now)
    with pytest.raises(NotAMember) as refused:
        memory_app.channel_codes.create("x", "qr", {"wangwu": staff}, None, [], False,
                                        "staff:m", now)
    assert (refused.value.code, refused.value.field) == ("NOT_A_MEMBER", "userIds")
    with pytest.raises(NotAMember):
        memory_app.channel_codes.create("x", "qr", {"lisi": str(uuid4())}, None, [], False,
                                        "staff:m", now)
    with pytest.raises(InvalidInput):
        memory_app.channel_codes.create("x", "QR code", {"lisi": staff}, None, [], False,
                                        "staff:m", now)
    with pytest.raises(UnknownChannelCode):
        memory_app.channel_codes.delete(uuid4(), "staff:m", now)


def test_changes_and_wecoms_answers_say_what_wecom_must_still_be_told(
        memory_app: Siyu, now: datetime) -> None:
    staff = hire(memory_app, "zhaoliu", now)
    code_id, _ = memory_app.channel_codes.create("直播", "live", {"zhaoliu": staff}, None,
                                                 [], False, "staff:m", now)
    codes = memory_app.channel_codes
    codes.record_registered(code_id, "cfg-1", "https://qr/1", 0, now)
    assert codes.get(code_id).wecom_work is None
    # A change of text alone is a new revision WeCom must be told about (skip_verify etc.)
    assert codes.change(code_id, None, None, "你好", None, None, "staff:m", now) is not None
    assert codes.change(code_id, None, None, "你好", None, None, "staff:m", now) is None
    assert codes.get(code_id).wecom_work == "update"
    codes.record_updated(code_id, 1, now)
    codes.record_updated(code_id, 1, now)  # a repeated answer records nothing
    assert codes.get(code_id).wecom_work is None
    codes.delete(code_id, "staff:m", now)
    assert codes.get(code_id).wecom_work == "delete"
    with pytest.raises(ChannelCodeDeleted):
        codes.change(code_id, "x", None, None, None, None, "staff:m", now)
    codes.record_removed(code_id, now)
    assert codes.get(code_id).wecom_work is None
    kinds = [type(e).__name__ for e in memory_app.events.get(code_id)]
    assert kinds == ["Created", "Registered", "Changed", "WeComUpdated", "Deleted",
                     "WeComRemoved"]
