"""The fake WeCom behaves like WeCom where it matters: single-use codes, tokens, faults."""

from __future__ import annotations

import httpx
import pytest

from adapters.wecom_client import Outcome, WeComGateway
from fakes.wecom import FAKE_CORP_ID, FAKE_CORP_SECRET, RunningFakeWeCom, run_fake_wecom


def gateway(fake: RunningFakeWeCom, secret: str = FAKE_CORP_SECRET) -> WeComGateway:
    return WeComGateway(fake.url, FAKE_CORP_ID, secret)


def test_the_fake_accepts_a_welcome_code_once_and_lists_the_send(
        fake_wecom: RunningFakeWeCom) -> None:
    # Given the fake and a client
    with gateway(fake_wecom) as client:
        # When the same code is used twice
        first = client.send_welcome("code-1", "欢迎")
        second = client.send_welcome("code-1", "欢迎")
    # Then the first is sent, the second answers "already used"; one send is recorded
    assert first.outcome is Outcome.SENT and first.message_id
    assert second.outcome is Outcome.ALREADY_SENT
    assert fake_wecom.state.sent_codes() == ["code-1"]
    listed = httpx.get(f"{fake_wecom.url}/fake/sent").json()
    assert [(s["welcome_code"], s["text"], s["msgid"]) for s in listed] == [
        ("code-1", "欢迎", first.message_id)]


def test_expired_codes_and_wrong_secrets_are_refused(fake_wecom: RunningFakeWeCom) -> None:
    # Given / When an expired code, and a client with a wrong secret
    with gateway(fake_wecom) as client:
        expired = client.send_welcome("expired-123", "hi")
    with gateway(fake_wecom, secret="nope") as client:
        refused = client.send_welcome("code-2", "hi")
    # Then both fail permanently and nothing was sent
    assert expired.outcome is Outcome.PERMANENT_FAILURE and "40058" in expired.reason
    assert refused.outcome is Outcome.PERMANENT_FAILURE and "40001" in refused.reason
    assert fake_wecom.state.sent == []


@pytest.mark.parametrize("kind", ["http_500", "busy", "rate_limit"])
def test_injected_faults_fail_the_next_calls_then_clear(fake_wecom: RunningFakeWeCom,
                                                        kind: str) -> None:
    # Given two faults injected over HTTP
    response = httpx.post(f"{fake_wecom.url}/fake/faults", json={"kind": kind, "count": 2})
    assert response.status_code == 200
    with gateway(fake_wecom) as client:
        # When three sends are tried
        results = [client.send_welcome("code-1", "hi").outcome for _ in range(3)]
    # Then two transient failures, then the send
    assert results == [Outcome.TRANSIENT_FAILURE] * 2 + [Outcome.SENT]
    assert fake_wecom.state.sent_codes() == ["code-1"]


def test_a_lost_reply_records_the_send_and_the_retry_learns_it_was_sent(
        fake_wecom: RunningFakeWeCom) -> None:
    # Given the next reply is lost after the fake accepted the send
    fake_wecom.state.inject("lost_reply")
    with gateway(fake_wecom) as client:
        # When the client sends, sees a 502, and retries
        lost = client.send_welcome("code-1", "hi")
        retried = client.send_welcome("code-1", "hi")
    # Then the retry is "already sent", and the customer got one message
    assert lost.outcome is Outcome.TRANSIENT_FAILURE
    assert retried.outcome is Outcome.ALREADY_SENT
    assert fake_wecom.state.sent_codes() == ["code-1"]


def test_an_expired_token_is_refreshed_by_the_client(fake_wecom: RunningFakeWeCom) -> None:
    # Given the fake expires all tokens on the next call
    with gateway(fake_wecom) as client:
        client.send_welcome("code-1", "hi")
        fake_wecom.state.inject("token_expired")
        # When the client sends again
        result = client.send_welcome("code-2", "hi")
    # Then it fetched a new token and the send went through
    assert result.outcome is Outcome.SENT
    assert fake_wecom.state.token_calls == 2


def test_unknown_faults_are_refused(fake_wecom: RunningFakeWeCom) -> None:
    # Given / When / Then
    response = httpx.post(f"{fake_wecom.url}/fake/faults", json={"kind": "meteor"})
    assert response.status_code == 400


def test_the_fake_runs_on_a_given_port_and_stops_cleanly() -> None:
    # Given a fake on a free port, stopped
    with run_fake_wecom() as first:
        port = first.port
    # When another fake starts on the same port / Then it can, and it answers
    with run_fake_wecom(port) as second:
        assert second.port == port
        assert httpx.get(f"{second.url}/fake/sent").json() == []
