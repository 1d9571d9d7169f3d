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
from typing import Any, Protocol

import httpx

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


class _TokenRefused(Exception):
    def __init__(self, result: SendResult) -> None:
        super().__init__(result.reason)
        self.result = result


_SECRET_PARAMS = re.compile(r"((?:access_token|corpsecret)=)[^&\s\"]+")


class _RedactSecrets(logging.Filter):
    """Masks access tokens and corp secrets in ``httpx``'s request log."""

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


class WeComGateway:
    """Client of WeCom's ``gettoken`` and ``externalcontact/send_welcome_msg``.

    The access token is cached until shortly before it expires, shared by all
    threads; a token refused by WeCom is dropped and fetched again once.
    """

    #: Refresh a token this long before WeCom says it expires.
    TOKEN_MARGIN = 120.0

    #: The self-built application (自建应用) that sends staff messages.
    AGENT_ID = 1000002
    DUPLICATE_CHECK_SECONDS = 4 * 3600

    def __init__(self, base_url: str, corp_id: str, corp_secret: str, *,
                 timeout: float = 5.0, transport: httpx.BaseTransport | None = None,
                 clock: Any = time.monotonic) -> None:
        redact_httpx_log()
        self.corp_id = corp_id
        self._corp_secret = corp_secret
        self._client = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout,
                                    transport=transport)
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._token_expires = 0.0

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> WeComGateway:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- token -----------------------------------------------------------------
    def _access_token(self) -> str:
        with self._lock:
            if self._token is not None and self._clock() < self._token_expires:
                return self._token
            response = self._client.get("/cgi-bin/gettoken", params={
                "corpid": self.corp_id, "corpsecret": self._corp_secret})
            body = _json(response)
            result = classify_response(response.status_code, body)
            token = body.get("access_token") if isinstance(body, dict) else None
            if result.outcome is not Outcome.SENT or not isinstance(token, str):
                if result.outcome is Outcome.SENT:
                    result = SendResult(Outcome.TRANSIENT_FAILURE, "token reply without token")
                log.warning("WeCom refused an access token: %s", result.reason)
                raise _TokenRefused(result)
            expires_in = body.get("expires_in", 7200) if isinstance(body, dict) else 7200
            lifetime = float(expires_in) if isinstance(expires_in, int | float) else 7200.0
            self._token = token
            self._token_expires = self._clock() + max(lifetime - self.TOKEN_MARGIN,
                                                      lifetime / 2)
            return token

    def _forget_token(self, token: str) -> None:
        with self._lock:
            if self._token == token:
                self._token = None

    # -- sending -----------------------------------------------------------------
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
            for attempt in range(2):
                token = self._access_token()
                response = self._client.post(path, params={"access_token": token},
                                             json=payload)
                body = _json(response)
                errcode = body.get("errcode") if isinstance(body, dict) else None
                if response.status_code == 200 and errcode in TOKEN_ERRCODES and attempt == 0:
                    self._forget_token(token)
                    continue
                return classify_response(response.status_code, body)
        except _TokenRefused as refused:
            return refused.result
        except httpx.HTTPError as error:
            return classify_exception(error)
        raise AssertionError("unreachable")  # pragma: no cover


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
