"""WeChat mini-program login: ``auth.code2Session`` (``GET /sns/jscode2session``).

The mini-program calls ``wx.login`` and sends the code it got (valid five minutes, usable
once) to the platform, which exchanges it here with the app id and secret for the user's
``openid`` (and ``unionid`` when the app is bound to an open-platform account). The
``session_key`` in the answer is dropped: the platform decrypts no user data with it.

Answers are classified: 40029 / 40163 / 40226 → :class:`LoginRefused` (invalid, used or
blocked code: the user logs in again); 45011 → :class:`LoginRateLimited`; -1, other
errcodes, HTTP and network errors → :class:`LoginUnavailable`. Neither the code nor the
openid is ever logged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx

from adapters.tls import client_context

PATH = "/sns/jscode2session"
REFUSED = frozenset({40029, 40163, 40226})
RATE_LIMITED = 45011
_OPENID = re.compile(r"^[A-Za-z0-9_\-]{1,128}$")


class LoginError(Exception):
    """A login code could not be exchanged; ``errcode`` is WeChat's, if it answered."""

    def __init__(self, message: str, errcode: int | None = None) -> None:
        super().__init__(message)
        self.errcode = errcode


class LoginRefused(LoginError):
    """The code is invalid, expired, used or blocked."""


class LoginRateLimited(LoginError):
    """WeChat's per-user minute quota is reached: try again next minute."""


class LoginUnavailable(LoginError):
    """WeChat is busy or unreachable, or answered something unexpected."""


@dataclass(frozen=True, slots=True)
class WeChatSession:
    openid: str
    unionid: str | None


class WeChatLogin:
    """``code2session`` for one mini-program. Thread-safe; close it with :meth:`close`."""

    def __init__(self, base_url: str, app_id: str, app_secret: str, *, timeout: float = 5.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.app_id = app_id
        self._secret = app_secret
        self._client = httpx.Client(base_url=base_url, timeout=timeout, transport=transport,
                                    verify=client_context())

    def close(self) -> None:
        self._client.close()

    def code2session(self, code: str) -> WeChatSession:
        try:
            response = self._client.get(PATH, params={
                "appid": self.app_id, "secret": self._secret, "js_code": code,
                "grant_type": "authorization_code"})
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise LoginUnavailable(f"code2session failed: {type(error).__name__}") from None
        if not isinstance(body, dict):
            raise LoginUnavailable("code2session answered no object")
        errcode = body.get("errcode") or 0
        if errcode in REFUSED:
            raise LoginRefused("the login code is invalid, expired or already used", errcode)
        if errcode == RATE_LIMITED:
            raise LoginRateLimited("too many logins of this user this minute", errcode)
        if errcode != 0:
            raise LoginUnavailable(f"code2session errcode {errcode}", errcode)
        openid, unionid = body.get("openid"), body.get("unionid")
        if not isinstance(openid, str) or not _OPENID.match(openid):
            raise LoginUnavailable("code2session answered no valid openid")
        if not isinstance(unionid, str) or not _OPENID.match(unionid):
            unionid = None
        return WeChatSession(openid=openid, unionid=unionid)
