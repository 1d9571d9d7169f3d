"""The campaign gateway against WeCom and WeChat: mass-send tasks and subscribe messages.

* ``create_mass_send`` → ``externalcontact/add_msg_template`` (``chat_type`` single, one
  ``sender``). WeCom takes at most 10,000 ``external_userid`` per call, so the recipients are
  de-duplicated, **sorted** and cut into parts of 10,000: the same set gives the same parts in
  any order. Part *i* of *n* is keyed ``{dedupe_key}/{i}of{n}`` (a single part keeps the key).
  The parts are created in order and the first one that fails stops the call: its answer is
  returned with the msgids created so far (``MassSendTask.task_ids``).
* ``mass_send_result`` → ``externalcontact/get_groupmsg_send_result`` per (msgid, sender),
  following ``next_cursor`` to the end. Status 0 → PENDING, 1 → SENT, 2 → NOT_FRIEND,
  3 → QUOTA_EXCEEDED. The task counts as confirmed once any recipient left status 0.
* ``send_direct`` (channel ``"mini_program"``) → WeChat's ``cgi-bin/message/subscribe/send``
  (``touser``, ``template_id``, ``data``) with a mini-program access token.

Every answer is classified (:data:`ERRCODES`): 0 → ACCEPTED; 45009 / 45011 / 45033 and
HTTP 429 → RATE_LIMITED with ``retry_after`` (the ``Retry-After`` header, else
``rate_limit_backoff``); -1, HTTP 5xx / 408, garbled replies and network errors →
TRANSIENT; every other errcode (40003, 41001, 43101, …) and HTTP 4xx → REFUSED. A token
refused with 40014 / 42001 is fetched again once (:class:`adapters.wecom_client.WeComSession`).

**Dedupe keys, and what WeCom does not give us.** Neither ``add_msg_template`` nor
``subscribe/send`` has a client dedupe key (unlike the Official Account mass send's
``clientmsgid``). The client makes a repeated key safe in two layers:

1. In process: the accepted answer for each key is remembered (a bounded LRU,
   ``memo_size``) and a repeated key returns it as DUPLICATE without calling WeCom. A key
   reused for a *different* request is REFUSED (a bug in the caller's key derivation).
2. At the provider: with ``send_dedupe_key=True`` the key travels as an extension field
   ``dedupe_key`` in the JSON body. The local fake (:mod:`fakes.campaigns`) honours
   it: the same key gets the first answer back, marked ``"duplicate": true``, and nothing
   is sent twice, even after a lost reply. Real WeCom ignores unknown fields at best, so the
   field is off by default and only turned on for the fake.

**Remaining risk against real WeCom**: an *ambiguous* failure — a read timeout, a dropped
connection or an HTTP 5xx after the request left — may hide a task WeCom created. Those
answers are TRANSIENT with a reason ending in ``(ambiguous)``; a retry then creates a
**second task** for the sender (a second send to the customer if the staff member confirms
both, and a second charge on the customer's monthly quota). Callers must record each msgid
as soon as it is returned (``task_ids``, also for partial answers) and, after an ambiguous
failure, should reconcile before retrying — e.g. list the sender's recent tasks with
``get_groupmsg_list_v2`` and match on creation time and text, or cancel the stray task with
``cancel_groupmsg_send`` — none of which is implemented here. Direct subscribe messages
have the same gap: after a lost reply a one-time grant is already used, so the retry is
refused with 43101 although the customer *did* get the message (recorded as REFUSED, not
sent twice); with a long-term subscription the retry sends a second message.

WeCom also documents no expiry of an unconfirmed task. The fake expires tasks and says so
with an extension field (``task_expired``), read here as EXPIRED; against real WeCom a task
stays PENDING and the campaign must apply its own confirmation deadline.

Nothing here logs recipients, texts, access tokens or secrets (request URLs carry the
token and the secret, so ``httpx``'s request log is redacted); reasons carry errcodes only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, NamedTuple, TypeVar

import httpx

from adapters.campaign_gateway import (
    BatchRecipient,
    Delivery,
    DirectResult,
    MassSendTask,
    RecipientStatus,
    ResultUnavailable,
    TaskResult,
)
from adapters.sms_client import TencentSms
from adapters.wecom_client import Reply, TokenRefused, WeComSession

log = logging.getLogger(__name__)

ADD_MSG_TEMPLATE = "/cgi-bin/externalcontact/add_msg_template"
GET_SEND_RESULT = "/cgi-bin/externalcontact/get_groupmsg_send_result"
SUBSCRIBE_SEND = "/cgi-bin/message/subscribe/send"
WECHAT_TOKEN_PATH = "/cgi-bin/token"  # noqa: S105 - a URL path, not a password
DIRECT_CHANNEL = "mini_program"  # the campaign channel (domain.restraint.CHANNELS)
#: WeCom's documented maximum of ``external_userid`` per ``add_msg_template`` call.
MAX_RECIPIENTS_PER_TASK = 10_000
#: ``get_groupmsg_send_result`` pages: WeCom allows at most 1,000 per page.
MAX_PAGE_SIZE = 1_000

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

_STATUSES = {0: RecipientStatus.PENDING, 1: RecipientStatus.SENT,
             2: RecipientStatus.NOT_FRIEND, 3: RecipientStatus.QUOTA_EXCEEDED}
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


def split_recipients(recipients: Sequence[str], dedupe_key: str,
                     size: int = MAX_RECIPIENTS_PER_TASK) -> list[tuple[str, list[str]]]:
    """De-duplicated, sorted recipients cut into keyed parts of at most ``size``."""
    unique = sorted(set(recipients))
    parts = [unique[i:i + size] for i in range(0, len(unique), size)]
    if len(parts) == 1:
        return [(dedupe_key, parts[0])]
    return [(f"{dedupe_key}/{n}of{len(parts)}", part) for n, part in enumerate(parts, 1)]


_Answer = TypeVar("_Answer", MassSendTask, DirectResult)


class _Memo:
    """Accepted answers per dedupe key (bounded LRU), with the request's fingerprint."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._answers: OrderedDict[str, tuple[str, MassSendTask | DirectResult]] = OrderedDict()

    def get(self, key: str, fingerprint: str) -> tuple[bool, MassSendTask | DirectResult | None]:
        """(known key, answer): an answer of None means the key was used for another request."""
        with self._lock:
            found = self._answers.get(key)
            if found is None:
                return False, None
            self._answers.move_to_end(key)
            stored_fingerprint, answer = found
            return True, answer if stored_fingerprint == fingerprint else None

    def put(self, key: str, fingerprint: str, answer: MassSendTask | DirectResult) -> None:
        if self._size <= 0:
            return
        with self._lock:
            self._answers[key] = (fingerprint, answer)
            self._answers.move_to_end(key)
            while len(self._answers) > self._size:
                self._answers.popitem(last=False)


def _fingerprint(*parts: Any) -> str:
    encoded = json.dumps(parts, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


class WeComCampaignGateway:
    """:class:`adapters.campaign_gateway.CampaignGateway` against WeCom (and WeChat for
    direct subscribe messages). Thread-safe; close it with :meth:`close`.

    ``app_id`` / ``app_secret`` configure the mini-program (``direct_base_url``, default
    the WeCom base — the fake serves both); without them direct sends are REFUSED.
    ``sms`` (:class:`adapters.sms_client.TencentSms`) sends the ``sms`` channel in batches;
    without it SMS sends are REFUSED ("sms channel not configured").
    """

    def __init__(self, base_url: str, corp_id: str, corp_secret: str, *,
                 app_id: str | None = None, app_secret: str | None = None,
                 direct_base_url: str | None = None, send_dedupe_key: bool = False,
                 timeout: float = 5.0, transport: httpx.BaseTransport | None = None,
                 clock: Any = time.monotonic, max_recipients: int = MAX_RECIPIENTS_PER_TASK,
                 page_size: int = MAX_PAGE_SIZE, rate_limit_backoff: float = 1.0,
                 memo_size: int = 10_000, sms: TencentSms | None = None) -> None:
        if not 1 <= max_recipients <= MAX_RECIPIENTS_PER_TASK:
            raise ValueError(f"max_recipients must be within 1..{MAX_RECIPIENTS_PER_TASK}")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be within 1..{MAX_PAGE_SIZE}")
        self._wecom = WeComSession(base_url, {"corpid": corp_id, "corpsecret": corp_secret},
                                   timeout=timeout, transport=transport, clock=clock)
        self._direct: WeComSession | None = None
        if app_id and app_secret:
            self._direct = WeComSession(
                direct_base_url or base_url,
                {"grant_type": "client_credential", "appid": app_id, "secret": app_secret},
                token_path=WECHAT_TOKEN_PATH, timeout=timeout, transport=transport, clock=clock)
        self._send_dedupe_key = send_dedupe_key
        self._max_recipients = max_recipients
        self._page_size = page_size
        self._backoff = rate_limit_backoff
        self._memo = _Memo(memo_size)
        self._sms = sms

    def close(self) -> None:
        self._wecom.close()
        if self._sms is not None:
            self._sms.close()
        if self._direct is not None:
            self._direct.close()

    def __enter__(self) -> WeComCampaignGateway:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- calls -----------------------------------------------------------------
    def _call(self, session: WeComSession, path: str, payload: dict[str, Any], *,
              ambiguous: bool) -> tuple[Verdict, Any]:
        try:
            reply = session.call(path, payload)
        except TokenRefused as refused:
            return classify_token_refusal(refused, rate_limit_backoff=self._backoff), None
        except httpx.HTTPError as error:
            return classify_network_error(error, ambiguous=ambiguous), None
        verdict = classify_reply(reply, ambiguous=ambiguous, rate_limit_backoff=self._backoff)
        return verdict, reply.body

    def _remembered(self, key: str, fingerprint: str, kind: type[_Answer],
                    refused: _Answer) -> _Answer | None:
        known, answer = self._memo.get(key, fingerprint)
        if not known:
            return None
        if answer is None:
            return refused
        assert isinstance(answer, kind)
        return replace(answer, delivery=Delivery.DUPLICATE, reason="duplicate dedupe key")

    # -- mass send -------------------------------------------------------------
    def create_mass_send(self, sender: str, recipients: Sequence[str], text: str,
                         dedupe_key: str) -> MassSendTask:
        if not sender or not dedupe_key:
            return MassSendTask(Delivery.REFUSED, "sender and dedupe key are required")
        parts = split_recipients(recipients, dedupe_key, self._max_recipients)
        if not parts:
            return MassSendTask(Delivery.REFUSED, "no recipients")
        task_ids: list[str] = []
        refused: list[str] = []
        all_duplicates = True
        for key, part in parts:
            answer = self._create_part(sender, part, text, key)
            if answer.delivery not in (Delivery.ACCEPTED, Delivery.DUPLICATE):
                log.warning("mass-send part %d of %d not created: %s",
                            len(task_ids) + 1, len(parts), answer.reason)
                return replace(answer, task_id=task_ids[0] if task_ids else None,
                               task_ids=tuple(task_ids), refused=tuple(refused))
            assert answer.task_id is not None
            task_ids.append(answer.task_id)
            refused.extend(answer.refused)
            all_duplicates = all_duplicates and answer.delivery is Delivery.DUPLICATE
        delivery = Delivery.DUPLICATE if all_duplicates else Delivery.ACCEPTED
        return MassSendTask(delivery, "duplicate dedupe key" if all_duplicates else "ok",
                            task_ids[0], tuple(refused), None, tuple(task_ids))

    def _create_part(self, sender: str, part: list[str], text: str, key: str) -> MassSendTask:
        fingerprint = _fingerprint("mass", sender, part, text)
        remembered = self._remembered(
            f"mass:{key}", fingerprint, MassSendTask,
            MassSendTask(Delivery.REFUSED, "dedupe key reused for a different request"))
        if remembered is not None:
            return remembered
        payload: dict[str, Any] = {"chat_type": "single", "sender": sender,
                                   "external_userid": part, "allow_select": False,
                                   "text": {"content": text}}
        if self._send_dedupe_key:
            payload["dedupe_key"] = key
        verdict, body = self._call(self._wecom, ADD_MSG_TEMPLATE, payload, ambiguous=True)
        if verdict.delivery is not Delivery.ACCEPTED:
            return MassSendTask(verdict.delivery, verdict.reason, retry_after=verdict.retry_after)
        msgid = body.get("msgid")
        if not isinstance(msgid, str) or not msgid:
            return MassSendTask(Delivery.TRANSIENT, "reply without msgid (ambiguous)")
        fail_list = body.get("fail_list") or []
        failed = tuple(r for r in fail_list if isinstance(r, str))
        duplicate = body.get("duplicate") is True
        answer = MassSendTask(Delivery.DUPLICATE if duplicate else Delivery.ACCEPTED,
                              "duplicate dedupe key" if duplicate else "ok", msgid, failed,
                              None, (msgid,))
        self._memo.put(f"mass:{key}", fingerprint, answer)
        return answer

    def mass_send_result(self, task_id: str, sender: str) -> TaskResult:
        statuses: dict[str, RecipientStatus] = {}
        expired = False
        cursor = ""
        seen_cursors: set[str] = set()
        while True:
            payload: dict[str, Any] = {"msgid": task_id, "userid": sender,
                                       "limit": self._page_size}
            if cursor:
                payload["cursor"] = cursor
            verdict, body = self._call(self._wecom, GET_SEND_RESULT, payload, ambiguous=False)
            if verdict.delivery is not Delivery.ACCEPTED:
                raise ResultUnavailable(verdict.delivery, verdict.reason, verdict.retry_after)
            for item in body.get("send_list") or []:
                if not isinstance(item, dict) or not isinstance(item.get("external_userid"), str):
                    continue
                code = item.get("status")
                status = _STATUSES.get(code, RecipientStatus.PENDING) if isinstance(code, int) \
                    else RecipientStatus.PENDING
                statuses[item["external_userid"]] = status
            expired = expired or body.get("task_expired") is True
            cursor = body.get("next_cursor") or ""
            if not isinstance(cursor, str) or not cursor:
                break
            if cursor in seen_cursors:
                raise ResultUnavailable(Delivery.TRANSIENT, "result cursor repeated")
            seen_cursors.add(cursor)
        confirmed = any(s is not RecipientStatus.PENDING for s in statuses.values())
        if expired and not confirmed:
            statuses = dict.fromkeys(statuses, RecipientStatus.EXPIRED)
        return TaskResult(task_id, confirmed, statuses)

    # -- direct messages -------------------------------------------------------
    def send_direct(self, channel: str, recipient: str, template_id: str,
                    data: dict[str, str], dedupe_key: str) -> DirectResult:
        if channel == "sms":
            return self.send_direct_batch(
                channel, [BatchRecipient(recipient, tuple(data.values()), dedupe_key)],
                template_id, dedupe_key)[0]
        if channel != DIRECT_CHANNEL:
            return DirectResult(Delivery.REFUSED, "unsupported channel")
        if self._direct is None:
            return DirectResult(Delivery.REFUSED, "direct channel not configured")
        if not recipient or not dedupe_key:
            return DirectResult(Delivery.REFUSED, "recipient and dedupe key are required")
        fingerprint = _fingerprint("direct", recipient, template_id, data)
        remembered = self._remembered(
            f"direct:{dedupe_key}", fingerprint, DirectResult,
            DirectResult(Delivery.REFUSED, "dedupe key reused for a different request"))
        if remembered is not None:
            return remembered
        payload: dict[str, Any] = {"touser": recipient, "template_id": template_id,
                                   "data": {k: {"value": v} for k, v in data.items()}}
        if self._send_dedupe_key:
            payload["dedupe_key"] = dedupe_key
        verdict, body = self._call(self._direct, SUBSCRIBE_SEND, payload, ambiguous=True)
        if verdict.delivery is not Delivery.ACCEPTED:
            return DirectResult(verdict.delivery, verdict.reason, retry_after=verdict.retry_after)
        msgid = body.get("msgid")
        duplicate = body.get("duplicate") is True
        answer = DirectResult(Delivery.DUPLICATE if duplicate else Delivery.ACCEPTED,
                              "duplicate dedupe key" if duplicate else "ok",
                              str(msgid) if msgid is not None else None)
        self._memo.put(f"direct:{dedupe_key}", fingerprint, answer)
        return answer

    def send_direct_batch(self, channel: str, recipients: Sequence[BatchRecipient],
                          template_id: str, dedupe_key: str) -> list[DirectResult]:
        """``sms``: ``SendSms`` batches of up to 200 numbers; ``mini_program``: one
        subscribe message per recipient (its own key, params as ``thing1``, ``thing2``…)."""
        if channel == "sms":
            if self._sms is None:
                return [DirectResult(Delivery.REFUSED, "sms channel not configured")
                        for _ in recipients]
            if not dedupe_key or any(not r.address or not r.key for r in recipients):
                return [DirectResult(Delivery.REFUSED, "recipient and dedupe key are required")
                        for _ in recipients]
            return self._sms.send_batch(recipients, template_id, dedupe_key)
        return [self.send_direct(channel, r.address, template_id,
                                 {f"thing{n}": p for n, p in enumerate(r.params, 1)}, r.key)
                for r in recipients]
