"""The mini-program login half of the local fake WeChat: ``wx.login`` codes and
``GET /sns/jscode2session``, as WeChat documents them.

* A test (standing in for ``wx.login`` on a phone) asks ``POST /fake/wechat/login`` with
  ``{"openid": …, "unionid": …?}`` for a **code**; a code is valid for five minutes and can
  be exchanged **once**.
* ``GET /sns/jscode2session?appid=&secret=&js_code=&grant_type=authorization_code``
  answers ``{"openid", "session_key"[, "unionid"]}``. Refusals, as WeChat gives them:
  40013 (invalid appid), 40125 (invalid appsecret), 40002 (grant_type is not
  ``authorization_code``), 40029 (invalid code: unknown, expired or missing), 40163 (code
  been used), 40226 (a code of a user the fake was told to block as high risk), 45011
  (more than ``user_rate`` exchanges of one user within a minute; 100 by default), -1
  (system busy, injected with ``POST /fake/wechat/faults {"count": N}``).
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

CODE_TTL = 300.0
MINUTE = 60.0


@dataclass(frozen=True, slots=True)
class _Code:
    openid: str
    unionid: str | None
    issued_at: float


def _error(errcode: int, errmsg: str) -> dict[str, Any]:
    return {"errcode": errcode, "errmsg": errmsg}


@dataclass
class FakeWeChatLogin:
    """Codes handed out by ``wx.login`` and their exchanges; thread-safe."""

    app_id: str
    app_secret: str
    user_rate: int = 100  # exchanges per user per minute (WeChat: 100)
    clock: Callable[[], float] = time.monotonic
    exchanges: int = 0
    blocked: set[str] = field(default_factory=set)  # openids refused as high risk (40226)
    _codes: dict[str, _Code] = field(default_factory=dict)
    _used: set[str] = field(default_factory=set)
    _calls: dict[str, deque[float]] = field(default_factory=dict)
    _busy: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def login(self, openid: str, unionid: str | None = None) -> str:
        """What ``wx.login`` gives the mini-program: a fresh code for this user."""
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _Code(openid, unionid, self.clock())
        return code

    def inject_busy(self, count: int = 1) -> None:
        with self._lock:
            self._busy += count

    def reset(self) -> None:
        with self._lock:
            self._codes.clear()
            self._used.clear()
            self._calls.clear()
            self.blocked.clear()
            self._busy = self.exchanges = 0

    def code2session(self, params: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            self.exchanges += 1
            if params.get("appid") != self.app_id:
                return _error(40013, "invalid appid")
            if params.get("secret") != self.app_secret:
                return _error(40125, "invalid appsecret")
            if params.get("grant_type") != "authorization_code":
                return _error(40002, "invalid grant_type")
            if self._busy:
                self._busy -= 1
                return _error(-1, "system error")
            js_code = params.get("js_code", "")
            if js_code in self._used:
                return _error(40163, "code been used")
            code = self._codes.get(js_code)
            if code is None or self.clock() - code.issued_at > CODE_TTL:
                return _error(40029, "invalid code")
            calls = self._calls.setdefault(code.openid, deque())
            now = self.clock()
            while calls and now - calls[0] >= MINUTE:
                calls.popleft()
            if len(calls) >= self.user_rate:
                return _error(45011, "api minute-quota reach limit  mustslower  retry next minute")
            calls.append(now)
            del self._codes[js_code]
            self._used.add(js_code)
            if code.openid in self.blocked:
                return _error(40226, "code blocked")
            answer = {"openid": code.openid, "session_key": secrets.token_urlsafe(16)}
            if code.unionid is not None:
                answer["unionid"] = code.unionid
            return answer


def routes(state: FakeWeChatLogin) -> list[Route]:
    async def jscode2session(request: Request) -> JSONResponse:
        return JSONResponse(state.code2session(dict(request.query_params)))

    async def login(request: Request) -> JSONResponse:
        body = await request.json()
        openid, unionid = body.get("openid"), body.get("unionid")
        if not isinstance(openid, str) or not openid:
            return JSONResponse({"error": "openid is required"}, status_code=400)
        return JSONResponse({"code": state.login(openid, unionid if isinstance(unionid, str)
                                                 else None)})

    async def faults(request: Request) -> JSONResponse:
        body = await request.json()
        state.inject_busy(int(body.get("count", 1)))
        return JSONResponse({"ok": True})

    return [
        Route("/sns/jscode2session", jscode2session),
        Route("/fake/wechat/login", login, methods=["POST"]),
        Route("/fake/wechat/faults", faults, methods=["POST"]),
    ]
