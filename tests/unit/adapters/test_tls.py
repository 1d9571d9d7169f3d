"""The gateways' HTTP clients share the process's one TLS context (:mod:`adapters.tls`):
building a client builds no context of its own, and the shared one verifies servers."""

from __future__ import annotations

import ssl
from typing import Any

import pytest

from adapters.sms_client import TencentSms
from adapters.tls import client_context
from adapters.wechat_login import WeChatLogin
from adapters.wecom_client import WeComSession


def test_gateway_clients_build_no_tls_context_of_their_own(
        monkeypatch: pytest.MonkeyPatch) -> None:
    client_context()
    built: list[Any] = []
    real = ssl.create_default_context

    def counting(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        built.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", counting)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # WeCom's client: httpx
    clients: list[WeChatLogin | TencentSms | WeComSession] = [
        WeChatLogin("https://api.weixin.qq.com", "wx-app", "secret"),
        TencentSms("https://sms.tencentcloudapi.com", "id", "key", "1400000000", "siyu"),
        WeComSession("https://qyapi.weixin.qq.com", {"corpid": "c", "corpsecret": "s"}),
    ]
    for client in clients:
        client.close()
    assert built == []


def test_the_shared_context_verifies_certificates_and_host_names() -> None:
    context = client_context()
    assert context is client_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
