"""The fake's customer-group directory over HTTP: its control API puts and dismisses groups,
WeCom's routes answer them with a token, and the group sends learn each group's owner."""

from __future__ import annotations

import httpx
import pytest

from adapters.contact_ways import Answer
from adapters.group_chats import NO_SUCH_CHAT, WeComGroupChats
from fakes.wecom import FAKE_CORP_ID, FAKE_CORP_SECRET, RunningFakeWeCom

pytestmark = pytest.mark.integration


def test_groups_put_over_the_control_api_are_listed_read_and_dismissed(
        fake_wecom: RunningFakeWeCom) -> None:
    # Given a group put through the control API, with a customer in it
    with httpx.Client(base_url=fake_wecom.url) as http:
        put = http.post("/fake/groupchats/groups", json={
            "chat_id": "wrH", "owner": "zhang", "name": "门店群",
            "members": [{"userid": "wm1", "type": 2}]})
        assert put.status_code == 200
        assert http.post("/fake/groupchats/groups", json={"owner": "x"}).status_code == 400
        # Then WeCom's routes list and read it, and only its owner may send into it
        with WeComGroupChats(fake_wecom.url, FAKE_CORP_ID, FAKE_CORP_SECRET) as client:
            answer, chats = client.chats()
            assert answer.answer is Answer.DONE and [c.chat_id for c in chats] == ["wrH"]
            _, detail = client.chat("wrH")
            assert detail is not None and (detail.name, detail.external_userids) == (
                "门店群", ("wm1",))
            assert fake_wecom.state.campaigns.group_owners["wrH"] == "zhang"
            # When it is dismissed
            assert http.post("/fake/groupchats/dismiss",
                             json={"chat_id": "wrH"}).status_code == 200
            assert http.post("/fake/groupchats/dismiss",
                             json={"chat_id": "nope"}).status_code == 404
            # Then WeCom no longer knows it
            assert client.chat("wrH")[0].reason == NO_SUCH_CHAT
            assert client.chats()[1] == []
        # And an unknown token is refused as WeCom refuses it
        reply = http.post("/cgi-bin/externalcontact/groupchat/list",
                          params={"access_token": "bad"}, json={"limit": 10}).json()
        assert reply["errcode"] == 40014
