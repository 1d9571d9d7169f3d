"""A local fake of Tencent Cloud SMS ``SendSms`` (2021-01-11), mounted into the fake WeCom.

``POST /sms`` (the fake's ``SMS_API_BASE`` is ``http://127.0.0.1:{port}/sms``) answers as
Tencent documents:

* the TC3-HMAC-SHA256 ``Authorization`` is verified (:func:`adapters.sms_client.signature`)
  with the fake's ``secret_id`` / ``secret_key``: unknown id → ``AuthFailure.SecretIdNotFound``,
  a wrong signature → ``AuthFailure.SignatureFailure``, ``X-TC-Timestamp`` more than 300 s
  off → ``AuthFailure.SignatureExpire``; ``X-TC-Action`` must be ``SendSms``;
* more than 200 numbers → ``LimitExceeded.PhoneNumberCountLimit``; an unknown
  ``SmsSdkAppId`` → ``FailedOperation.SmsSdkAppIdVerifyFail``; a missing parameter →
  ``MissingParameter``;
* per number (``SendStatusSet``): not E.164 → ``InvalidParameterValue.IncorrectPhoneNumber``,
  more than ``daily_limit`` messages today (Asia/Shanghai) →
  ``LimitExceeded.PhoneNumberDailyLimit``, a number in ``blocked`` →
  ``FailedOperation.PhoneNumberInBlacklist``, else ``Ok`` with a ``SerialNo``;
* ``rate`` requests/second (token bucket ``rate_burst`` deep) → ``RequestLimitExceeded``;
* ``SessionContext`` is echoed back per number, as Tencent does, and kept with each receipt.
  Only with ``dedupe_extension`` (off unless a test turns it on: Tencent has no dedupe) is
  it a dedupe key: the same key with the same request gets the first answer again with
  ``"Duplicate": true`` and sends nothing; with another request,
  ``InvalidParameterValue.DedupeKeyReused``;
* injected faults: ``rate_limit`` (``RequestLimitExceeded``), ``internal_error``
  (``InternalError``), ``http_503``, ``lost_reply`` (processed, then HTTP 502).

Control API: ``POST /fake/sms/config`` (``rate``, ``rate_burst``, ``daily_limit``, null
clears; ``dedupe_extension``), ``POST /fake/sms/blocked`` ``{"numbers"}``, ``POST /fake/sms/faults``
``{"kind", "count"}``, ``GET /fake/sms/receipts?key_prefix=`` (of ``SessionContext``;
``receipts`` with template and params, without the
numbers' digits beyond the last four, ``per_recipient`` counts), ``POST /fake/sms/reset``.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from adapters.sms_client import ALGORITHM, MAX_NUMBERS, signature
from fakes.campaign_records import SHANGHAI

FAKE_SMS_SECRET_ID = "AKIDfakesiyu"  # noqa: S105 - the local fake's
FAKE_SMS_SECRET_KEY = "fake-sms-secret-key"  # noqa: S105 - the local fake's, not a secret
FAKE_SMS_APP_ID = "1400000000"
SMS_FAULTS = frozenset({"rate_limit", "internal_error", "http_503", "lost_reply"})
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
REQUIRED = ("PhoneNumberSet", "SmsSdkAppId", "TemplateId")


@dataclass(frozen=True, slots=True)
class SmsReceipt:
    number: str
    template_id: str
    params: tuple[str, ...]
    serial_no: str
    dedupe_key: str
    at: float


@dataclass
class FakeSms:
    secret_id: str = FAKE_SMS_SECRET_ID
    secret_key: str = FAKE_SMS_SECRET_KEY
    sdk_app_id: str = FAKE_SMS_APP_ID
    daily_limit: int | None = 10
    rate: float | None = None
    rate_burst: float | None = None
    dedupe_extension: bool = False
    max_receipts: int = 200_000
    max_dedupe: int = 100_000
    blocked: set[str] = field(default_factory=set)
    receipts: deque[SmsReceipt] = field(default_factory=deque)
    calls: int = 0
    rate_limited: int = 0
    clock: Callable[[], float] = time.time
    _daily: Counter[tuple[str, str]] = field(default_factory=Counter)
    _dedupe: OrderedDict[str, tuple[str, dict[str, Any]]] = field(default_factory=OrderedDict)
    _faults: deque[str] = field(default_factory=deque)
    _tokens: float = 0.0
    _refilled: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def inject(self, kind: str, count: int = 1) -> None:
        if kind not in SMS_FAULTS:
            raise ValueError(f"unknown fault {kind!r}; expected one of {sorted(SMS_FAULTS)}")
        with self._lock:
            self._faults.extend([kind] * count)

    def configure(self, **config: Any) -> None:
        with self._lock:
            for key in ("rate", "rate_burst", "daily_limit", "dedupe_extension"):
                if key in config:
                    setattr(self, key, config[key])
            self._tokens, self._refilled = 0.0, 0.0

    def reset(self) -> None:
        with self._lock:
            self.receipts.clear()
            self._daily.clear()
            self._dedupe.clear()
            self._faults.clear()
            self.calls = self.rate_limited = 0

    def received(self, key_prefix: str = "") -> list[SmsReceipt]:
        with self._lock:
            return [r for r in self.receipts if r.dedupe_key.startswith(key_prefix)]

    def _take_token(self, now: float) -> bool:
        if not self.rate:
            return True
        burst = self.rate_burst or self.rate
        if self._refilled == 0.0:
            self._tokens, self._refilled = burst, now
        self._tokens = min(burst, self._tokens + (now - self._refilled) * self.rate)
        self._refilled = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def handle(self, headers: dict[str, str], host: str, path: str, raw: bytes
               ) -> tuple[int, dict[str, Any], str | None]:
        """(HTTP status, ``Response`` body, fault applied after processing)."""
        request_id = secrets.token_hex(16)

        def error(code: str, message: str) -> tuple[int, dict[str, Any], str | None]:
            return 200, {"Error": {"Code": code, "Message": message}, "RequestId": request_id}, None

        now = self.clock()
        auth = headers.get("authorization", "")
        match = re.fullmatch(rf"{ALGORITHM} Credential=([^/]+)/(\d{{4}}-\d\d-\d\d)/sms/"
                             r"tc3_request, SignedHeaders=content-type;host, Signature=(\w+)",
                             auth)
        if match is None:
            return error("AuthFailure.InvalidAuthorization", "malformed Authorization")
        if match[1] != self.secret_id:
            return error("AuthFailure.SecretIdNotFound", "unknown SecretId")
        try:
            timestamp = int(headers.get("x-tc-timestamp", ""))
        except ValueError:
            return error("MissingParameter", "X-TC-Timestamp")
        if abs(now - timestamp) > 300:
            return error("AuthFailure.SignatureExpire", "timestamp out of range")
        expected = signature(self.secret_key, host, path, raw, timestamp)
        if not hmac.compare_digest(expected, match[3]):
            return error("AuthFailure.SignatureFailure", "signature mismatch")
        if headers.get("x-tc-action") != "SendSms":
            return error("InvalidAction", "only SendSms is faked")
        try:
            body = json.loads(raw)
            assert isinstance(body, dict)
        except (ValueError, AssertionError):
            return error("FailedOperation.JsonParseFail", "body is not a JSON object")
        for name in REQUIRED:
            if not body.get(name):
                return error("MissingParameter", name)
        numbers = body["PhoneNumberSet"]
        params = body.get("TemplateParamSet") or []
        if not isinstance(numbers, list) or not all(isinstance(n, str) for n in numbers) \
                or not isinstance(params, list):
            return error("InvalidParameter", "PhoneNumberSet / TemplateParamSet")
        if len(numbers) > MAX_NUMBERS:
            return error("LimitExceeded.PhoneNumberCountLimit", "more than 200 numbers")
        if body["SmsSdkAppId"] != self.sdk_app_id:
            return error("FailedOperation.SmsSdkAppIdVerifyFail", "unknown SmsSdkAppId")
        key = str(body.get("SessionContext") or "")
        fingerprint = json.dumps([numbers, params, body["TemplateId"]], ensure_ascii=False)
        with self._lock:
            self.calls += 1
            fault = self._faults.popleft() if self._faults else None
            if key and self.dedupe_extension and key in self._dedupe:
                stored, answer = self._dedupe[key]
                if stored != fingerprint:
                    return error("InvalidParameterValue.DedupeKeyReused",
                                 "SessionContext reused for another request")
                return 200, {**answer, "RequestId": request_id, "Duplicate": True}, None
            if fault == "rate_limit" or not self._take_token(now):
                self.rate_limited += 1
                return error("RequestLimitExceeded", "request rate limit exceeded")
            if fault == "internal_error":
                return error("InternalError", "internal error")
            if fault == "http_503":
                return 503, {}, None
            day = datetime.fromtimestamp(now, SHANGHAI).strftime("%Y-%m-%d")
            statuses = [self._send_one(n, day, body, key, now) for n in numbers]
            answer = {"SendStatusSet": statuses}
            if key and self.dedupe_extension:
                self._dedupe[key] = (fingerprint, answer)
                while len(self._dedupe) > self.max_dedupe:
                    self._dedupe.popitem(last=False)
        return 200, {**answer, "RequestId": request_id}, fault

    def _send_one(self, number: str, day: str, body: dict[str, Any], key: str,
                  now: float) -> dict[str, Any]:
        def status(code: str, message: str, serial: str = "", fee: int = 0) -> dict[str, Any]:
            return {"SerialNo": serial, "PhoneNumber": number, "Fee": fee,
                    "SessionContext": key, "Code": code, "Message": message,
                    "IsoCode": "CN" if number.startswith("+86") else "DEF"}

        if not E164.match(number):
            return status("InvalidParameterValue.IncorrectPhoneNumber", "not E.164")
        if number in self.blocked:
            return status("FailedOperation.PhoneNumberInBlacklist", "number blocked")
        if self.daily_limit is not None and self._daily[(day, number)] >= self.daily_limit:
            return status("LimitExceeded.PhoneNumberDailyLimit", "daily limit of the number")
        self._daily[(day, number)] += 1
        serial = secrets.token_hex(10)
        self.receipts.append(SmsReceipt(number, str(body["TemplateId"]),
                                        tuple(str(p) for p in body.get("TemplateParamSet") or []),
                                        serial, key, now))
        while len(self.receipts) > self.max_receipts:
            self.receipts.popleft()
        return status("Ok", "send success", serial, 1)


def routes(state: FakeSms) -> list[Route]:
    async def send_sms(request: Request) -> JSONResponse:
        raw = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        status, response, fault = state.handle(headers, request.headers.get("host", ""),
                                               request.url.path, raw)
        if fault == "lost_reply":
            return JSONResponse({}, status_code=502)
        return JSONResponse({"Response": response} if status == 200 else {}, status_code=status)

    def control(apply: Callable[[dict[str, Any]], Any]
                ) -> Callable[[Request], Awaitable[JSONResponse]]:
        async def endpoint(request: Request) -> JSONResponse:
            try:
                body = await request.json()
                return JSONResponse(apply(body) or {"ok": True})
            except (ValueError, TypeError, AttributeError, KeyError) as error:
                return JSONResponse({"error": str(error)}, status_code=400)
        return endpoint

    async def receipts(request: Request) -> JSONResponse:
        found = state.received(request.query_params.get("key_prefix", ""))
        per = Counter(r.number for r in found)
        return JSONResponse({
            "receipts": [{"recipient": f"***{r.number[-4:]}", "serial_no": r.serial_no,
                          "template_id": r.template_id, "params": list(r.params),
                          "session_context": r.dedupe_key, "at": r.at} for r in found],
            "recipients": len(per), "max_per_recipient": max(per.values(), default=0)})

    def blocked(body: dict[str, Any]) -> None:
        with state._lock:
            state.blocked = {str(n) for n in body["numbers"]}

    return [
        Route("/sms", send_sms, methods=["POST"]),
        Route("/fake/sms/config", control(lambda b: state.configure(**b)), methods=["POST"]),
        Route("/fake/sms/blocked", control(blocked), methods=["POST"]),
        Route("/fake/sms/faults", control(lambda b: state.inject(str(b["kind"]),
                                                                 int(b.get("count", 1)))),
              methods=["POST"]),
        Route("/fake/sms/receipts", receipts),
        Route("/fake/sms/reset", control(lambda _: state.reset()), methods=["POST"]),
    ]
