"""Client of WeCom's customer-group directory (客户群管理): ``groupchat/list`` and
``groupchat/get``.

* :meth:`WeComGroupChats.chats` — ``externalcontact/groupchat/list`` over every page
  (``limit`` 1,000, ``cursor`` / ``next_cursor``), for the whole visible range or, with
  ``owners``, for those owners only (``owner_filter.userid_list``, at most 100 per call: a
  longer list is asked in parts). WeCom lists a departed owner's groups only when the owner
  filter names them, and refuses an unfiltered list (errcode 81017) when the app's visible
  range holds more than 1,000 members.
* :meth:`WeComGroupChats.chat` — ``externalcontact/groupchat/get`` with ``need_name`` 0:
  members' names are personal data and never asked for. The answer keeps the group's name,
  owner, creation time, the external contacts' ids (``type`` 2) and how many corp members
  (``type`` 1) are in it — not the notice, nicknames or unionids. Errcode 40050: WeCom knows
  no such group (never one, or dismissed).

Answers are classified like the contact-way client's (:func:`adapters.contact_ways.classify`):
DONE, REFUSED (an errcode: permanent), RETRY (busy, rate limit) or UNKNOWN (no answer).
Nothing here logs a group's name or a member's id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from adapters.contact_ways import Answer, classified_call
from adapters.wecom_client import WeComSession

PATH = "/cgi-bin/externalcontact/groupchat/"
PAGE = 1000  # groupchat/list: limit 1-1000
MAX_OWNERS = 100  # owner_filter.userid_list: at most 100
NO_SUCH_CHAT = "errcode 40050"
VISIBLE_RANGE_TOO_LARGE = "errcode 81017"


@dataclass(frozen=True, slots=True)
class ListedChat:
    chat_id: str
    status: int  # the owner's follow-up state: 0 normal, 1 left, 2 inheriting, 3 inherited


@dataclass(frozen=True, slots=True)
class ChatDetail:
    chat_id: str
    name: str
    owner: str
    create_time: int  # epoch seconds
    external_userids: tuple[str, ...]  # the customers in it (type 2)
    staff: int  # corp members in it (type 1)


@dataclass(frozen=True, slots=True)
class GroupAnswer:
    answer: Answer
    reason: str  # machine-readable, no personal data


class GroupChatGateway(Protocol):
    def chats(self, owners: Sequence[str] | None = None
              ) -> tuple[GroupAnswer, list[ListedChat]]: ...

    def chat(self, chat_id: str) -> tuple[GroupAnswer, ChatDetail | None]: ...


class WeComGroupChats:
    """The group-directory client over one :class:`WeComSession` (token cached)."""

    def __init__(self, base_url: str, corp_id: str, corp_secret: str, *,
                 timeout: float = 5.0, transport: httpx.BaseTransport | None = None,
                 page: int = PAGE) -> None:
        if not 1 <= page <= PAGE:
            raise ValueError(f"page must be within 1..{PAGE}")
        self._session = WeComSession(base_url, {"corpid": corp_id, "corpsecret": corp_secret},
                                     timeout=timeout, transport=transport)
        self.corp_id = corp_id
        self._page = page

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> WeComGroupChats:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, name: str, payload: dict[str, Any]) -> tuple[GroupAnswer, Any]:
        result, body = classified_call(self._session, PATH + name, payload)
        return GroupAnswer(result.answer, result.reason), body

    def chats(self, owners: Sequence[str] | None = None
              ) -> tuple[GroupAnswer, list[ListedChat]]:
        """Every group listed (each once); ``owners``: only theirs, departed ones included."""
        parts: list[list[str] | None] = [None] if owners is None else [
            sorted(set(owners))[i:i + MAX_OWNERS] for i in range(0, len(set(owners)),
                                                                 MAX_OWNERS)]
        found: dict[str, ListedChat] = {}
        for part in parts:
            cursor = ""
            seen: set[str] = set()
            while True:
                payload: dict[str, Any] = {"status_filter": 0, "limit": self._page}
                if part is not None:
                    payload["owner_filter"] = {"userid_list": part}
                if cursor:
                    payload["cursor"] = cursor
                answer, body = self._call("list", payload)
                if answer.answer is not Answer.DONE:
                    return answer, list(found.values())
                for row in body.get("group_chat_list") or []:
                    if isinstance(row, dict) and isinstance(row.get("chat_id"), str):
                        status = row.get("status")
                        found.setdefault(row["chat_id"], ListedChat(
                            row["chat_id"], status if isinstance(status, int) else 0))
                cursor = body.get("next_cursor") or ""
                if not isinstance(cursor, str) or not cursor:
                    break
                if cursor in seen:
                    return GroupAnswer(Answer.RETRY, "list cursor repeated"), list(found.values())
                seen.add(cursor)
        return GroupAnswer(Answer.DONE, "ok"), list(found.values())

    def chat(self, chat_id: str) -> tuple[GroupAnswer, ChatDetail | None]:
        answer, body = self._call("get", {"chat_id": chat_id, "need_name": 0})
        if answer.answer is not Answer.DONE:
            return answer, None
        group = body.get("group_chat")
        owner = group.get("owner") if isinstance(group, dict) else None
        if not isinstance(group, dict) or not isinstance(owner, str) or not owner:
            return GroupAnswer(Answer.UNKNOWN, "reply without group_chat"), None
        members = [m for m in group.get("member_list") or [] if isinstance(m, dict)]
        created = group.get("create_time")
        name = group.get("name")
        return answer, ChatDetail(
            chat_id, name if isinstance(name, str) else "", owner,
            created if isinstance(created, int) and not isinstance(created, bool) else 0,
            tuple(sorted({m["userid"] for m in members
                          if m.get("type") == 2 and isinstance(m.get("userid"), str)})),
            sum(1 for m in members if m.get("type") == 1))
