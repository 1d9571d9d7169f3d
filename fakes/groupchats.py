"""The fake's customer-group directory (客户群管理), as WeCom documents it.

* ``POST /cgi-bin/externalcontact/groupchat/list``: ``status_filter`` (0 all — the
  default —, 1 owner left, 2 inheritance under way, 3 inherited), ``owner_filter.userid_list``
  (at most 100 UserIDs), ``cursor`` (from the last page), ``limit`` (1-1000, required).
  Answers ``group_chat_list`` of ``chat_id`` and ``status`` (the owner's follow-up state: 0
  normal, 1 left, 2 inheriting, 3 inherited) and ``next_cursor`` (empty on the last page).
  Without ``owner_filter`` WeCom lists the groups of every owner in the app's visible range
  — errcode 81017 when that range holds more than 1,000 members (``visible_members``) — and
  never those of an owner who left (status 1-3): *when the owner is a departed member, the
  owner filter must name them*. Dismissed groups are not listed.
* ``POST /cgi-bin/externalcontact/groupchat/get``: ``chat_id``, ``need_name`` (1: members'
  ``name``; default 0). Answers ``group_chat`` with ``chat_id``, ``name``, ``owner``,
  ``create_time``, ``notice``, ``member_list`` (``userid``, ``type`` 1 corp member / 2
  external contact, ``join_time``, ``join_scene`` 1 invited directly / 2 by link / 3 by the
  group's QR code, ``invitor`` when someone invited them, ``group_nickname``; ``name`` only
  with ``need_name``), ``admin_list`` and ``member_version``. A chat id WeCom does not know —
  never a group, or dismissed — is errcode 40050; a missing one 40058.
* Both check the access token (40014 / 42001) and take injected faults (``busy`` → -1,
  ``http_503``, ``rate_limit`` → 45009).

Control (Python, and ``/fake/groupchats/…`` over HTTP): :meth:`FakeGroupChats.put` creates or
changes a group (owner, name, members); :meth:`~FakeGroupChats.dismiss`;
:meth:`~FakeGroupChats.owner_status` marks an owner departed (1), inheriting (2) or
inherited (3). Owners are passed on to the group sends (``owners_sink``): WeCom lets only a
group's owner send into it; and the groups the group sends know (``owners_source``: their
owners set through ``/fake/campaigns/group_owners``) exist here too, without name or members.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

Answer = tuple[int, dict[str, Any]]
MAX_LIMIT = 1000
MAX_OWNERS = 100
VISIBLE_RANGE_LIMIT = 1000
FAULTS: dict[str, Answer] = {"busy": (200, {"errcode": -1, "errmsg": "system busy"}),
          "http_503": (503, {"error": "service unavailable"}),
          "rate_limit": (200, {"errcode": 45009, "errmsg": "api freq out of limit"})}


def _error(code: int, message: str) -> Answer:
    return 200, {"errcode": code, "errmsg": message}


@dataclass
class FakeGroup:
    chat_id: str
    owner: str
    name: str = ""
    create_time: int = 0
    notice: str = ""
    #: {"userid", "type", "join_time", "join_scene", "invitor"?, "group_nickname", "name"}
    members: list[dict[str, Any]] = field(default_factory=list)
    admins: list[str] = field(default_factory=list)
    dismissed: bool = False


@dataclass
class FakeGroupChats:
    """The groups WeCom knows; thread-safe."""

    visible_members: int = 0  # members in the app's visible range (81017 beyond 1,000)
    clock: Callable[[], float] = time.time
    owners_sink: Callable[[dict[str, str]], None] | None = None
    #: Groups the rest of the fake knows (the group sends' owners, set through their control
    #: API): WeCom has one set of groups, so they exist here too (no name, no members).
    owners_source: Callable[[], dict[str, str]] | None = None
    calls: dict[str, int] = field(default_factory=dict)
    _groups: dict[str, FakeGroup] = field(default_factory=dict)
    _owner_status: dict[str, int] = field(default_factory=dict)
    _faults: deque[str] = field(default_factory=deque)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # -- control -------------------------------------------------------------------------
    def put(self, chat_id: str, owner: str, *, name: str | None = None,
            members: Sequence[dict[str, Any]] | None = None, notice: str | None = None,
            admins: Sequence[str] | None = None) -> FakeGroup:
        """Create the group (created now) or change it: a new owner is a transfer."""
        if not chat_id or not owner:
            raise ValueError("chat_id and owner are required")
        for member in members or ():
            if not isinstance(member.get("userid"), str) or member.get("type") not in (1, 2):
                raise ValueError("each member needs a userid and a type (1 or 2)")
        with self._lock:
            group = self._groups.get(chat_id)
            if group is None or group.dismissed:
                group = self._groups[chat_id] = FakeGroup(chat_id, owner,
                                                          create_time=int(self.clock()))
            group.owner = owner
            if name is not None:
                group.name = name
            if notice is not None:
                group.notice = notice
            if admins is not None:
                group.admins = list(admins)
            if members is not None:
                now = int(self.clock())
                group.members = [{"join_time": now, "join_scene": 1, "group_nickname": "",
                                  "name": "", **m} for m in members]
        if self.owners_sink is not None:
            self.owners_sink({chat_id: owner})
        return group

    def dismiss(self, chat_id: str) -> None:
        with self._lock:
            group = self._all().get(chat_id)
            if group is None:
                raise KeyError(chat_id)
            self._groups[chat_id] = group
            group.dismissed = True

    def owner_status(self, user_id: str, status: int) -> None:
        """The owner's follow-up state: 0 normal, 1 left, 2 inheriting, 3 inherited."""
        if status not in (0, 1, 2, 3):
            raise ValueError("status must be 0-3")
        with self._lock:
            self._owner_status[user_id] = status

    def inject(self, kind: str, count: int = 1) -> None:
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; expected one of {sorted(FAULTS)}")
        with self._lock:
            self._faults.extend([kind] * count)

    def reset(self) -> None:
        with self._lock:
            self._groups.clear()
            self._owner_status.clear()
            self._faults.clear()
            self.calls.clear()
            self.visible_members = 0

    def _all(self) -> dict[str, FakeGroup]:
        """Every group, those only the group sends know included (lock held)."""
        extra = self.owners_source() if self.owners_source is not None else {}
        return {**{c: FakeGroup(c, o) for c, o in extra.items()}, **self._groups}

    # -- the APIs --------------------------------------------------------------------------
    def _enter(self, api: str, token_error: dict[str, Any] | None) -> Answer | None:
        self.calls[api] = self.calls.get(api, 0) + 1
        if self._faults:
            return FAULTS[self._faults.popleft()]
        return None if token_error is None else (200, token_error)

    def list_groups(self, token_error: dict[str, Any] | None, body: Any) -> Answer:
        body = body if isinstance(body, dict) else {}
        with self._lock:
            stop = self._enter("groupchat_list", token_error)
            if stop is not None:
                return stop
            status_filter, limit = body.get("status_filter", 0), body.get("limit")
            cursor = body.get("cursor") or ""
            owner_filter = body.get("owner_filter")
            owners: list[str] | None = None
            if owner_filter is not None:
                listed = owner_filter.get("userid_list") if isinstance(owner_filter, dict) \
                    else None
                if not isinstance(listed, list) or not all(isinstance(u, str) for u in listed):
                    return _error(40058, "invalid Request Parameter")
                if len(listed) > MAX_OWNERS:
                    return _error(40058, f"userid_list exceeds {MAX_OWNERS}")
                owners = listed
            if isinstance(status_filter, bool) or status_filter not in (0, 1, 2, 3) \
                    or isinstance(limit, bool) or not isinstance(limit, int) \
                    or not 1 <= limit <= MAX_LIMIT or not isinstance(cursor, str) \
                    or (cursor and not cursor.isdigit()):
                return _error(40058, "invalid Request Parameter")
            if owners is None and self.visible_members > VISIBLE_RANGE_LIMIT:
                return _error(81017, "too many members in the visible range: "
                                     "use owner_filter")
            found = []
            for group in sorted(self._all().values(), key=lambda g: g.chat_id):
                status = self._owner_status.get(group.owner, 0)
                if group.dismissed or (status_filter and status != status_filter):
                    continue
                if (owners is None and status != 0) or (owners is not None
                                                        and group.owner not in owners):
                    continue
                found.append({"chat_id": group.chat_id, "status": status})
            start = int(cursor or 0)
            more = start + limit < len(found)
            return 200, {"errcode": 0, "errmsg": "ok",
                         "group_chat_list": found[start:start + limit],
                         "next_cursor": str(start + limit) if more else ""}

    def get_group(self, token_error: dict[str, Any] | None, body: Any) -> Answer:
        body = body if isinstance(body, dict) else {}
        with self._lock:
            stop = self._enter("groupchat_get", token_error)
            if stop is not None:
                return stop
            chat_id, need_name = body.get("chat_id"), body.get("need_name", 0)
            if not isinstance(chat_id, str) or not chat_id or need_name not in (0, 1):
                return _error(40058, "invalid Request Parameter")
            group = self._all().get(chat_id)
            if group is None or group.dismissed:
                return _error(40050, "chatid not found")
            members = [{k: v for k, v in m.items() if k != "name" or need_name == 1}
                       for m in group.members]
            version = hashlib.md5(  # noqa: S324 - a version tag, not security
                json.dumps(group.members, sort_keys=True).encode()).hexdigest()
            return 200, {"errcode": 0, "errmsg": "ok", "group_chat": {
                "chat_id": group.chat_id, "name": group.name, "owner": group.owner,
                "create_time": group.create_time, "notice": group.notice,
                "member_list": members, "admin_list": [{"userid": a} for a in group.admins],
                "member_version": version}}


def routes(state: FakeGroupChats,
           token_error: Callable[[str], dict[str, Any] | None]) -> list[Route]:
    """WeCom's two group-directory APIs and the control API."""

    def api(method: Callable[[dict[str, Any] | None, Any], Answer]
            ) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> JSONResponse:
            try:
                body = await request.json()
            except ValueError:
                body = None
            status, reply = method(token_error(request.query_params.get("access_token", "")),
                                   body)
            return JSONResponse(reply, status_code=status)
        return endpoint

    async def put(request: Request) -> JSONResponse:
        body = await request.json()
        try:
            group = state.put(str(body.get("chat_id") or ""), str(body.get("owner") or ""),
                              name=body.get("name"), members=body.get("members"),
                              notice=body.get("notice"), admins=body.get("admins"))
        except (ValueError, AttributeError) as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        return JSONResponse({"chat_id": group.chat_id, "owner": group.owner})

    async def dismiss(request: Request) -> JSONResponse:
        try:
            state.dismiss(str((await request.json()).get("chat_id")))
        except KeyError:
            return JSONResponse({"error": "unknown chat_id"}, status_code=404)
        return JSONResponse({"ok": True})

    return [
        Route("/cgi-bin/externalcontact/groupchat/list", api(state.list_groups), methods=["POST"]),
        Route("/cgi-bin/externalcontact/groupchat/get", api(state.get_group), methods=["POST"]),
        Route("/fake/groupchats/groups", put, methods=["POST"]),
        Route("/fake/groupchats/dismiss", dismiss, methods=["POST"]),
    ]
