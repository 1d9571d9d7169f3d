"""WeCom callbacks over HTTP: signature check, decryption, XML, recording."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from urllib.parse import urlencode

from api.wecom_crypto import WeComCrypto, signature
from bench.common import (
    Measure,
    free_port,
    fresh_database,
    http_request,
    load,
    load_distinct,
    measure,
    median,
    server,
)

CORP = "ww-bench"
AES_KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")


def _callback(crypto: WeComCrypto, n: int, event: str, change: str) -> bytes:
    now = str(int(time.time()))
    xml = (f"<xml><ToUserName>{CORP}</ToUserName><CreateTime>{now}</CreateTime>"
           f"<MsgType>event</MsgType><Event>{event}</Event><ChangeType>{change}</ChangeType>"
           f"<UserID>staff{n % 20}</UserID><ExternalUserID>wmBench{n:07d}</ExternalUserID>"
           f"<State>bench</State><ChatId>wrBench</ChatId><UpdateDetail>change_name"
           f"</UpdateDetail></xml>")
    encrypted = crypto.encrypt(xml)
    query = urlencode({"msg_signature": signature("tok", now, f"n{n}", encrypted),
                       "timestamp": now, "nonce": f"n{n}"})
    body = f"<xml><ToUserName>{CORP}</ToUserName><Encrypt>{encrypted}</Encrypt></xml>".encode()
    return http_request("POST", f"/callbacks/wecom?{query}", body).replace(
        b"Content-Type: application/json", b"Content-Type: text/xml")


def wecom_callbacks(quick: bool) -> list[Measure]:
    """Distinct signed callbacks: friend adds recorded as events, and group renames (acknowledged,
    nothing recorded: the protocol's own cost — signature, decryption, XML)."""
    url = fresh_database()
    crypto = WeComCrypto("tok", AES_KEY, CORP)
    total = 1500 if quick else 6000
    adds = [_callback(crypto, n, "change_external_contact", "add_external_contact")
            for n in range(total)]
    tags = [_callback(crypto, n, "change_external_chat", "update") for n in range(total)]
    env = {"WECOM_CORP_ID": CORP, "WECOM_TOKEN": "tok", "WECOM_ENCODING_AES_KEY": AES_KEY}
    port = free_port()
    with server(url, port, env):
        load_distinct(port, tags[:100], 4)
        plain = http_request("GET", "/healthz")
        baseline = median([load(port, plain, total, 8)[0] for _ in range(2)])
        protocol = load_distinct(port, tags, 8)[0]
        recorded = load_distinct(port, adds, 8)[0]
    return [measure("wecom_callbacks", recorded, "callbacks/s", baseline),
            measure("wecom_callbacks_protocol", protocol, "callbacks/s", baseline)]


BENCHMARKS: dict[str, Callable[[bool], list[Measure]]] = {"wecom_callbacks": wecom_callbacks}
