"""How the campaign clients read WeCom / WeChat answers, and remember the accepted ones.

Every answer is classified (:data:`ERRCODES`): 0 → ACCEPTED; 45009 / 45011 / 45033 and
HTTP 429 → RATE_LIMITED with ``retry_after`` (the ``Retry-After`` header, else
``rate_limit_backoff``); -1, HTTP 5xx / 408, garbled replies and network errors →
TRANSIENT; every other errcode (40003, 41001, 43101, …) and HTTP 4xx → REFUSED. A token
refused with 40014 / 42001 is fetched again once (:class:`adapters.wecom_client.WeComSession`).
An answer that may hide an effect (a read timeout, a dropped connection, an HTTP 5xx after
the request left) says so: its reason ends in ``(ambiguous)``.

The clients remember nothing between calls: exactly-once is the caller's, through intents
recorded in PostgreSQL (:mod:`workers.send_intents`), never an in-process memory that a
``kill -9`` loses.

Reasons carry errcodes only: never recipients, texts, access tokens or secrets.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import httpx

from adapters.campaign_gateway import Delivery
from adapters.wecom_client import Reply, TokenRefused, WeComSession

#: WeCom / WeChat ``errcode`` values and what they mean for a campaign send. Codes not
#: listed are REFUSED: retrying an unknown condition would only repeat it.
ERRCODES: dict[int, tuple[Delivery, str]] = {
    0: (Delivery.ACCEPTED, "ok"),
    -1: (Delivery.TRANSIENT, "system busy"),
    # Frequency limits: per API (45009), minute quota (45011), concurrency (45033).
    45009: (Delivery.RATE_LIMITED, "api frequency limit"),
    45011: (Delivery.RATE_LIMITED, "api called too frequently"),
    45033: (Delivery.RATE_LIMITED, "api concurrency limit"),
    # A token refused even after one refresh: try again later.
    40014: (Delivery.TRANSIENT, "invalid access token"),
    42001: (Delivery.TRANSIENT, "access token expired"),
    # Bad input or configuration: retrying cannot help.
    40001: (Delivery.REFUSED, "invalid secret"),
    40003: (Delivery.REFUSED, "invalid userid or openid"),
    40013: (Delivery.REFUSED, "invalid corp id or app id"),
    40037: (Delivery.REFUSED, "invalid template id"),
    40058: (Delivery.REFUSED, "invalid parameter"),
    40125: (Delivery.REFUSED, "invalid app secret"),
    41001: (Delivery.REFUSED, "missing access token"),
    43101: (Delivery.REFUSED, "user refused or has no subscription"),
    47003: (Delivery.REFUSED, "template data invalid"),
    48002: (Delivery.REFUSED, "api forbidden"),
    84061: (Delivery.REFUSED, "no external contact relationship"),
}

#: Network errors raised before the request left: retrying them cannot duplicate anything.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class Verdict(NamedTuple):
    delivery: Delivery
    reason: str
    retry_after: float | None = None


def classify_errcode(errcode: int, *, rate_limit_backoff: float = 1.0) -> Verdict:
    delivery, meaning = ERRCODES.get(errcode, (Delivery.REFUSED, "unclassified"))
    reason = "ok" if errcode == 0 else f"errcode {errcode}: {meaning}"
    retry = rate_limit_backoff if delivery is Delivery.RATE_LIMITED else None
    return Verdict(delivery, reason, retry)


def classify_reply(reply: Reply, *, ambiguous: bool = False,
                   rate_limit_backoff: float = 1.0) -> Verdict:
    """HTTP status first, then ``errcode``. ``ambiguous``: the call may have had an effect."""
    status = reply.status_code
    tag = " (ambiguous)" if ambiguous else ""
    if status == 429:
        return Verdict(Delivery.RATE_LIMITED, "http 429",
                       reply.retry_after if reply.retry_after is not None else rate_limit_backoff)
    if status >= 500 or status == 408:
        return Verdict(Delivery.TRANSIENT, f"http {status}{tag}")
    if status >= 400:
        return Verdict(Delivery.REFUSED, f"http {status}")
    body = reply.body
    if not isinstance(body, dict) or not isinstance(body.get("errcode", 0), int):
        return Verdict(Delivery.TRANSIENT, f"malformed reply{tag}")
    verdict = classify_errcode(int(body.get("errcode", 0)), rate_limit_backoff=rate_limit_backoff)
    if verdict.delivery is Delivery.RATE_LIMITED and reply.retry_after is not None:
        return verdict._replace(retry_after=reply.retry_after)
    return verdict


def classify_network_error(error: Exception, *, ambiguous: bool = False) -> Verdict:
    tag = " (ambiguous)" if ambiguous and not isinstance(error, _NOT_SENT) else ""
    return Verdict(Delivery.TRANSIENT, f"network: {type(error).__name__}{tag}")


def classify_token_refusal(refused: TokenRefused, *, rate_limit_backoff: float = 1.0) -> Verdict:
    verdict = classify_reply(Reply(refused.status_code, refused.body, None),
                             rate_limit_backoff=rate_limit_backoff)
    if verdict.delivery is Delivery.ACCEPTED:
        return Verdict(Delivery.TRANSIENT, "token reply without token")
    return verdict._replace(reason=f"token: {verdict.reason}")


def call(session: WeComSession, path: str, payload: dict[str, Any], *, ambiguous: bool,
         rate_limit_backoff: float) -> tuple[Verdict, Any]:
    """POST ``payload`` through ``session``: the verdict, and the body (None on failure)."""
    try:
        reply = session.call(path, payload)
    except TokenRefused as refused:
        return classify_token_refusal(refused, rate_limit_backoff=rate_limit_backoff), None
    except httpx.HTTPError as error:
        return classify_network_error(error, ambiguous=ambiguous), None
    verdict = classify_reply(reply, ambiguous=ambiguous, rate_limit_backoff=rate_limit_backoff)
    return verdict, reply.body
