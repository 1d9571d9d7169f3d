"""The fake's 「联系我」 contact ways (渠道活码), as WeCom documents them (客户联系「联系我」管理).

* ``POST /cgi-bin/externalcontact/add_contact_way`` — ``type`` 1 (one member) or 2 (several),
  ``scene`` 1 (mini-program button) or 2 (QR code), ``remark`` (≤ 30 characters), ``skip_verify``,
  ``state`` (≤ 30 characters), ``user`` (UserIDs, 1 for type 1, ≤ 100) → ``config_id`` and, for
  scene 2, ``qr_code``. Unknown members (when the fake is told its members) get 40003.
* ``update_contact_way`` (``config_id`` + the fields to change), ``del_contact_way``,
  ``get_contact_way`` (``contact_way`` with its fields) and ``list_contact_way``
  (``start_time``/``end_time`` of creation, default the last 90 days; ``cursor``, ``limit`` ≤
  1000 → ``contact_way: [{config_id}]``, ``next_cursor``); an unknown ``config_id`` gets 40058.
* Every answer needs a live access token (40014 / 42001 otherwise).

Control API (not WeCom's): ``POST /fake/contact_ways/members`` ``{"user_ids": [...]}`` sets the
members who have 客户联系 (none set: any UserID is accepted); ``POST /fake/contact_ways/faults``
``{"kind": "lost_reply"|"http_500"|"busy", "count": n}`` (a ``lost_reply`` applies the call, then
answers 502); ``POST /fake/contact_ways/scan`` ``{"config_id", "external_userid"}`` is a customer
adding a member through the code: it answers the callback fields WeCom would send
(``UserID``, ``ExternalUserID``, ``State``, ``WelcomeCode``, ``CreateTime``), and the welcome
code it issues is valid for :data:`WELCOME_CODE_SECONDS` (``send_welcome_msg`` refuses it later).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fakes.wecom_endpoint import wecom_endpoint

WELCOME_CODE_SECONDS = 20.0
LIST_DEFAULT_SECONDS = 90 * 86400
TEXT_MAX = 30
MEMBERS_MAX = 100
Answer = tuple[int, dict[str, Any]]
_BAD = {"errcode": 40058, "errmsg": "invalid Request Parameter"}
_FAULTS: dict[str, Answer] = {"http_500": (500, {"error": "internal server error"}),
                              "busy": (200, {"errcode": -1, "errmsg": "system busy"})}


@dataclass
class ContactWay:
    config_id: str
    type: int
    scene: int
    remark: str
    skip_verify: bool
    state: str
    users: list[str]
    qr_code: str | None
    created_at: float

    def as_wecom(self) -> dict[str, Any]:
        return {"config_id": self.config_id, "type": self.type, "scene": self.scene,
                "remark": self.remark, "skip_verify": self.skip_verify, "state": self.state,
                "user": list(self.users), "party": [], "qr_code": self.qr_code or ""}


@dataclass
class FakeContactWays:
    """State of the contact ways; thread-safe."""

    members: set[str] | None = None
    ways: dict[str, ContactWay] = field(default_factory=dict)
    welcome_codes: dict[str, float] = field(default_factory=dict)  # code -> issued at
    calls: int = 0
    clock: Callable[[], float] = time.time
    _faults: deque[str] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self._lock:
            self.members = None
            self.ways.clear()
            self.welcome_codes.clear()
            self._faults.clear()
            self.calls = 0

    def inject(self, kind: str, count: int = 1) -> None:
        if kind not in (*_FAULTS, "lost_reply"):
            raise ValueError(f"unknown fault {kind!r}")
        with self._lock:
            self._faults.extend([kind] * count)

    def welcome_code_expired(self, code: str) -> bool:
        """True for a code this fake issued more than 20 seconds ago."""
        with self._lock:
            issued = self.welcome_codes.get(code)
        return issued is not None and self.clock() - issued > WELCOME_CODE_SECONDS

    # -- the API -----------------------------------------------------------------------
    def _fields(self, body: dict[str, Any], way: ContactWay | None) -> dict[str, Any] | None:
        """The contact way's fields from ``body`` (``way``: an update), None if invalid."""
        users = body.get("user", way.users if way else None)
        remark = body.get("remark", way.remark if way else "")
        state = body.get("state", way.state if way else "")
        kind = way.type if way else body.get("type")
        if (kind not in (1, 2) or not isinstance(users, list) or not users
                or len(users) > MEMBERS_MAX or (kind == 1 and len(users) != 1)
                or not all(isinstance(u, str) and u for u in users)
                or not isinstance(remark, str) or len(remark) > TEXT_MAX
                or not isinstance(state, str) or len(state) > TEXT_MAX):
            return None
        return {"users": list(users), "remark": remark, "state": state,
                "skip_verify": bool(body.get("skip_verify", way.skip_verify if way else True))}

    def _unknown_member(self, users: list[str]) -> bool:
        return self.members is not None and any(u not in self.members for u in users)

    def call(self, method: str, body: Any) -> Answer:
        with self._lock:
            self.calls += 1
            fault = self._faults.popleft() if self._faults else None
            if fault in _FAULTS:
                return _FAULTS[fault]
            handler: Callable[[dict[str, Any]], Answer] = getattr(self, "_" + method)
            answer = handler(body if isinstance(body, dict) else {})
            if fault == "lost_reply":
                return 502, {"error": "bad gateway"}
            return answer

    def _add(self, body: dict[str, Any]) -> Answer:
        fields = self._fields(body, None)
        scene = body.get("scene")
        if fields is None or scene not in (1, 2):
            return 200, _BAD
        if self._unknown_member(fields["users"]):
            return 200, {"errcode": 40003, "errmsg": "invalid userid"}
        config_id = secrets.token_hex(16)
        qr_code = (f"https://wework.qpic.cn/wwpic/fake/{config_id}/0" if scene == 2 else None)
        self.ways[config_id] = ContactWay(config_id, int(body["type"]), int(scene),
                                          qr_code=qr_code, created_at=self.clock(), **fields)
        reply: dict[str, Any] = {"errcode": 0, "errmsg": "ok", "config_id": config_id}
        if qr_code:
            reply["qr_code"] = qr_code
        return 200, reply

    def _update(self, body: dict[str, Any]) -> Answer:
        way = self.ways.get(str(body.get("config_id")))
        fields = self._fields(body, way) if way else None
        if way is None or fields is None:
            return 200, _BAD
        if self._unknown_member(fields["users"]):
            return 200, {"errcode": 40003, "errmsg": "invalid userid"}
        way.users, way.remark = fields["users"], fields["remark"]
        way.state, way.skip_verify = fields["state"], fields["skip_verify"]
        return 200, {"errcode": 0, "errmsg": "ok"}

    def _delete(self, body: dict[str, Any]) -> Answer:
        if self.ways.pop(str(body.get("config_id")), None) is None:
            return 200, _BAD
        return 200, {"errcode": 0, "errmsg": "ok"}

    def _get(self, body: dict[str, Any]) -> Answer:
        way = self.ways.get(str(body.get("config_id")))
        if way is None:
            return 200, _BAD
        return 200, {"errcode": 0, "errmsg": "ok", "contact_way": way.as_wecom()}

    def _list(self, body: dict[str, Any]) -> Answer:
        now = self.clock()
        start = body.get("start_time", now - LIST_DEFAULT_SECONDS)
        end = body.get("end_time", now)
        limit = body.get("limit", 100)
        if not all(isinstance(v, int | float) for v in (start, end)) or \
                not isinstance(limit, int) or not 0 < limit <= 1000:
            return 200, _BAD
        found = sorted((w.created_at, w.config_id) for w in self.ways.values()
                       if start <= w.created_at <= end)
        offset = int(body.get("cursor") or 0)
        page = found[offset:offset + limit]
        reply: dict[str, Any] = {"errcode": 0, "errmsg": "ok",
                                 "contact_way": [{"config_id": c} for _, c in page]}
        if offset + limit < len(found):
            reply["next_cursor"] = str(offset + limit)
        return 200, reply

    def scan(self, config_id: str, external_userid: str) -> dict[str, Any]:
        """A customer adds a member through the code: the callback fields WeCom sends."""
        with self._lock:
            way = self.ways[config_id]
            code = "fakewc" + secrets.token_hex(12)
            now = self.clock()
            self.welcome_codes[code] = now
            return {"Event": "change_external_contact", "ChangeType": "add_external_contact",
                    "UserID": way.users[0], "ExternalUserID": external_userid,
                    "State": way.state, "WelcomeCode": code, "CreateTime": str(int(now))}


def routes(state: FakeContactWays, token_error: Callable[[str], dict[str, Any] | None]
           ) -> list[Route]:
    """WeCom's contact-way API and its control API, over ``state``."""

    def api(method: str) -> Callable[[Request], Any]:
        return wecom_endpoint(state.call, method, token_error)

    async def members(request: Request) -> JSONResponse:
        body = await request.json()
        state.members = {str(u) for u in body.get("user_ids", [])}
        return JSONResponse({"ok": True})

    async def faults(request: Request) -> JSONResponse:
        body = await request.json()
        try:
            state.inject(str(body.get("kind")), int(body.get("count", 1)))
        except (ValueError, TypeError) as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        return JSONResponse({"ok": True})

    async def scan(request: Request) -> JSONResponse:
        body = await request.json()
        try:
            return JSONResponse(state.scan(str(body["config_id"]), str(body["external_userid"])))
        except KeyError:
            return JSONResponse({"error": "unknown config_id"}, status_code=404)

    base = "/cgi-bin/externalcontact/"
    return [
        *(Route(f"{base}{name}_contact_way", api(method), methods=["POST"])
          for name, method in (("add", "add"), ("update", "update"), ("del", "delete"),
                               ("get", "get"), ("list", "list"))),
        Route("/fake/contact_ways/members", members, methods=["POST"]),
        Route("/fake/contact_ways/faults", faults, methods=["POST"]),
        Route("/fake/contact_ways/scan", scan, methods=["POST"]),
    ]
