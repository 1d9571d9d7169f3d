"""Unit tests of the WeCom client: classification of answers, token cache (no network)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from adapters.wecom_client import (
    ERRCODES,
    Outcome,
    SendResult,
    WeComGateway,
    classify_errcode,
    classify_response,
)

Handler = Callable[[httpx.Request], httpx.Response]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def token_ok(request: httpx.Request, token: str = "tok-1", expires_in: int = 7200) -> httpx.Response:
    return httpx.Response(200, json={"errcode": 0, "errmsg": "ok", "access_token": token,
                                     "expires_in": expires_in})


class Scripted:
    """A transport answering token requests with fresh tokens and sends from a script."""

    def __init__(self, *sends: Handler | httpx.Response | Exception) -> None:
        self.sends = list(sends)
        self.requests: list[httpx.Request] = []
        self.tokens_issued = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/cgi-bin/gettoken":
            self.tokens_issued += 1
            return token_ok(request, token=f"tok-{self.tokens_issued}")
        answer = self.sends.pop(0)
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        return answer(request)

    def gateway(self, clock: Callable[[], float] | None = None) -> WeComGateway:
        return WeComGateway("http://wecom.test", "wwcorp", "s3cret",
                            transport=httpx.MockTransport(self), clock=clock or Clock())


def errcode(code: int, **extra: Any) -> httpx.Response:
    return httpx.Response(200, json={"errcode": code, "errmsg": "x", **extra})


def test_a_successful_send_is_sent_and_carries_the_gateways_message_id() -> None:
    # Given a WeCom that accepts the send
    script = Scripted(errcode(0, msgid="m-1"))
    # When a welcome is sent
    result = script.gateway().send_welcome("code-1", "你好")
    # Then it is sent, and the request had WeCom's shape
    assert result == SendResult(Outcome.SENT, "ok", "m-1")
    send = script.requests[-1]
    assert send.url.path == "/cgi-bin/externalcontact/send_welcome_msg"
    assert send.url.params["access_token"] == "tok-1"
    assert json.loads(send.content) == {"welcome_code": "code-1", "text": {"content": "你好"}}


def test_a_reused_welcome_code_counts_as_already_sent() -> None:
    # Given WeCom says the code was used (41051) — e.g. our earlier attempt's reply was lost
    script = Scripted(errcode(41051))
    # When the welcome is sent again
    result = script.gateway().send_welcome("code-1", "hi")
    # Then it is "already sent": delivered, nothing to retry
    assert result.outcome is Outcome.ALREADY_SENT
    assert result.delivered


@pytest.mark.parametrize("code", [40058, 84061, 40001, 48002])
def test_an_invalid_or_expired_code_and_configuration_errors_are_permanent(code: int) -> None:
    # Given WeCom refuses the code (or our credentials) for good
    script = Scripted(errcode(code))
    # When a welcome is sent
    result = script.gateway().send_welcome("expired-code", "hi")
    # Then it is a permanent failure whose reason names the errcode
    assert result.outcome is Outcome.PERMANENT_FAILURE
    assert str(code) in result.reason
    assert not result.delivered


@pytest.mark.parametrize("answer", [
    httpx.Response(500), httpx.Response(502, text="bad gateway"), httpx.Response(429),
    errcode(-1), errcode(45009), errcode(45033), httpx.Response(200, text="<html>"),
], ids=["http500", "http502", "http429", "busy", "freq-limit", "concurrency-limit", "not-json"])
def test_server_errors_busy_rate_limits_and_garbled_replies_are_transient(
        answer: httpx.Response) -> None:
    # Given WeCom cannot answer properly now
    script = Scripted(answer)
    # When a welcome is sent
    result = script.gateway().send_welcome("code-1", "hi")
    # Then it is a transient failure (retry later)
    assert result.outcome is Outcome.TRANSIENT_FAILURE


@pytest.mark.parametrize("error", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow")],
                         ids=["connect", "read-timeout"])
def test_network_errors_are_transient(error: Exception) -> None:
    # Given the network fails (a read timeout may hide an accepted send: the retry then
    # gets 41051, which is why a retry is safe)
    script = Scripted(error)
    # When a welcome is sent
    result = script.gateway().send_welcome("code-1", "hi")
    # Then it is transient, and the reason names only the error type
    assert result.outcome is Outcome.TRANSIENT_FAILURE
    assert result.reason == f"network: {type(error).__name__}"


def test_an_unlisted_errcode_is_a_permanent_failure() -> None:
    # Given / When an errcode the table does not know
    result = classify_errcode(99999)
    # Then fail fast rather than retry an unknown condition
    assert result.outcome is Outcome.PERMANENT_FAILURE
    assert result.reason == "errcode 99999: unclassified"


def test_every_listed_errcode_has_a_meaning_and_zero_is_the_only_success() -> None:
    # Given the errcode table / Then only 0 means sent and every entry explains itself
    assert [c for c, (o, _) in ERRCODES.items() if o is Outcome.SENT] == [0]
    assert all(meaning for _, meaning in ERRCODES.values())
    assert classify_response(200, {"errcode": 0}).outcome is Outcome.SENT


def test_the_access_token_is_fetched_once_and_reused_until_it_nears_expiry() -> None:
    # Given a gateway with a controllable clock and tokens living 7200 s
    clock = Clock()
    script = Scripted(errcode(0), errcode(0), errcode(0))
    gateway = script.gateway(clock)
    # When two welcomes are sent within the token's life
    gateway.send_welcome("a", "hi")
    clock.now += 6000
    gateway.send_welcome("b", "hi")
    # Then one token served both
    assert script.tokens_issued == 1
    # When the token nears its expiry (inside the refresh margin)
    clock.now += 1100
    gateway.send_welcome("c", "hi")
    # Then a new token is fetched and used
    assert script.tokens_issued == 2
    assert script.requests[-1].url.params["access_token"] == "tok-2"


def test_a_refused_token_is_refreshed_once_and_the_send_repeated() -> None:
    # Given WeCom says the cached token expired (42001), then accepts the send
    script = Scripted(errcode(42001), errcode(0))
    # When a welcome is sent
    result = script.gateway().send_welcome("code-1", "hi")
    # Then a fresh token was fetched and the send went through with it
    assert result.outcome is Outcome.SENT
    assert script.tokens_issued == 2
    assert script.requests[-1].url.params["access_token"] == "tok-2"


def test_a_token_refused_twice_is_transient() -> None:
    # Given WeCom refuses even the fresh token
    script = Scripted(errcode(40014), errcode(40014))
    # When a welcome is sent
    result = script.gateway().send_welcome("code-1", "hi")
    # Then it is transient (no endless refresh loop)
    assert result.outcome is Outcome.TRANSIENT_FAILURE
    assert script.tokens_issued == 2


def test_wrong_credentials_fail_permanently_without_sending() -> None:
    # Given WeCom refuses our corp secret
    def refuse(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/cgi-bin/gettoken"
        return errcode(40001)

    gateway = WeComGateway("http://wecom.test", "wwcorp", "wrong",
                           transport=httpx.MockTransport(refuse))
    # When a welcome is sent
    result = gateway.send_welcome("code-1", "hi")
    # Then it is a permanent failure
    assert result.outcome is Outcome.PERMANENT_FAILURE
    assert "40001" in result.reason


def test_the_request_log_never_shows_the_access_token_or_the_corp_secret(
        caplog: pytest.LogCaptureFixture) -> None:
    # Given httpx logs every request at INFO
    caplog.set_level(logging.INFO, logger="httpx")
    script = Scripted(errcode(0))
    # When a welcome is sent
    script.gateway().send_welcome("code-XYZ", "hi")
    # Then neither the token, the secret nor the welcome code appear in the log
    text = caplog.text
    assert "send_welcome_msg" in text
    assert "tok-1" not in text
    assert "s3cret" not in text
    assert "code-XYZ" not in text
