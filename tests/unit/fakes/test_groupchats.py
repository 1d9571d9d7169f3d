"""The fake's customer-group directory answers as WeCom documents ``groupchat/list`` and
``groupchat/get``: paging, the status and owner filters, departed owners listed only by name,
81017 for a large visible range, 40050 for an unknown or dismissed chat, names only on
request."""

from __future__ import annotations

from typing import Any

from fakes.groupchats import FakeGroupChats

OK = None  # a valid token


def listed(fake: FakeGroupChats, **body: Any) -> dict[str, Any]:
    status, reply = fake.list_groups(OK, {"limit": 1000, **body})
    assert status == 200
    return reply


def test_the_list_pages_with_a_cursor_and_filters_by_owner_and_status() -> None:
    # Given five groups of two owners, one of whom left the company
    fake = FakeGroupChats()
    for n in range(5):
        fake.put(f"wr{n}", "zhang" if n < 3 else "li")
    fake.owner_status("li", 1)
    # When the whole visible range is listed two at a time
    first = listed(fake, limit=2)
    second = listed(fake, limit=2, cursor=first["next_cursor"])
    # Then only the current owner's groups come, in pages, the last with no cursor
    assert [g["chat_id"] for g in first["group_chat_list"]] == ["wr0", "wr1"]
    assert [g["chat_id"] for g in second["group_chat_list"]] == ["wr2"]
    assert second["next_cursor"] == ""
    # And the departed owner's groups come only when the owner filter names them
    by_li = listed(fake, owner_filter={"userid_list": ["li"]})["group_chat_list"]
    assert by_li == [{"chat_id": "wr3", "status": 1}, {"chat_id": "wr4", "status": 1}]
    assert listed(fake, owner_filter={"userid_list": ["li", "zhang"]},
                  status_filter=1)["group_chat_list"] == by_li


def test_the_list_refuses_what_wecom_refuses() -> None:
    fake = FakeGroupChats(visible_members=1001)
    fake.put("wr1", "zhang")
    assert fake.list_groups(OK, {"limit": 10})[1]["errcode"] == 81017
    assert listed(fake, owner_filter={"userid_list": ["zhang"]})["group_chat_list"] == [
        {"chat_id": "wr1", "status": 0}]
    for bad in ({"limit": 0}, {"limit": 1001}, {}, {"limit": 5, "status_filter": 4},
                {"limit": 5, "owner_filter": {"userid_list": [f"u{n}" for n in range(101)]}},
                {"limit": 5, "cursor": "x"}):
        assert fake.list_groups(OK, bad)[1]["errcode"] == 40058, bad
    assert fake.list_groups({"errcode": 42001, "errmsg": "expired"},
                            {"limit": 5})[1]["errcode"] == 42001


def test_get_answers_the_documented_detail_and_member_names_only_when_asked() -> None:
    # Given a group with a staff member and a customer
    fake = FakeGroupChats(clock=lambda: 1_700_000_000.0)
    fake.put("wr1", "zhang", name="销售客服群", notice="文明沟通", admins=["sam"], members=[
        {"userid": "zhang", "type": 1, "name": "张三"},
        {"userid": "wmc1", "type": 2, "join_scene": 3, "name": "王五"}])
    # When its detail is read without and with names
    _, plain = fake.get_group(OK, {"chat_id": "wr1"})
    _, named = fake.get_group(OK, {"chat_id": "wr1", "need_name": 1})
    # Then it holds WeCom's fields, the members' names only on request
    group = plain["group_chat"]
    assert (group["name"], group["owner"], group["create_time"], group["notice"]) == (
        "销售客服群", "zhang", 1_700_000_000, "文明沟通")
    assert group["admin_list"] == [{"userid": "sam"}] and group["member_version"]
    assert [(m["userid"], m["type"], m["join_scene"]) for m in group["member_list"]] == [
        ("zhang", 1, 1), ("wmc1", 2, 3)]
    assert all("name" not in m for m in group["member_list"])
    assert [m["name"] for m in named["group_chat"]["member_list"]] == ["张三", "王五"]


def test_an_unknown_or_dismissed_chat_is_40050_and_leaves_the_list() -> None:
    fake = FakeGroupChats()
    fake.put("wr1", "zhang")
    fake.dismiss("wr1")
    assert fake.get_group(OK, {"chat_id": "wr1"})[1]["errcode"] == 40050
    assert fake.get_group(OK, {"chat_id": "nope"})[1]["errcode"] == 40050
    assert fake.get_group(OK, {})[1]["errcode"] == 40058
    assert listed(fake)["group_chat_list"] == []


def test_owners_are_passed_on_to_the_group_sends() -> None:
    told: dict[str, str] = {}
    fake = FakeGroupChats(owners_sink=told.update)
    fake.put("wr1", "zhang")
    fake.put("wr1", "li")  # a transfer
    assert told == {"wr1": "li"}


def test_groups_known_only_to_the_group_sends_exist_in_the_directory_too() -> None:
    # Given a group the sends know (its owner set through their control API) only
    fake = FakeGroupChats(owners_source=lambda: {"wrS": "zhang"})
    # Then WeCom lists it and answers its detail, until it is dismissed
    assert listed(fake)["group_chat_list"] == [{"chat_id": "wrS", "status": 0}]
    assert fake.get_group(OK, {"chat_id": "wrS"})[1]["group_chat"]["owner"] == "zhang"
    fake.dismiss("wrS")
    assert fake.get_group(OK, {"chat_id": "wrS"})[1]["errcode"] == 40050
