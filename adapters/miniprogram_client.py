"""WeChat mini-program subscribe messages (``cgi-bin/message/subscribe/send``).

One recipient per call: ``touser`` (the openid), ``template_id`` and ``data`` (each value
as ``{"value": …}``), with a mini-program access token from ``cgi-bin/token``
(``grant_type=client_credential``, ``appid``, ``secret``). The answer is classified as
in :mod:`adapters.campaign_replies`; 43101 (no subscription grant left) is REFUSED.

**No dedupe key.** ``subscribe/send`` has no client dedupe key and cannot be listed
afterwards, so an ambiguous answer (lost reply, timeout, 5xx after the request left) cannot
be reconciled: the caller records it UNKNOWN and never retries it
(:mod:`workers.send_intents`) — a retry would send a second message under a long-term
subscription. With ``send_dedupe_key=True`` the key travels as the extension field
``dedupe_key``, honoured only by a fake whose test turned ``dedupe_extension`` on.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from adapters.campaign_gateway import Delivery, DirectResult
from adapters.campaign_replies import call
from adapters.wecom_client import WeComSession

SUBSCRIBE_SEND = "/cgi-bin/message/subscribe/send"
WECHAT_TOKEN_PATH = "/cgi-bin/token"  # noqa: S105 - a URL path, not a password


class MiniProgramMessages:
    """Subscribe messages of one mini-program. Thread-safe; close it with :meth:`close`."""

    def __init__(self, base_url: str, app_id: str, app_secret: str, *,
                 send_dedupe_key: bool = False, timeout: float = 5.0,
                 transport: httpx.BaseTransport | None = None, clock: Any = time.monotonic,
                 rate_limit_backoff: float = 1.0) -> None:
        self._session = WeComSession(
            base_url, {"grant_type": "client_credential", "appid": app_id, "secret": app_secret},
            token_path=WECHAT_TOKEN_PATH, timeout=timeout, transport=transport, clock=clock)
        self._send_dedupe_key = send_dedupe_key
        self._backoff = rate_limit_backoff

    def close(self) -> None:
        self._session.close()

    def send(self, recipient: str, template_id: str, data: dict[str, str],
             dedupe_key: str) -> DirectResult:
        if not recipient or not dedupe_key:
            return DirectResult(Delivery.REFUSED, "recipient and dedupe key are required")
        payload: dict[str, Any] = {"touser": recipient, "template_id": template_id,
                                   "data": {k: {"value": v} for k, v in data.items()}}
        if self._send_dedupe_key:
            payload["dedupe_key"] = dedupe_key
        verdict, body = call(self._session, SUBSCRIBE_SEND, payload, ambiguous=True,
                             rate_limit_backoff=self._backoff)
        if verdict.delivery is not Delivery.ACCEPTED:
            return DirectResult(verdict.delivery, verdict.reason, retry_after=verdict.retry_after)
        msgid = body.get("msgid")
        duplicate = body.get("duplicate") is True
        return DirectResult(Delivery.DUPLICATE if duplicate else Delivery.ACCEPTED,
                            "duplicate dedupe key" if duplicate else "ok",
                            str(msgid) if msgid is not None else None)
