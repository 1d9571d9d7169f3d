"""A local fake of the WeCom API, for tests and the demo.

What it reproduces:

* ``GET /cgi-bin/gettoken?corpid=&corpsecret=`` → an access token (``expires_in`` seconds);
  a wrong corp id or secret gets errcode 40013 / 40001;
* ``POST /cgi-bin/externalcontact/send_welcome_msg?access_token=`` with
  ``{"welcome_code": …, "text": {"content": …}}`` → accepts each welcome code **once**; a second
  use gets errcode 41051, codes starting with ``expired`` or ``invalid`` get 40058, an unknown or
  expired token gets 40014 / 42001. Accepted sends are recorded (``FakeWeCom.sent``).

* ``POST /cgi-bin/message/send?access_token=`` (application messages to staff):
  ``{"touser", "msgtype": "text", "text": {"content"}, "enable_duplicate_check"}`` → a msgid;
  with the duplicate check, the same (touser, content) again answers the first msgid and
  is not recorded twice (``FakeWeCom.app_messages``); ``touser`` starting with ``invalid``
  gets errcode 81013 (no such user). Faults apply as to welcome sends.

Test hooks (not part of WeCom): ``GET /fake/sent`` lists accepted sends, ``POST /fake/faults``
with ``{"kind": …, "count": N}`` makes the next N send calls fail (``http_500``, ``busy``
(errcode -1), ``rate_limit`` (errcode 45009), ``lost_reply`` (the send is accepted, then the
reply is an HTTP 502: the ambiguous case), ``token_expired`` (42001)), ``POST /fake/reset``.

The campaign APIs (``add_msg_template``, ``get_groupmsg_send_result``, ``subscribe/send``) and
their control API under ``/fake/campaigns/…`` come from :mod:`fakes.campaign_routes`
over ``FakeWeCom.campaigns`` (:class:`fakes.campaigns.FakeCampaigns`);
``GET /cgi-bin/token?grant_type=client_credential&appid=&secret=`` issues the mini-program
tokens they accept (WeChat's shape: errcode 40013 / 40125 on a wrong app id / secret).
The 「联系我」 contact ways (``add_contact_way`` …) come
from :mod:`fakes.contact_ways`; a welcome code it issued for a simulated add is refused (40058)
once older than 20 seconds, as WeCom documents. Enterprise moments (``add_moment_task``,
``get_moment_task_result`` … ``get_moment_list``) come from :mod:`fakes.moments`; the corp's
customer tag library (``get_corp_tag_list``, ``add_corp_tag``, ``edit_corp_tag``,
``del_corp_tag``) from :mod:`fakes.corp_tags`.
``get_moment_task_result`` … ``get_moment_list``) come from :mod:`fakes.moments`, the
customer-group directory (``groupchat/list``, ``groupchat/get``) from :mod:`fakes.groupchats`
over ``FakeWeCom.group_chats``.
The mini-program login (``wx.login`` codes, ``GET /sns/jscode2session``) comes from
:mod:`fakes.wechat_login` over ``FakeWeCom.wechat_login``. ``POST /fake/reset`` resets
every part.

Run it with :func:`run_fake_wecom` (uvicorn in a background thread on 127.0.0.1).
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fakes.campaign_routes import routes as campaign_routes
from fakes.campaigns import FakeCampaigns
from fakes.contact_ways import FakeContactWays
from fakes.contact_ways import routes as contact_way_routes
from fakes.corp_tags import FakeCorpTags
from fakes.corp_tags import routes as corp_tag_routes
from fakes.group_sends import set_owners
from fakes.groupchats import FakeGroupChats
from fakes.groupchats import routes as group_chat_routes
from fakes.moments import FakeMoments
from fakes.moments import routes as moment_routes
from fakes.sms import FakeSms
from fakes.sms import routes as sms_routes
from fakes.wechat_login import FakeWeChatLogin
from fakes.wechat_login import routes as login_routes

FAKE_CORP_ID = "wwfakecorp"
FAKE_CORP_SECRET = "fake-corp-secret"  # noqa: S105 - a fake's well-known credential
FAKE_APP_ID = "wxfakeminiprogram"
FAKE_APP_SECRET = "fake-app-secret"  # noqa: S105 - a fake's well-known credential
FAULT_KINDS = frozenset({"http_500", "busy", "rate_limit", "lost_reply", "token_expired"})


@dataclass(frozen=True, slots=True)
class SentWelcome:
    welcome_code: str
    text: str
    msgid: str
    at: float


@dataclass(frozen=True, slots=True)
class SentAppMessage:
    touser: str
    content: str
    msgid: str


#: Answers of the injected faults (``lost_reply`` is handled by the API that draws it).
FAULT_REPLIES: dict[str, tuple[int, dict[str, Any]]] = {
    "http_500": (500, {"error": "internal server error"}),
    "busy": (200, {"errcode": -1, "errmsg": "system busy"}),
    "rate_limit": (200, {"errcode": 45009, "errmsg": "api freq out of limit"}),
    "token_expired": (200, {"errcode": 42001, "errmsg": "access_token expired"}),
}


@dataclass
class FakeWeCom:
    """The fake's state; thread-safe, inspectable from tests."""

    corp_id: str = FAKE_CORP_ID
    corp_secret: str = FAKE_CORP_SECRET
    token_ttl: int = 7200
    app_id: str = FAKE_APP_ID
    app_secret: str = FAKE_APP_SECRET
    campaigns: FakeCampaigns = field(default_factory=FakeCampaigns)
    sms: FakeSms = field(default_factory=FakeSms)
    contact_ways: FakeContactWays = field(default_factory=FakeContactWays)
    moments: FakeMoments = field(default_factory=FakeMoments)
    #: The corp's customer tag library (:mod:`fakes.corp_tags`).
    corp_tags: FakeCorpTags = field(default_factory=FakeCorpTags)
    #: The customer-group directory (``groupchat/list`` / ``get``, :mod:`fakes.groupchats`);
    #: its owners are the group sends' (only a group's owner sends into it).
    group_chats: FakeGroupChats = field(default_factory=FakeGroupChats)
    #: ``wx.login`` codes and ``jscode2session`` (:mod:`fakes.wechat_login`).
    wechat_login: FakeWeChatLogin = field(
        default_factory=lambda: FakeWeChatLogin(FAKE_APP_ID, FAKE_APP_SECRET))
    sent: list[SentWelcome] = field(default_factory=list)
    app_messages: list[SentAppMessage] = field(default_factory=list)
    send_calls: int = 0
    token_calls: int = 0
    _tokens: dict[str, float] = field(default_factory=dict)
    _used: set[str] = field(default_factory=set)
    _faults: deque[str] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.group_chats.owners_sink is None:
            campaigns = self.campaigns
            self.group_chats.owners_sink = lambda owners: set_owners(campaigns, owners)
        if self.group_chats.owners_source is None:
            self.group_chats.owners_source = lambda: dict(self.campaigns.group_owners)

    def inject(self, kind: str, count: int = 1) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; expected one of {sorted(FAULT_KINDS)}")
        with self._lock:
            self._faults.extend([kind] * count)

    def reset(self) -> None:
        with self._lock:
            self.sent.clear()
            self.app_messages.clear()
            self._used.clear()
            self._faults.clear()
            self._tokens.clear()
            self.send_calls = self.token_calls = 0
        self.campaigns.reset()
        self.sms.reset()
        self.contact_ways.reset()
        self.moments.reset()
        self.corp_tags.reset()
        self.group_chats.reset()
        self.wechat_login.reset()

    def sent_snapshot(self) -> list[SentWelcome]:
        with self._lock:
            return list(self.sent)

    def sent_codes(self) -> list[str]:
        return [s.welcome_code for s in self.sent_snapshot()]

    def issue_token(self, corp_id: str, corp_secret: str) -> dict[str, Any]:
        with self._lock:
            self.token_calls += 1
            if corp_id != self.corp_id:
                return {"errcode": 40013, "errmsg": "invalid corpid"}
            if corp_secret != self.corp_secret:
                return {"errcode": 40001, "errmsg": "invalid credential"}
            token = secrets.token_urlsafe(24)
            self._tokens[token] = time.monotonic() + self.token_ttl
            return {"errcode": 0, "errmsg": "ok", "access_token": token,
                    "expires_in": self.token_ttl}

    def issue_wechat_token(self, app_id: str, app_secret: str) -> dict[str, Any]:
        """WeChat's ``/cgi-bin/token``: a mini-program access token (no errcode on success)."""
        with self._lock:
            self.token_calls += 1
            if app_id != self.app_id:
                return {"errcode": 40013, "errmsg": "invalid appid"}
            if app_secret != self.app_secret:
                return {"errcode": 40125, "errmsg": "invalid appsecret"}
            token = secrets.token_urlsafe(24)
            self._tokens[token] = time.monotonic() + self.token_ttl
            return {"access_token": token, "expires_in": self.token_ttl}

    def token_error(self, token: str) -> dict[str, Any] | None:
        """None for a live token, else WeCom's answer to it (40014 unknown, 42001 expired)."""
        with self._lock:
            return self._token_error(token)

    def _token_error(self, token: str) -> dict[str, Any] | None:
        expires = self._tokens.get(token)
        if expires is None:
            return {"errcode": 40014, "errmsg": "invalid access_token"}
        if time.monotonic() >= expires:
            return {"errcode": 42001, "errmsg": "access_token expired"}
        return None

    def app_messages_snapshot(self) -> list[SentAppMessage]:
        with self._lock:
            return list(self.app_messages)

    def send_app_message(self, token: str, body: Any) -> tuple[int, dict[str, Any]]:
        with self._lock:
            refused, _ = self._refusal(token)
            if refused is not None:
                return refused
            touser = body.get("touser") if isinstance(body, dict) else None
            text = body.get("text", {}).get("content") if isinstance(body, dict) else None
            if not isinstance(touser, str) or not touser or not isinstance(text, str):
                return 200, {"errcode": 40058, "errmsg": "invalid Request Parameter"}
            if touser.startswith("invalid"):
                return 200, {"errcode": 81013, "errmsg": "user & party & tag all invalid"}
            if body.get("enable_duplicate_check"):
                for earlier in self.app_messages:
                    if (earlier.touser, earlier.content) == (touser, text):
                        return 200, {"errcode": 0, "errmsg": "ok", "msgid": earlier.msgid}
            msgid = f"fake-app-{secrets.token_hex(8)}"
            self.app_messages.append(SentAppMessage(touser, text, msgid))
            return 200, {"errcode": 0, "errmsg": "ok", "msgid": msgid}

    def _refusal(self, token: str) -> tuple[tuple[int, dict[str, Any]] | None, str | None]:
        """(the answer of an injected fault or a bad token, the fault drawn); lock held."""
        self.send_calls += 1
        fault = self._faults.popleft() if self._faults else None
        if fault == "token_expired":
            self._tokens.clear()
        reply = FAULT_REPLIES.get(fault or "")
        if reply is not None:
            return reply, fault
        token_error = self._token_error(token)
        return (None if token_error is None else (200, token_error)), fault

    def send_welcome(self, token: str, body: Any) -> tuple[int, dict[str, Any]]:
        """Returns (HTTP status, JSON body)."""
        with self._lock:
            refused, fault = self._refusal(token)
            if refused is not None:
                return refused
            code = body.get("welcome_code") if isinstance(body, dict) else None
            text = body.get("text", {}).get("content") if isinstance(body, dict) else None
            if not isinstance(code, str) or not code or not isinstance(text, str):
                return 200, {"errcode": 40058, "errmsg": "invalid Request Parameter"}
            if code.startswith(("expired", "invalid")) or \
                    self.contact_ways.welcome_code_expired(code):
                return 200, {"errcode": 40058, "errmsg": "invalid welcome_code"}
            if code in self._used:
                return 200, {"errcode": 41051, "errmsg": "externaluser has started chatting"}
            self._used.add(code)
            msgid = f"fake-{secrets.token_hex(8)}"
            self.sent.append(SentWelcome(code, text, msgid, time.time()))
            if fault == "lost_reply":
                return 502, {"error": "bad gateway"}
            return 200, {"errcode": 0, "errmsg": "ok", "msgid": msgid}


def create_app(state: FakeWeCom) -> Starlette:
    async def gettoken(request: Request) -> JSONResponse:
        q = request.query_params
        return JSONResponse(state.issue_token(q.get("corpid", ""), q.get("corpsecret", "")))

    async def wechat_token(request: Request) -> JSONResponse:
        q = request.query_params
        if q.get("grant_type") != "client_credential":
            return JSONResponse({"errcode": 40002, "errmsg": "invalid grant_type"})
        return JSONResponse(state.issue_wechat_token(q.get("appid", ""), q.get("secret", "")))

    async def send_welcome_msg(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            body = None
        status, reply = state.send_welcome(request.query_params.get("access_token", ""), body)
        return JSONResponse(reply, status_code=status)

    async def message_send(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            body = None
        status, reply = state.send_app_message(request.query_params.get("access_token", ""),
                                               body)
        return JSONResponse(reply, status_code=status)

    async def list_sent(_: Request) -> JSONResponse:
        return JSONResponse([asdict(s) for s in state.sent_snapshot()])

    async def faults(request: Request) -> JSONResponse:
        body = await request.json()
        try:
            state.inject(str(body.get("kind")), int(body.get("count", 1)))
        except (ValueError, TypeError, AttributeError) as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        return JSONResponse({"ok": True})

    async def reset(_: Request) -> JSONResponse:
        state.reset()
        return JSONResponse({"ok": True})

    return Starlette(routes=[
        Route("/cgi-bin/gettoken", gettoken),
        Route("/cgi-bin/externalcontact/send_welcome_msg", send_welcome_msg, methods=["POST"]),
        Route("/cgi-bin/message/send", message_send, methods=["POST"]),
        Route("/fake/sent", list_sent),
        Route("/fake/faults", faults, methods=["POST"]),
        Route("/fake/reset", reset, methods=["POST"]),
        Route("/cgi-bin/token", wechat_token),
        *campaign_routes(state.campaigns, state.token_error),
        *sms_routes(state.sms),
        *contact_way_routes(state.contact_ways, state.token_error),
        *moment_routes(state.moments, state.token_error),
        *corp_tag_routes(state.corp_tags, state.token_error),
        *group_chat_routes(state.group_chats, state.token_error),
        *login_routes(state.wechat_login),
    ])


class RunningFakeWeCom:
    """A fake WeCom served by uvicorn in a daemon thread; stop it with :meth:`stop`."""

    def __init__(self, state: FakeWeCom, sock: socket.socket) -> None:
        self.state = state
        self._socket = sock
        host, port = sock.getsockname()[:2]
        self.port: int = port
        self.url = f"http://{host}:{port}"
        config = uvicorn.Config(create_app(state), log_level="warning", lifespan="off",
                                access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name="fake-wecom", daemon=True)

    def start(self, timeout: float = 10.0) -> RunningFakeWeCom:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._socket.close()
                raise RuntimeError("the fake WeCom server did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._socket.close()

    def __enter__(self) -> RunningFakeWeCom:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def run_fake_wecom(port: int | None = None, *, state: FakeWeCom | None = None,
                   host: str = "127.0.0.1") -> RunningFakeWeCom:
    """Start the fake on ``host:port`` (a free port when ``port`` is None or 0)."""
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only for that
    # protocol number, and without it every response waited ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port or 0))
    except OSError:
        sock.close()
        raise
    return RunningFakeWeCom(state or FakeWeCom(), sock).start()
