"""The group-directory client against scripted WeCom answers (no network): every page, the
owner filter in parts of 100, member names never asked for, answers classified."""

from __future__ import annotations

import json
from typing import Any

import httpx

from adapters.contact_ways import Answer
from adapters.group_chats import NO_SUCH_CHAT, VISIBLE_RANGE_TOO_LARGE, WeComGroupChats

Reply = httpx.Response | Exception


class Scripted:
    """Issues tokens and answers API calls in order, keeping the requests' bodies."""

    def __init__(self, *answers: Reply) -> None:
        self.answers = list(answers)
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/cgi-bin/gettoken":
            return httpx.Response(200, json={"access_token": "tok", "expires_in": 7200})
        self.bodies.append(json.loads(request.content))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def client(self) -> WeComGroupChats:
        return WeComGroupChats("http://wecom.test", "wwcorp", "s3cret",
                               transport=httpx.MockTransport(self))


def ok(**body: Any) -> httpx.Response:
    return httpx.Response(200, json={"errcode": 0, "errmsg": "ok", **body})


def page(chats: list[str], cursor: str = "") -> httpx.Response:
    return ok(group_chat_list=[{"chat_id": c, "status": 0} for c in chats],
              next_cursor=cursor)


def test_the_list_follows_every_page_and_asks_for_owners_a_hundred_at_a_time() -> None:
    # Given 150 owners to ask about, and WeCom answering two pages for the first part
    script = Scripted(page(["wr1", "wr2"], "c1"), page(["wr3"]), page(["wr3", "wr4"]))
    owners = [f"u{n:03d}" for n in range(150)]
    # When the groups of those owners are listed
    with script.client() as client:
        answer, chats = client.chats(owners)
    # Then every page was read, each part naming at most 100 owners, each group once
    assert answer.answer is Answer.DONE
    assert [c.chat_id for c in chats] == ["wr1", "wr2", "wr3", "wr4"]
    assert [len(b["owner_filter"]["userid_list"]) for b in script.bodies] == [100, 100, 50]
    assert [b.get("cursor") for b in script.bodies] == [None, "c1", None]
    assert all(b["limit"] == 1000 and b["status_filter"] == 0 for b in script.bodies)


def test_an_unfiltered_list_refused_for_a_large_visible_range_says_so() -> None:
    script = Scripted(httpx.Response(200, json={"errcode": 81017, "errmsg": "too many"}))
    with script.client() as client:
        answer, chats = client.chats()
    assert (answer.answer, answer.reason, chats) == (Answer.REFUSED, VISIBLE_RANGE_TOO_LARGE,
                                                     [])
    assert "owner_filter" not in script.bodies[0]


def test_a_repeated_cursor_or_no_answer_is_not_taken_for_the_whole_list() -> None:
    looping = Scripted(page(["wr1"], "c1"), page(["wr2"], "c1"))
    with looping.client() as client:
        assert client.chats()[0].answer is Answer.RETRY
    lost = Scripted(httpx.ConnectError("down"))
    with lost.client() as client:
        assert client.chats()[0].answer is Answer.UNKNOWN
    busy = Scripted(httpx.Response(200, json={"errcode": -1, "errmsg": "busy"}))
    with busy.client() as client:
        assert client.chats()[0].answer is Answer.RETRY


def test_a_groups_detail_keeps_counts_and_customer_ids_never_names() -> None:
    # Given WeCom's documented detail of a group with a staff member and two customers
    script = Scripted(ok(group_chat={
        "chat_id": "wr1", "name": "销售客服群", "owner": "zhang", "create_time": 1572505490,
        "notice": "文明沟通", "member_version": "v1", "admin_list": [{"userid": "sam"}],
        "member_list": [
            {"userid": "abel", "type": 1, "join_time": 1572505491, "join_scene": 1,
             "invitor": {"userid": "jack"}, "group_nickname": "客服小张"},
            {"userid": "wm2", "type": 2, "join_time": 1572505491, "join_scene": 3},
            {"userid": "wm1", "type": 2, "join_time": 1572505492, "join_scene": 2}]}),
        httpx.Response(200, json={"errcode": 40050, "errmsg": "chatid not found"}))
    # When it is read, and then a dismissed one
    with script.client() as client:
        answer, detail = client.chat("wr1")
        gone, nothing = client.chat("wr9")
    # Then the name, owner, creation and counts come back, member names never asked for
    assert answer.answer is Answer.DONE and detail is not None
    assert (detail.name, detail.owner, detail.create_time, detail.staff) == (
        "销售客服群", "zhang", 1572505490, 1)
    assert detail.external_userids == ("wm1", "wm2")
    assert script.bodies[0] == {"chat_id": "wr1", "need_name": 0}
    # And a chat WeCom does not know is refused with its errcode
    assert (gone.answer, gone.reason, nothing) == (Answer.REFUSED, NO_SUCH_CHAT, None)
