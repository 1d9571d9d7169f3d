"""SendSms through the local fake: TC3 signing, batches of 200, a result per number, and a
dedupe key per request that makes every retry safe."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from adapters.campaign_client import WeComCampaignGateway
from adapters.campaign_gateway import BatchRecipient, Delivery
from adapters.sms_client import MAX_NUMBERS, TencentSms, plan_requests, sign, signature
from fakes.sms import FAKE_SMS_APP_ID, FAKE_SMS_SECRET_ID, FAKE_SMS_SECRET_KEY
from fakes.wecom import FAKE_CORP_ID, FAKE_CORP_SECRET, RunningFakeWeCom, run_fake_wecom


def number(n: int) -> str:
    return f"+86138{n:08d}"


def batch(count: int, params: tuple[str, ...] = ("春季上新",), start: int = 0
          ) -> list[BatchRecipient]:
    return [BatchRecipient(number(n), params, f"campaign:c:0:cust{n}")
            for n in range(start, start + count)]


@pytest.fixture
def fake() -> Iterator[RunningFakeWeCom]:
    with run_fake_wecom() as running:
        yield running


def sms(fake: RunningFakeWeCom, **options: object) -> TencentSms:
    return TencentSms(f"{fake.url}/sms", FAKE_SMS_SECRET_ID, FAKE_SMS_SECRET_KEY,
                      FAKE_SMS_APP_ID, "思域", **options)  # type: ignore[arg-type]


def test_the_signature_follows_the_documented_tc3_steps() -> None:
    # Given a request body at 2026-12-03 23:30 UTC (already the 4th in Beijing)
    body = b'{"PhoneNumberSet":["+8613800138000"]}'
    timestamp = int(datetime(2026, 12, 3, 23, 30, tzinfo=UTC).timestamp())
    # When it is signed
    headers = sign("AKIDexample", "secret", "sms.tencentcloudapi.com", "/", body, timestamp)
    # Then the signature is the HMAC chain over the canonical request, scoped to the UTC date
    canonical = ("POST\n/\n\ncontent-type:application/json; charset=utf-8\n"
                 "host:sms.tencentcloudapi.com\n\ncontent-type;host\n"
                 + hashlib.sha256(body).hexdigest())
    to_sign = (f"TC3-HMAC-SHA256\n{timestamp}\n2026-12-03/sms/tc3_request\n"
               + hashlib.sha256(canonical.encode()).hexdigest())
    key = b"TC3secret"
    for part in ("2026-12-03", "sms", "tc3_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    assert headers["Authorization"] == (
        "TC3-HMAC-SHA256 Credential=AKIDexample/2026-12-03/sms/tc3_request, "
        f"SignedHeaders=content-type;host, Signature={expected}")
    assert headers["X-TC-Action"] == "SendSms" and headers["X-TC-Version"] == "2021-01-11"
    assert headers["X-TC-Timestamp"] == str(timestamp)
    # and any change to the body, the time or the key changes it
    assert signature("secret", "sms.tencentcloudapi.com", "/", body + b" ", timestamp) != expected
    assert signature("secret", "sms.tencentcloudapi.com", "/", body, timestamp + 1) != expected
    assert signature("other", "sms.tencentcloudapi.com", "/", body, timestamp) != expected


def test_requests_group_recipients_by_params_and_keep_their_keys_whatever_else_is_sent() -> None:
    # Given 450 recipients with one text and 3 with another
    recipients = batch(450) + batch(3, ("其他",), start=1000)
    # When the requests are planned
    requests = plan_requests(recipients, "campaign:c:0:sms")
    # Then a request holds at most 200 numbers of one params set
    assert [len(r.numbers) for r in requests] == [3, 200, 200, 50]
    assert {r.params for r in requests} == {("其他",), ("春季上新",)}
    # and a request's key depends on its recipients only, not on the rest of the batch
    alone = plan_requests(batch(3, ("其他",), start=1000), "campaign:c:0:sms")
    assert alone[0].key == requests[0].key and alone[0].key.startswith("campaign:c:0:sms:")
    assert len({r.key for r in requests}) == 4


def test_a_batch_is_sent_in_requests_of_200_with_a_result_per_number(
        fake: RunningFakeWeCom) -> None:
    # Given a blocked number and a number that reached its daily limit
    fake.state.sms.blocked = {number(7)}
    fake.state.sms.daily_limit = 1
    client = sms(fake)
    assert client.send_batch(batch(1, start=9), "tpl", "warm")[0].delivery is Delivery.ACCEPTED
    # When 250 recipients are sent
    results = client.send_batch(batch(250), "tpl-1", "campaign:c:0:sms")
    client.close()
    # Then two requests went out and every other number got one message
    assert fake.state.sms.calls == 3
    refused = {n: r.reason for n, r in enumerate(results) if r.delivery is Delivery.REFUSED}
    assert refused == {7: "sms: FailedOperation.PhoneNumberInBlacklist",
                       9: "sms: LimitExceeded.PhoneNumberDailyLimit"}
    assert all(r.delivery is Delivery.ACCEPTED and r.message_id
               for n, r in enumerate(results) if n not in refused)
    got = fake.state.sms.received("campaign:c:0:sms")
    assert len(got) == 248 and len({r.number for r in got}) == 248
    assert {r.params for r in got} == {("春季上新",)} and {r.template_id for r in got} == {"tpl-1"}


def test_a_repeated_request_is_sent_again_as_tencent_has_no_dedupe(
        fake: RunningFakeWeCom) -> None:
    # Given a batch sent whose reply was lost
    fake.state.sms.inject("lost_reply")
    first = sms(fake)
    lost = first.send_batch(batch(20), "tpl", "k")
    assert {r.delivery for r in lost} == {Delivery.TRANSIENT}
    assert lost[0].reason == "http 502 (ambiguous)"
    # When another client sends it again (what the platform never does: it records UNKNOWN)
    again = first.send_batch(batch(20), "tpl", "k")
    first.close()
    # Then each number got a second message: the fake, like Tencent, does not deduplicate
    assert {r.delivery for r in again} == {Delivery.ACCEPTED}
    assert len(fake.state.sms.received()) == 40


def test_with_the_extension_the_fake_answers_a_repeated_key_again_and_sends_nothing(
        fake: RunningFakeWeCom) -> None:
    # Given the test turns the fake's dedupe extension on, and a lost reply
    fake.state.sms.configure(dedupe_extension=True)
    fake.state.sms.inject("lost_reply")
    client = sms(fake)
    client.send_batch(batch(20), "tpl", "k")
    # When it is sent again with the same key
    again = client.send_batch(batch(20), "tpl", "k")
    client.close()
    # Then the fake answers what it did the first time
    assert {r.delivery for r in again} == {Delivery.DUPLICATE}
    assert len(fake.state.sms.received()) == 20


def test_rate_limits_and_internal_errors_are_retried_later_and_stop_the_batch(
        fake: RunningFakeWeCom) -> None:
    client = sms(fake, rate_limit_backoff=2.5)
    fake.state.sms.inject("rate_limit")
    limited = client.send_batch(batch(300), "tpl", "k")
    assert {r.delivery for r in limited} == {Delivery.RATE_LIMITED, Delivery.TRANSIENT}
    assert limited[0].retry_after == 2.5 and limited[0].reason == "sms: RequestLimitExceeded"
    assert limited[299].reason == "not attempted"
    fake.state.sms.inject("internal_error")
    assert client.send_batch(batch(5), "tpl", "k")[0].reason == "sms: InternalError"
    fake.state.sms.inject("http_503")
    assert client.send_batch(batch(5), "tpl", "k")[0].reason == "http 503 (ambiguous)"
    # and afterwards the same requests go through, once
    assert {r.delivery for r in client.send_batch(batch(300), "tpl", "k")} == {Delivery.ACCEPTED}
    client.close()
    assert len(fake.state.sms.received()) == 300


def test_the_fake_rate_limits_requests_per_second(fake: RunningFakeWeCom) -> None:
    fake.state.sms.configure(rate=2.0, rate_burst=2.0)
    client = sms(fake)
    answers = [client.send_batch(batch(1, start=n), "tpl", f"k{n}")[0] for n in range(4)]
    client.close()
    assert [a.delivery for a in answers].count(Delivery.RATE_LIMITED) >= 1
    assert fake.state.sms.rate_limited >= 1


def test_the_fake_refuses_bad_signatures_stale_timestamps_and_oversized_batches(
        fake: RunningFakeWeCom) -> None:
    wrong = TencentSms(f"{fake.url}/sms", FAKE_SMS_SECRET_ID, "wrong", FAKE_SMS_APP_ID, "s")
    assert wrong.send_batch(batch(1), "tpl", "k")[0].reason == "sms: AuthFailure.SignatureFailure"
    wrong.close()
    unknown = TencentSms(f"{fake.url}/sms", "AKIDnobody", FAKE_SMS_SECRET_KEY, FAKE_SMS_APP_ID,
                         "s")
    assert unknown.send_batch(batch(1), "tpl", "k")[0].reason == \
        "sms: AuthFailure.SecretIdNotFound"
    unknown.close()
    stale = sms(fake, clock=lambda: 1_000_000.0)
    stale_answer = stale.send_batch(batch(1), "tpl", "k")[0]
    assert stale_answer.delivery is Delivery.TRANSIENT  # clock skew: retry
    assert stale_answer.reason == "sms: AuthFailure.SignatureExpire"
    stale.close()
    # a hand-made request of 201 numbers, correctly signed
    body = json.dumps({"PhoneNumberSet": [number(n) for n in range(MAX_NUMBERS + 1)],
                       "SmsSdkAppId": FAKE_SMS_APP_ID, "TemplateId": "t"}).encode()
    host = fake.url.removeprefix("http://")
    headers = sign(FAKE_SMS_SECRET_ID, FAKE_SMS_SECRET_KEY, host, "/sms", body,
                   int(datetime.now(UTC).timestamp()))
    reply = httpx.post(f"{fake.url}/sms", content=body, headers=headers).json()
    assert reply["Response"]["Error"]["Code"] == "LimitExceeded.PhoneNumberCountLimit"
    assert fake.state.sms.received() == []


def test_the_campaign_gateway_sends_sms_in_batches_and_mini_program_one_by_one(
        fake: RunningFakeWeCom) -> None:
    gateway = WeComCampaignGateway(fake.url, FAKE_CORP_ID, FAKE_CORP_SECRET, sms=sms(fake))
    results = gateway.send_direct_batch("sms", batch(3), "tpl", "k")
    single = gateway.send_direct("sms", number(50), "tpl", {"text": "hi"}, "one")
    unconfigured = gateway.send_direct_batch("mini_program", batch(2), "tpl", "k")
    gateway.close()
    assert [r.delivery for r in results] == [Delivery.ACCEPTED] * 3
    assert single.delivery is Delivery.ACCEPTED
    assert [r.reason for r in unconfigured] == ["direct channel not configured"] * 2
    assert fake.state.sms.calls == 2


def test_receipts_of_the_control_api_never_show_whole_numbers(fake: RunningFakeWeCom) -> None:
    client = sms(fake)
    client.send_batch(batch(2), "tpl", "campaign:x")
    client.close()
    answer = httpx.get(f"{fake.url}/fake/sms/receipts", params={"key_prefix": "campaign:x"})
    body = answer.json()
    assert body["recipients"] == 2 and body["max_per_recipient"] == 1
    assert number(0) not in answer.text and body["receipts"][0]["recipient"] == "***0000"
