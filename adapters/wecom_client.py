"""The outbound gateway: an interface, and a client shaped like WeCom's API.

Every answer is classified into one of four outcomes (:class:`Outcome`). The
gateway never raises for a failed send; it returns a :class:`SendResult` and
the caller decides (record it, or retry it).

A WeCom ``welcome_code`` can be used once: a second call with the same code
answers 41051. That answer is read as "already sent", which is what makes a
redelivered or retried send safe. (WeCom also answers 41051 when another
application of the same corp used the code first; either way the customer
got a welcome and nothing more must be sent.)

Nothing here logs a welcome code, an access token or the corp secret: request
URLs carry the token and the secret, so the ``httpx`` request log is redacted.
"""

from __future__ import annotations

import enum
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import httpx

from adapters.http_keepalive import KeepAliveClient, LeanResponse, proxied
from adapters.tls import client_context

log = logging.getLogger(__name__)


class Outcome(enum.Enum):
    SENT = "sent"
    ALREADY_SENT = "already_sent"  # the welcome code was used before: count it as sent
    PERMANENT_FAILURE = "permanent_failure"  # retrying cannot help (invalid/expired code …)
    TRANSIENT_FAILURE = "transient_failure"  # retry later (5xx, busy, rate limit, network)


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: Outcome
    reason: str  # short, machine-readable, no personal data: "ok", "errcode 41051", "http 503"
    message_id: str | None = None

    @property
    def delivered(self) -> bool:
        return self.outcome in (Outcome.SENT, Outcome.ALREADY_SENT)


class OutboundGateway(Protocol):
    """Sends a welcome message against a single-use welcome code."""

    def send_welcome(self, welcome_code: str, text: str) -> SendResult: ...


class StaffMessageGateway(Protocol):
    """Sends an application message (应用消息) to a staff member (alerts, daily reports).

    WeCom dedupes a repeated (recipient, content) within ``duplicate_check_interval``
    seconds (``enable_duplicate_check``): a redelivered send reaches the staff member once.
    """

    def send_app_message(self, to_user: str, text: str) -> SendResult: ...


#: WeCom ``errcode`` values met on ``gettoken`` and ``send_welcome_msg``, and what they mean
#: for a welcome message. Codes not listed are permanent failures (fail fast; a welcome code
#: lives about 20 seconds at WeCom, so long retries are pointless anyway).
ERRCODES: dict[int, tuple[Outcome, str]] = {
    0: (Outcome.SENT, "ok"),
    # 系统繁忙: "server temporarily unavailable, retry later" (WeCom suggests ≤ 3 retries).
    -1: (Outcome.TRANSIENT_FAILURE, "system busy"),
    # "externaluser has started chatting": the welcome code was used already (by us on an
    # earlier attempt whose answer was lost, or by another app of the corp).
    41051: (Outcome.ALREADY_SENT, "welcome code already used"),
    # 不合法的参数: what an invalid or expired (older than ~20 s) welcome code gets.
    40058: (Outcome.PERMANENT_FAILURE, "invalid or expired welcome code"),
    # 不存在外部联系人的关系: the customer deleted the staff member before the welcome.
    84061: (Outcome.PERMANENT_FAILURE, "no external contact relationship"),
    # Rate limits: per-API frequency (45009), too frequent (45011), concurrency (45033).
    45009: (Outcome.TRANSIENT_FAILURE, "api frequency limit"),
    45011: (Outcome.TRANSIENT_FAILURE, "api called too frequently"),
    45033: (Outcome.TRANSIENT_FAILURE, "api concurrency limit"),
    # Access token invalid (40014) or expired (42001): refresh the token once and resend;
    # if the fresh token is refused too, try again later.
    40014: (Outcome.TRANSIENT_FAILURE, "invalid access token"),
    42001: (Outcome.TRANSIENT_FAILURE, "access token expired"),
    # Configuration errors: invalid secret (40001) or corp id (40013), no API permission
    # (48002). Retrying cannot fix them and the welcome code expires in the meantime.
    40001: (Outcome.PERMANENT_FAILURE, "invalid corp secret"),
    40013: (Outcome.PERMANENT_FAILURE, "invalid corp id"),
    48002: (Outcome.PERMANENT_FAILURE, "api forbidden"),
    # Application messages: no such user / department / tag among the recipients.
    81013: (Outcome.PERMANENT_FAILURE, "no such recipient"),
}
TOKEN_ERRCODES = frozenset({40014, 42001})
WECOM_TOKEN_PATH = "/cgi-bin/gettoken"  # noqa: S105 - a URL path, not a password


def classify_errcode(errcode: int) -> SendResult:
    outcome, meaning = ERRCODES.get(errcode, (Outcome.PERMANENT_FAILURE, "unclassified"))
    reason = "ok" if errcode == 0 else f"errcode {errcode}: {meaning}"
    return SendResult(outcome, reason)


def classify_response(status_code: int, body: Any) -> SendResult:
    """Classify an HTTP answer: status first, then WeCom's ``errcode``."""
    if status_code >= 500 or status_code in (408, 429):
        return SendResult(Outcome.TRANSIENT_FAILURE, f"http {status_code}")
    if status_code >= 400:
        return SendResult(Outcome.PERMANENT_FAILURE, f"http {status_code}")
    if not isinstance(body, dict) or not isinstance(body.get("errcode", 0), int):
        return SendResult(Outcome.TRANSIENT_FAILURE, "malformed reply")
    result = classify_errcode(int(body.get("errcode", 0)))
    msgid = body.get("msgid")
    if result.outcome is Outcome.SENT and isinstance(msgid, str):
        return SendResult(Outcome.SENT, result.reason, msgid)
    return result


def classify_exception(error: Exception) -> SendResult:
    """Network trouble is transient: a retry is safe because the code is single-use."""
    return SendResult(Outcome.TRANSIENT_FAILURE, f"network: {type(error).__name__}")


class TokenRefused(Exception):
    """WeCom (or WeChat) would not issue an access token; carries its raw answer."""

    def __init__(self, status_code: int, body: Any) -> None:
        super().__init__(f"token refused: http {status_code}")
        self.status_code = status_code
        self.body = body

    @property
    def errcode(self) -> int | None:
        code = self.body.get("errcode") if isinstance(self.body, dict) else None
        return code if isinstance(code, int) else None


_SECRET_PARAMS = re.compile(r"((?:access_token|corpsecret|secret)=)[^&\s\"]+")


class _RedactSecrets(logging.Filter):
    """Masks access tokens and secrets in ``httpx``'s request log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg = record.getMessage()
            record.args = None
        record.msg = _SECRET_PARAMS.sub(r"\1***", str(record.msg))
        return True


def redact_httpx_log() -> None:
    target = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactSecrets) for f in target.filters):
        target.addFilter(_RedactSecrets())


class Reply(NamedTuple):
    status_code: int
    body: Any  # the decoded JSON, None when the body was not JSON
    retry_after: float | None  # seconds, from a ``Retry-After`` header


class WeComSession:
    """An HTTP client holding one cached access token, shared by all threads.

    ``call`` posts JSON with the token; when the answer is 40014/42001 the token is
    dropped, fetched again and the call repeated **once**. It raises
    :class:`TokenRefused` when no token can be had and lets ``httpx.HTTPError``
    through; every other answer is returned as ``(HTTP status, JSON body or None)``
    for the caller to classify.

    The token request defaults to WeCom's ``gettoken``; WeChat (mini-programs) uses
    ``/cgi-bin/token`` with ``grant_type``/``appid``/``secret``.
    """

    #: Refresh a token this long before WeCom says it expires.
    TOKEN_MARGIN = 120.0

    def __init__(self, base_url: str, token_params: dict[str, str], *,
                 token_path: str = WECOM_TOKEN_PATH, timeout: float = 5.0,
                 transport: httpx.BaseTransport | None = None,
                 clock: Any = time.monotonic) -> None:
        redact_httpx_log()
        self._token_path = token_path
        self._token_params = dict(token_params)
        # The lean keep-alive client unless a transport is given (tests) or the
        # environment sets a proxy (httpx honours it).
        self._client: KeepAliveClient | httpx.Client
        if transport is None and not proxied(base_url):
            self._client = KeepAliveClient(base_url, timeout=timeout)
        else:
            self._client = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout,
                                        transport=transport, verify=client_context())
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._token_expires = 0.0

    def close(self) -> None:
        self._client.close()

    def _access_token(self) -> str:
        with self._lock:
            if self._token is not None and self._clock() < self._token_expires:
                return self._token
            response = self._client.get(self._token_path, params=self._token_params)
            body = _json(response)
            token = body.get("access_token") if isinstance(body, dict) else None
            errcode = body.get("errcode", 0) if isinstance(body, dict) else None
            if response.status_code != 200 or errcode != 0 or not isinstance(token, str):
                log.warning("access token refused: http %s, errcode %s",
                            response.status_code, errcode)
                raise TokenRefused(response.status_code, body)
            expires_in = body.get("expires_in", 7200)
            lifetime = float(expires_in) if isinstance(expires_in, int | float) else 7200.0
            self._token = token
            self._token_expires = self._clock() + max(lifetime - self.TOKEN_MARGIN,
                                                      lifetime / 2)
            return token

    def _forget_token(self, token: str) -> None:
        with self._lock:
            if self._token == token:
                self._token = None

    def call(self, path: str, payload: dict[str, Any], *, get: bool = False) -> Reply:
        """POST ``payload`` as JSON; with ``get``, GET with ``payload`` as query parameters
        (WeCom's few GET methods, e.g. ``get_moment_task_result?jobid=``)."""
        for attempt in range(2):
            token = self._access_token()
            if get:
                response = self._client.get(path, params={**payload, "access_token": token})
            else:
                response = self._client.post(path, params={"access_token": token}, json=payload)
            body = _json(response)
            errcode = body.get("errcode") if isinstance(body, dict) else None
            if response.status_code == 200 and errcode in TOKEN_ERRCODES and attempt == 0:
                self._forget_token(token)
                continue
            return Reply(response.status_code, body, _retry_after(response))
        raise AssertionError("unreachable")  # pragma: no cover


def token_refusal_result(refused: TokenRefused) -> SendResult:
    """A refused token as a welcome outcome (a 200 reply without a token is transient)."""
    result = classify_response(refused.status_code, refused.body)
    if result.outcome is Outcome.SENT:
        return SendResult(Outcome.TRANSIENT_FAILURE, "token reply without token")
    return result


class WeComGateway:
    """Client of WeCom's ``gettoken``, ``externalcontact/send_welcome_msg`` and
    ``message/send`` (staff app messages).

    The access token is cached until shortly before it expires, shared by all
    threads; a token refused by WeCom is dropped and fetched again once.
    """

    #: The self-built application (自建应用) that sends staff messages.
    AGENT_ID = 1000002
    DUPLICATE_CHECK_SECONDS = 4 * 3600

    def __init__(self, base_url: str, corp_id: str, corp_secret: str, *,
                 timeout: float = 5.0, transport: httpx.BaseTransport | None = None,
                 clock: Any = time.monotonic) -> None:
        self.corp_id = corp_id
        self._session = WeComSession(base_url, {"corpid": corp_id, "corpsecret": corp_secret},
                                     timeout=timeout, transport=transport, clock=clock)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> WeComGateway:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def send_welcome(self, welcome_code: str, text: str) -> SendResult:
        payload = {"welcome_code": welcome_code, "text": {"content": text}}
        return self._post("/cgi-bin/externalcontact/send_welcome_msg", payload)

    def send_app_message(self, to_user: str, text: str) -> SendResult:
        payload = {"touser": to_user, "msgtype": "text", "agentid": self.AGENT_ID,
                   "text": {"content": text}, "enable_duplicate_check": 1,
                   "duplicate_check_interval": self.DUPLICATE_CHECK_SECONDS}
        return self._post("/cgi-bin/message/send", payload)

    def _post(self, path: str, payload: dict[str, Any]) -> SendResult:
        try:
            reply = self._session.call(path, payload)
        except TokenRefused as refused:
            return token_refusal_result(refused)
        except httpx.HTTPError as error:
            return classify_exception(error)
        return classify_response(reply.status_code, reply.body)


def _retry_after(response: httpx.Response | LeanResponse) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare from API gateways, the caller's default applies


def _json(response: httpx.Response | LeanResponse) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
