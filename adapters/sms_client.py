"""SMS campaigns through Tencent Cloud SMS ``SendSms`` (API 3.0, version 2021-01-11).

* One request carries up to :data:`MAX_NUMBERS` numbers (``PhoneNumberSet``, E.164), one
  ``TemplateId`` and one ``TemplateParamSet`` shared by all of them, the ``SmsSdkAppId`` and
  the ``SignName``. :meth:`TencentSms.send_batch` groups the recipients by their params,
  sorts each group and cuts it into requests of at most 200 numbers.
* Requests are signed with **TC3-HMAC-SHA256** (:func:`sign`): canonical request (method,
  URI, empty query, ``content-type`` and ``host`` headers, SHA-256 of the body) → string to
  sign with the credential scope ``{date}/sms/tc3_request`` → HMAC chain from
  ``"TC3" + SecretKey`` over the UTC date, the service and ``tc3_request``.
* The answer is ``{"Response": {"SendStatusSet": [...], "RequestId"}}`` with one status per
  number (``Code`` ``Ok`` → ACCEPTED with its ``SerialNo``; ``LimitExceeded.*``,
  ``InvalidParameterValue.*``, ``FailedOperation.*``, … → REFUSED for that number), or
  ``{"Response": {"Error": {"Code", "Message"}}}`` for the whole request:
  ``RequestLimitExceeded*`` → RATE_LIMITED, ``InternalError*`` / ``AuthFailure.SignatureExpire``
  (clock skew) → TRANSIENT, anything else REFUSED. HTTP 429 → RATE_LIMITED, 5xx / 408 and
  network errors after the request left → TRANSIENT ``(ambiguous)``.

**No dedupe.** Each request's key is ``{dedupe_key}:{digest of its recipients' keys}``
(the same recipients give the same key on every retry) and travels in ``SessionContext``,
which Tencent echoes back per number; it does **not** deduplicate (the local fake,
:mod:`fakes.sms`, does only when a test turns on its ``dedupe_extension``). ``SendSms``
cannot be listed afterwards, so the caller records an ambiguous answer (lost reply, 5xx,
timeout after the request left) UNKNOWN and never retries it (:mod:`workers.send_intents`).
This client remembers nothing between calls.

Nothing here logs phone numbers, params or the secret key; reasons carry error codes only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx

from adapters.campaign_gateway import BatchRecipient, Delivery, DirectResult
from adapters.tls import client_context

log = logging.getLogger(__name__)

SERVICE = "sms"
ACTION = "SendSms"
VERSION = "2021-01-11"
ALGORITHM = "TC3-HMAC-SHA256"
CONTENT_TYPE = "application/json; charset=utf-8"
SIGNED_HEADERS = "content-type;host"
#: Tencent's documented maximum of numbers per ``SendSms`` request.
MAX_NUMBERS = 200


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def signature(secret_key: str, host: str, path: str, body: bytes, timestamp: int,
              service: str = SERVICE) -> str:
    """The TC3-HMAC-SHA256 signature (hex) of a POST of ``body`` to ``host`` ``path``."""
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical = "\n".join(["POST", path or "/", "", f"content-type:{CONTENT_TYPE}\nhost:{host}\n",
                           SIGNED_HEADERS, _sha256(body)])
    scope = f"{date}/{service}/tc3_request"
    to_sign = "\n".join([ALGORITHM, str(timestamp), scope, _sha256(canonical.encode())])
    key = _hmac(_hmac(_hmac(f"TC3{secret_key}".encode(), date), service), "tc3_request")
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def sign(secret_id: str, secret_key: str, host: str, path: str, body: bytes, timestamp: int,
         *, region: str = "ap-guangzhou") -> dict[str, str]:
    """The request headers (``Authorization`` and the ``X-TC-*`` common parameters)."""
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    auth = (f"{ALGORITHM} Credential={secret_id}/{date}/{SERVICE}/tc3_request, "
            f"SignedHeaders={SIGNED_HEADERS}, "
            f"Signature={signature(secret_key, host, path, body, timestamp)}")
    return {"Authorization": auth, "Content-Type": CONTENT_TYPE, "Host": host,
            "X-TC-Action": ACTION, "X-TC-Version": VERSION, "X-TC-Timestamp": str(timestamp),
            "X-TC-Region": region}


def classify_error(code: str, *, rate_limit_backoff: float = 1.0) -> DirectResult:
    """A request-level ``Error.Code``, or a per-number status ``Code``."""
    if code == "Ok":
        return DirectResult(Delivery.ACCEPTED, "ok")
    reason = f"sms: {code}"
    if code.startswith("RequestLimitExceeded"):
        return DirectResult(Delivery.RATE_LIMITED, reason, retry_after=rate_limit_backoff)
    if code.startswith("InternalError") or code in ("AuthFailure.SignatureExpire",
                                                    "ResourceUnavailable"):
        return DirectResult(Delivery.TRANSIENT, reason)
    return DirectResult(Delivery.REFUSED, reason)


@dataclass(frozen=True, slots=True)
class Request:
    key: str
    numbers: tuple[str, ...]
    params: tuple[str, ...]


def plan_requests(recipients: Sequence[BatchRecipient], dedupe_key: str,
                  size: int = MAX_NUMBERS) -> list[Request]:
    """Recipients grouped by params, de-duplicated and sorted, cut into keyed requests."""
    groups: dict[tuple[str, ...], dict[str, list[str]]] = {}
    for r in recipients:
        groups.setdefault(tuple(r.params), {}).setdefault(r.address, []).append(r.key)
    requests = []
    for params, by_number in sorted(groups.items()):
        numbers = sorted(by_number)
        for n in range(0, len(numbers), size):
            part = numbers[n:n + size]
            keys = sorted(k for number in part for k in by_number[number])
            digest = _sha256("\n".join(keys).encode())[:24]
            requests.append(Request(f"{dedupe_key}:{digest}", tuple(part), params))
    return requests


class TencentSms:
    """``SendSms`` batches for :class:`adapters.campaign_client.WeComCampaignGateway`."""

    def __init__(self, base_url: str, secret_id: str, secret_key: str, sdk_app_id: str,
                 sign_name: str, *, region: str = "ap-guangzhou", timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None,
                 clock: Callable[[], float] = time.time, rate_limit_backoff: float = 1.0,
                 max_numbers: int = MAX_NUMBERS) -> None:
        if not 1 <= max_numbers <= MAX_NUMBERS:
            raise ValueError(f"max_numbers must be within 1..{MAX_NUMBERS}")
        parts = urlsplit(base_url)
        self._url = base_url
        self._host = parts.netloc
        self._path = parts.path or "/"
        self._secret_id, self._secret_key = secret_id, secret_key
        self._app_id, self._sign_name, self._region = sdk_app_id, sign_name, region
        self._http = httpx.Client(timeout=timeout, transport=transport, verify=client_context())
        self._clock = clock
        self._backoff = rate_limit_backoff
        self._max = max_numbers

    def close(self) -> None:
        self._http.close()

    def send_batch(self, recipients: Sequence[BatchRecipient], template_id: str,
                   dedupe_key: str) -> list[DirectResult]:
        """A result per recipient, in order. The requests go one after the other; after
        the first rate-limited or transient one the rest are TRANSIENT "not attempted"."""
        by_number: dict[tuple[tuple[str, ...], str], DirectResult] = {}
        failed: DirectResult | None = None
        for request in plan_requests(recipients, dedupe_key, self._max):
            if failed is not None:
                by_number.update(dict.fromkeys(
                    ((request.params, n) for n in request.numbers),
                    DirectResult(Delivery.TRANSIENT, "not attempted")))
                continue
            answers = self._send(request, template_id)
            for number in request.numbers:
                result = answers[number]
                by_number[(request.params, number)] = result
                if result.delivery in (Delivery.RATE_LIMITED, Delivery.TRANSIENT):
                    failed = result
        return [by_number[(tuple(r.params), r.address)] for r in recipients]

    def _send(self, request: Request, template_id: str) -> dict[str, DirectResult]:
        return self._call(request, template_id)

    def _call(self, request: Request, template_id: str) -> dict[str, DirectResult]:
        body = json.dumps({
            "PhoneNumberSet": list(request.numbers), "SmsSdkAppId": self._app_id,
            "SignName": self._sign_name, "TemplateId": template_id,
            "TemplateParamSet": list(request.params), "SessionContext": request.key,
        }, ensure_ascii=False, separators=(",", ":")).encode()
        headers = sign(self._secret_id, self._secret_key, self._host, self._path, body,
                       int(self._clock()), region=self._region)
        del headers["Host"]  # httpx sends it from the URL
        try:
            reply = self._http.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as error:
            sent = not isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout,
                                          httpx.PoolTimeout))
            return self._all(request, DirectResult(
                Delivery.TRANSIENT,
                f"network: {type(error).__name__}{' (ambiguous)' if sent else ''}"))
        return self._read(request, reply)

    def _all(self, request: Request, result: DirectResult) -> dict[str, DirectResult]:
        if result.delivery is not Delivery.ACCEPTED:
            log.warning("SendSms of %d numbers not sent: %s", len(request.numbers),
                        result.reason)
        return dict.fromkeys(request.numbers, result)

    def _read(self, request: Request, reply: httpx.Response) -> dict[str, DirectResult]:
        status = reply.status_code
        if status == 429:
            retry = reply.headers.get("retry-after")
            return self._all(request, DirectResult(
                Delivery.RATE_LIMITED, "http 429",
                retry_after=float(retry) if retry and _number(retry) else self._backoff))
        if status >= 500 or status == 408:
            return self._all(request, DirectResult(Delivery.TRANSIENT,
                                                   f"http {status} (ambiguous)"))
        if status >= 400:
            return self._all(request, DirectResult(Delivery.REFUSED, f"http {status}"))
        try:
            response = reply.json()["Response"]
            assert isinstance(response, dict)
        except (ValueError, KeyError, TypeError, AssertionError):
            return self._all(request, DirectResult(Delivery.TRANSIENT,
                                                   "malformed reply (ambiguous)"))
        error = response.get("Error")
        if isinstance(error, dict):
            return self._all(request, classify_error(str(error.get("Code")),
                                                     rate_limit_backoff=self._backoff))
        duplicate = response.get("Duplicate") is True  # the fake's extension
        answers: dict[str, DirectResult] = {}
        for item in response.get("SendStatusSet") or []:
            if not isinstance(item, dict) or item.get("PhoneNumber") not in request.numbers:
                continue
            result = classify_error(str(item.get("Code")), rate_limit_backoff=self._backoff)
            if result.delivery is Delivery.ACCEPTED:
                serial = item.get("SerialNo")
                result = DirectResult(Delivery.DUPLICATE if duplicate else Delivery.ACCEPTED,
                                      "duplicate dedupe key" if duplicate else "ok",
                                      str(serial) if serial else None)
            answers[str(item["PhoneNumber"])] = result
        missing = DirectResult(Delivery.TRANSIENT, "no status for the number (ambiguous)")
        return {n: answers.get(n, missing) for n in request.numbers}


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True

