"""Unit tests of the campaign client: classification, tokens, splitting, paging (no network)."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from adapters.campaign_client import MAX_RECIPIENTS_PER_TASK, WeComCampaignGateway, split_recipients
from adapters.campaign_gateway import Delivery, RecipientStatus, ResultUnavailable
from adapters.campaign_replies import ERRCODES

Handler = Callable[[httpx.Request], httpx.Response]
TOKEN_PATHS = ("/cgi-bin/gettoken", "/cgi-bin/token")


class Scripted:
    """A transport issuing fresh tokens and answering API calls from a script."""

    def __init__(self, *answers: Handler | httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.tokens_issued = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path in TOKEN_PATHS:
            self.tokens_issued += 1
            return httpx.Response(200, json={"access_token": f"tok-{self.tokens_issued}",
                                             "expires_in": 7200})
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        return answer(request)

    def gateway(self, **options: Any) -> WeComCampaignGateway:
        return WeComCampaignGateway("http://wecom.test", "wwcorp", "s3cret", app_id="wxapp",
                                    app_secret="app-s3cret", transport=httpx.MockTransport(self),
                                    **options)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]


def errcode(code: int, **extra: Any) -> httpx.Response:
    return httpx.Response(200, json={"errcode": code, "errmsg": "x", **extra})


def created(msgid: str = "msg-1", **extra: Any) -> httpx.Response:
    return errcode(0, **{"msgid": msgid, "fail_list": [], **extra})


def echo_created(request: httpx.Request) -> httpx.Response:
    """Answers add_msg_template with a msgid naming the part's first recipient."""
    body = json.loads(request.content)
    return created(f"msg-{body['external_userid'][0]}")


# -- classification -------------------------------------------------------------------------

@pytest.mark.parametrize("code", sorted(ERRCODES))
def test_every_listed_errcode_is_classified_as_the_table_says_on_a_mass_send(code: int) -> None:
    # Given WeCom answers the task creation with this errcode (twice for the token codes,
    # since the client refreshes the token once)
    answers = [errcode(code, msgid="m") if code == 0 else errcode(code)]
    if code in (40014, 42001):
        answers.append(errcode(code))
    script = Scripted(*answers)
    # When a mass send is created
    task = script.gateway().create_mass_send("alice", ["c1"], "hi", "k")
    # Then the delivery is the table's, and the reason names the errcode
    assert task.delivery is ERRCODES[code][0]
    assert code == 0 or str(code) in task.reason


@pytest.mark.parametrize(("code", "delivery"), [
    (45009, Delivery.RATE_LIMITED), (45033, Delivery.RATE_LIMITED), (-1, Delivery.TRANSIENT),
    (40003, Delivery.REFUSED), (41001, Delivery.REFUSED), (43101, Delivery.REFUSED),
    (40037, Delivery.REFUSED), (47003, Delivery.REFUSED), (99999, Delivery.REFUSED),
])
def test_direct_messages_map_errcodes_to_deliveries(code: int, delivery: Delivery) -> None:
    # Given WeChat answers a subscribe message with this errcode
    script = Scripted(errcode(code))
    # When a direct message is sent
    result = script.gateway().send_direct("mini_program", "o-1", "tpl", {"k": "v"}, "key")
    # Then it is classified, and rate limits say when to come back
    assert result.delivery is delivery
    assert (result.retry_after is not None) == (delivery is Delivery.RATE_LIMITED)


def test_a_user_without_a_subscription_is_refused_for_good() -> None:
    # Given the user refused (or never granted) the subscription: errcode 43101
    script = Scripted(errcode(43101))
    # When a direct message is sent
    result = script.gateway().send_direct("mini_program", "o-1", "tpl", {"k": "v"}, "key")
    # Then it is REFUSED, with the errcode as the reason
    assert result.delivery is Delivery.REFUSED
    assert result.reason == "errcode 43101: user refused or has no subscription"


@pytest.mark.parametrize(("answer", "delivery"), [
    (httpx.Response(429, headers={"Retry-After": "2.5"}), Delivery.RATE_LIMITED),
    (httpx.Response(500), Delivery.TRANSIENT), (httpx.Response(503), Delivery.TRANSIENT),
    (httpx.Response(408), Delivery.TRANSIENT), (httpx.Response(400), Delivery.REFUSED),
    (httpx.Response(404), Delivery.REFUSED), (httpx.Response(200, text="<html>"),
                                              Delivery.TRANSIENT),
], ids=["429", "500", "503", "408", "400", "404", "not-json"])
def test_http_statuses_are_classified_before_errcodes(answer: httpx.Response,
                                                      delivery: Delivery) -> None:
    # Given WeCom (or a proxy in front of it) answers with this HTTP status
    script = Scripted(answer)
    # When a mass send is created
    task = script.gateway().create_mass_send("alice", ["c1"], "hi", "k")
    # Then the status decides
    assert task.delivery is delivery


def test_a_429_waits_as_long_as_retry_after_says_and_45009_waits_the_default_backoff() -> None:
    # Given a 429 with Retry-After, then an errcode 45009 without any hint
    script = Scripted(httpx.Response(429, headers={"Retry-After": "2.5"}), errcode(45009))
    gateway = script.gateway(rate_limit_backoff=0.75)
    # When two sends are tried
    first = gateway.create_mass_send("alice", ["c1"], "hi", "k")
    second = gateway.create_mass_send("alice", ["c1"], "hi", "k")
    # Then the first waits 2.5 s, the second the configured backoff
    assert (first.delivery, first.retry_after) == (Delivery.RATE_LIMITED, 2.5)
    assert (second.delivery, second.retry_after) == (Delivery.RATE_LIMITED, 0.75)


def test_failures_after_the_request_left_are_marked_ambiguous_and_refused_connects_are_not(
) -> None:
    # Given a read timeout (WeCom may have created the task), a 502, then a refused connection
    script = Scripted(httpx.ReadTimeout("slow"), httpx.Response(502),
                      httpx.ConnectError("refused"))
    gateway = script.gateway()
    # When three sends are tried
    results = [gateway.create_mass_send("alice", ["c1"], "hi", "k") for _ in range(3)]
    # Then all are transient; only the first two may have had an effect
    assert [r.delivery for r in results] == [Delivery.TRANSIENT] * 3
    assert [r.reason for r in results] == ["network: ReadTimeout (ambiguous)",
                                           "http 502 (ambiguous)", "network: ConnectError"]


# -- tokens ---------------------------------------------------------------------------------

@pytest.mark.parametrize("code", [40014, 42001])
def test_a_refused_token_is_refreshed_once_and_the_call_repeated(code: int) -> None:
    # Given WeCom refuses the cached token once, then accepts
    script = Scripted(errcode(code), created("msg-9"))
    # When a mass send is created
    task = script.gateway().create_mass_send("alice", ["c1"], "hi", "k")
    # Then a fresh token was fetched and used
    assert task.delivery is Delivery.ACCEPTED and task.task_id == "msg-9"
    assert script.tokens_issued == 2
    assert script.requests[-1].url.params["access_token"] == "tok-2"


def test_a_token_refused_twice_is_transient_not_an_endless_refresh() -> None:
    # Given WeCom refuses every token
    script = Scripted(errcode(42001), errcode(42001))
    # When a mass send is created
    task = script.gateway().create_mass_send("alice", ["c1"], "hi", "k")
    # Then it is transient after exactly one refresh
    assert task.delivery is Delivery.TRANSIENT
    assert script.tokens_issued == 2


def test_wrong_credentials_refuse_without_calling_the_api() -> None:
    # Given gettoken refuses the secret
    def refuse(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/cgi-bin/gettoken"
        return errcode(40001)

    gateway = WeComCampaignGateway("http://wecom.test", "wwcorp", "wrong",
                                   transport=httpx.MockTransport(refuse))
    # When a mass send is created
    task = gateway.create_mass_send("alice", ["c1"], "hi", "k")
    # Then it is refused and says the token was the problem
    assert task.delivery is Delivery.REFUSED
    assert task.reason == "token: errcode 40001: invalid secret"


def test_direct_messages_use_a_mini_program_token_not_the_corp_token() -> None:
    # Given a client with both credentials
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/cgi-bin/token":
            return httpx.Response(200, json={"access_token": "mp-tok", "expires_in": 7200})
        return errcode(0, msgid=42)

    gateway = WeComCampaignGateway("http://wecom.test", "wwcorp", "s3cret", app_id="wxapp",
                                   app_secret="app-s3cret", transport=httpx.MockTransport(answer))
    # When a direct message is sent
    result = gateway.send_direct("mini_program", "o-1", "tpl", {"thing1": "春季上新"}, "key")
    # Then WeChat's token request and the subscribe API were used, in WeChat's shape
    assert (result.delivery, result.message_id) == (Delivery.ACCEPTED, "42")
    token_request, send = seen
    assert dict(token_request.url.params) == {"grant_type": "client_credential",
                                              "appid": "wxapp", "secret": "app-s3cret"}
    assert send.url.path == "/cgi-bin/message/subscribe/send"
    assert send.url.params["access_token"] == "mp-tok"
    assert json.loads(send.content) == {"touser": "o-1", "template_id": "tpl",
                                        "data": {"thing1": {"value": "春季上新"}}}


def test_direct_messages_on_an_unknown_or_unconfigured_channel_are_refused() -> None:
    # Given a client without mini-program credentials
    gateway = WeComCampaignGateway("http://wecom.test", "wwcorp", "s3cret",
                                   transport=httpx.MockTransport(Scripted()))
    # When / Then
    assert gateway.send_direct("fax", "o-1", "t", {}, "k").reason == "unsupported channel"
    assert gateway.send_direct("sms", "+8613800138000", "t", {}, "k").reason == \
        "sms channel not configured"
    assert gateway.send_direct("mini_program", "o-1", "t", {}, "k").reason == \
        "direct channel not configured"


# -- mass sends: shape, splitting, dedupe ---------------------------------------------------

def test_a_mass_send_has_wecoms_shape_and_carries_the_dedupe_key_only_when_asked() -> None:
    # Given two clients, one sending the dedupe key as an extension field
    script = Scripted(created("m-1", fail_list=["c9"]), created("m-2"))
    plain, extended = script.gateway(), script.gateway(send_dedupe_key=True)
    # When each creates a task
    task = plain.create_mass_send("alice", ["c2", "c1", "c9", "c1"], "上新了", "k1")
    extended.create_mass_send("alice", ["c1"], "上新了", "k2")
    # Then the body is add_msg_template's, recipients de-duplicated and sorted
    first, second = script.bodies()
    assert script.requests[0].url.path == "/cgi-bin/externalcontact/add_msg_template"
    assert first == {"chat_type": "single", "sender": "alice",
                     "external_userid": ["c1", "c2", "c9"], "allow_select": False,
                     "text": {"content": "上新了"}}
    assert second["dedupe_key"] == "k2"
    # And WeCom's fail_list is reported as refused at creation
    assert (task.task_id, tuple(task.refused), tuple(task.task_ids)) == ("m-1", ("c9",), ("m-1",))


def test_a_list_over_10000_is_split_into_deterministic_keyed_parts() -> None:
    # Given 25,000 recipients, in two different orders
    recipients = [f"c{n:05d}" for n in range(25_000)]
    shuffled = random.Random(7).sample(recipients, len(recipients))
    # When they are split
    parts = split_recipients(recipients, "camp:1:alice")
    # Then three parts of at most 10,000, keyed by position, the same for any order
    assert [key for key, _ in parts] == ["camp:1:alice/1of3", "camp:1:alice/2of3",
                                         "camp:1:alice/3of3"]
    assert [len(p) for _, p in parts] == [10_000, 10_000, 5_000]
    assert split_recipients(shuffled, "camp:1:alice") == parts
    assert split_recipients(recipients[:10], "k") == [("k", recipients[:10])]


def test_a_large_mass_send_creates_one_task_per_part_with_each_parts_key() -> None:
    # Given WeCom accepts every part
    script = Scripted(echo_created, echo_created, echo_created)
    recipients = [f"c{n:05d}" for n in range(MAX_RECIPIENTS_PER_TASK * 2 + 1)]
    # When 20,001 recipients are sent to
    task = script.gateway(send_dedupe_key=True).create_mass_send("alice", recipients, "hi", "k")
    # Then three calls, none over the limit, each with its part's key; every msgid returned
    bodies = script.bodies()
    assert [len(b["external_userid"]) for b in bodies] == [10_000, 10_000, 1]
    assert [b["dedupe_key"] for b in bodies] == ["k/1of3", "k/2of3", "k/3of3"]
    assert task.delivery is Delivery.ACCEPTED
    assert tuple(task.task_ids) == ("msg-c00000", "msg-c10000", "msg-c20000")
    assert task.task_id == "msg-c00000"


def test_a_partly_created_send_keeps_the_msgids_created_before_the_failure() -> None:
    # Given part 1 is accepted, part 2 is rate-limited
    script = Scripted(echo_created, errcode(45009))
    gateway = script.gateway()
    recipients = [f"c{n:05d}" for n in range(MAX_RECIPIENTS_PER_TASK + 5)]
    # When the send is tried
    first = gateway.create_mass_send("alice", recipients, "hi", "k")
    # Then the answer is rate-limited but names the task already created
    assert first.delivery is Delivery.RATE_LIMITED
    assert tuple(first.task_ids) == ("msg-c00000",)
    assert len(script.requests) == 2


def test_the_client_remembers_nothing_a_repeated_request_calls_wecom_again() -> None:
    # Given a task created once
    script = Scripted(created("m-1"), created("m-2"))
    gateway = script.gateway()
    first = gateway.create_mass_send("alice", ["c1", "c2"], "hi", "k")
    # When the same request is repeated with the same key
    again = gateway.create_mass_send("alice", ["c2", "c1"], "hi", "k")
    # Then WeCom was called twice (exactly-once is the caller's: workers.send_intents)
    assert len(script.requests) == 2
    assert (first.task_id, again.task_id) == ("m-1", "m-2")
    assert again.delivery is Delivery.ACCEPTED


def test_the_providers_duplicate_mark_is_reported_as_duplicate() -> None:
    # Given the provider (the fake) recognises the key from an earlier, lost answer
    script = Scripted(created("m-1", duplicate=True), errcode(0, msgid=5, duplicate=True))
    gateway = script.gateway(send_dedupe_key=True)
    # When the send and a direct message are retried
    task = gateway.create_mass_send("alice", ["c1"], "hi", "k")
    direct = gateway.send_direct("mini_program", "o-1", "tpl", {}, "d")
    # Then both are DUPLICATE with the first answer's ids
    assert (task.delivery, task.task_id) == (Delivery.DUPLICATE, "m-1")
    assert (direct.delivery, direct.message_id) == (Delivery.DUPLICATE, "5")


def test_a_mass_send_without_recipients_or_sender_is_refused_without_a_call() -> None:
    # Given / When / Then
    gateway = Scripted().gateway()
    assert gateway.create_mass_send("alice", [], "hi", "k").delivery is Delivery.REFUSED
    assert gateway.create_mass_send("", ["c1"], "hi", "k").delivery is Delivery.REFUSED


# -- results --------------------------------------------------------------------------------

SENT_AT = 1_760_000_000  # a sent recipient's send_time, as WeCom reports it


def page(items: list[tuple[str, int]], cursor: str = "") -> httpx.Response:
    return errcode(0, next_cursor=cursor, send_list=[
        {"external_userid": r, "userid": "alice", "status": s,
         **({"send_time": SENT_AT} if s == 1 else {})} for r, s in items])


def test_results_are_read_page_by_page_following_the_cursor() -> None:
    # Given three pages of results
    script = Scripted(page([("c1", 1), ("c2", 2)], "p2"), page([("c3", 3)], "p3"),
                      page([("c4", 0)]))
    # When the task's result is read
    result = script.gateway(page_size=2).mass_send_result("m-1", "alice")
    # Then every page was asked for with the previous cursor, and statuses mapped
    bodies = script.bodies()
    assert script.requests[0].url.path == "/cgi-bin/externalcontact/get_groupmsg_send_result"
    assert bodies[0] == {"msgid": "m-1", "userid": "alice", "limit": 2}
    assert [b.get("cursor") for b in bodies] == [None, "p2", "p3"]
    assert result.confirmed
    assert result.statuses == {"c1": RecipientStatus.SENT, "c2": RecipientStatus.NOT_FRIEND,
                               "c3": RecipientStatus.QUOTA_EXCEEDED,
                               "c4": RecipientStatus.PENDING}
    assert result.sent_at == datetime.fromtimestamp(SENT_AT, UTC)  # when the member sent it


def test_with_no_recipient_sent_the_members_send_time_is_read_from_the_task() -> None:
    # Given a confirmed task whose only recipient already had the period's mass messages
    script = Scripted(page([("c1", 3)]), errcode(0, next_cursor="", task_list=[
        {"userid": "bob", "status": 0}, {"userid": "alice", "status": 2,
                                         "send_time": SENT_AT + 5}]))
    # When its result is read
    result = script.gateway().mass_send_result("m-1", "alice")
    # Then the member's send time comes from get_groupmsg_task
    assert script.requests[1].url.path == "/cgi-bin/externalcontact/get_groupmsg_task"
    assert result.statuses == {"c1": RecipientStatus.QUOTA_EXCEEDED}
    assert result.sent_at == datetime.fromtimestamp(SENT_AT + 5, UTC)


def test_an_unconfirmed_task_is_pending_and_an_expired_one_is_expired() -> None:
    # Given a task not confirmed yet, then one the fake says expired
    script = Scripted(page([("c1", 0)]), errcode(0, next_cursor="", task_expired=True,
                                                 send_list=[{"external_userid": "c1",
                                                             "status": 0}]))
    gateway = script.gateway()
    # When the results are read
    pending = gateway.mass_send_result("m-1", "alice")
    expired = gateway.mass_send_result("m-1", "alice")
    # Then
    assert (pending.confirmed, pending.statuses) == (False, {"c1": RecipientStatus.PENDING})
    assert (expired.confirmed, expired.statuses) == (False, {"c1": RecipientStatus.EXPIRED})


@pytest.mark.parametrize(("answer", "delivery"), [
    (errcode(45009), Delivery.RATE_LIMITED), (httpx.Response(503), Delivery.TRANSIENT),
    (errcode(40058), Delivery.REFUSED), (httpx.ReadTimeout("slow"), Delivery.TRANSIENT),
])
def test_a_result_that_cannot_be_read_raises_a_typed_error(answer: httpx.Response | Exception,
                                                           delivery: Delivery) -> None:
    # Given the first page reads fine and the second fails
    script = Scripted(page([("c1", 1)], "p2"), answer)
    # When / Then the failure says whether to retry
    with pytest.raises(ResultUnavailable) as raised:
        script.gateway().mass_send_result("m-1", "alice")
    assert raised.value.delivery is delivery


def test_a_repeating_cursor_stops_the_read_instead_of_looping() -> None:
    # Given a provider that hands out the same cursor twice
    script = Scripted(page([("c1", 1)], "same"), page([("c2", 1)], "same"))
    # When / Then
    with pytest.raises(ResultUnavailable, match="cursor repeated"):
        script.gateway().mass_send_result("m-1", "alice")


# -- logs -----------------------------------------------------------------------------------

def test_logs_never_show_recipients_texts_tokens_or_secrets(
        caplog: pytest.LogCaptureFixture) -> None:
    # Given every logger at DEBUG, and calls that succeed, fail and are rate-limited
    caplog.set_level(logging.DEBUG)
    script = Scripted(created("m-1"), errcode(45009), errcode(43101), page([("wm-cust-1", 1)]))
    gateway = script.gateway()
    # When a mass send, a split send, a direct message and a result read run
    gateway.create_mass_send("alice", ["wm-cust-1"], "秘密优惠", "k1")
    gateway.create_mass_send("alice", ["wm-cust-2"], "秘密优惠", "k2")
    gateway.send_direct("mini_program", "o-openid-1", "tpl", {"thing": "秘密优惠"}, "k3")
    gateway.mass_send_result("m-1", "alice")
    # Then the log names the APIs but none of the personal data or credentials
    text = caplog.text
    assert "add_msg_template" in text
    for secret in ("wm-cust-1", "wm-cust-2", "o-openid-1", "秘密优惠", "tok-1", "tok-2",
                   "s3cret", "app-s3cret"):
        assert secret not in text
