"""The campaign gateway against WeCom and WeChat: mass-send tasks, and the direct channels.

* ``create_mass_send`` → ``externalcontact/add_msg_template`` (``chat_type`` single, one
  ``sender``: the member's UserID). WeCom takes at most 10,000 ``external_userid`` per call,
  so the recipients are de-duplicated, **sorted** and cut into parts of 10,000: the same set
  gives the same parts in any order. The parts are created in order and the first one that
  fails stops the call: its answer is returned with the msgids created so far
  (``MassSendTask.task_ids``).
  With ``chat_type="group"`` the recipients are customer groups (``chat_id_list``, at most
  2,000 per call): the task goes into the sender's groups (客户群群发).
* ``mass_send_result`` → ``externalcontact/get_groupmsg_send_result`` per (msgid, sender),
  following ``next_cursor`` to the end. Status 0 → PENDING, 1 → SENT, 2 → NOT_FRIEND,
  3 → QUOTA_EXCEEDED. The task counts as confirmed once any recipient left status 0.
* ``list_mass_sends`` → ``externalcontact/get_groupmsg_list_v2`` (``creator``, the time
  window, ``filter_type`` 0: the corp's tasks; pages of 100 to the end);
  ``list_member_mass_sends`` the same with ``filter_type`` 1 (``create_type`` 1: the tasks
  members created in the WeCom client), to customers or (``chat_type`` group) into groups.
* ``cancel_mass_send`` → ``cancel_groupmsg_send``; ``remind_mass_send`` →
  ``remind_groupmsg_send`` (WeCom allows 3 reminders per task per 24 hours).
* ``send_direct`` / ``send_direct_batch``: channel ``"mini_program"`` → subscribe messages
  (:class:`adapters.miniprogram_client.MiniProgramMessages`), channel ``"sms"`` → Tencent
  Cloud SMS (:class:`adapters.sms_client.TencentSms`).

Answers are classified as :mod:`adapters.campaign_replies` says (errcodes, HTTP statuses,
network errors, a token refused twice).

**No dedupe key, no memory.** Neither ``add_msg_template`` nor ``subscribe/send`` nor
``SendSms`` has a client dedupe key, and this client remembers nothing between calls: a
repeated call is a second request. An *ambiguous* failure — a read timeout, a dropped
connection or an HTTP 5xx after the request left — may hide a task WeCom created; its reason
ends in ``(ambiguous)``. The caller records an intent before each create and, after an
ambiguous answer (or a crash), lists the sender's tasks (``list_mass_sends``) to find it
before any retry; where the API cannot be listed (subscribe messages, SMS) the outcome is
UNKNOWN, never retried (:mod:`workers.send_intents`). With ``send_dedupe_key=True`` the key
travels as an extension field ``dedupe_key`` that the local fake honours only when a test
turns its ``dedupe_extension`` on; real WeCom has no such field.

WeCom documents no expiry of an unconfirmed task. A fake configured with a ``task_ttl``
says so with an extension field (``task_expired``), read here as EXPIRED; against real
WeCom a task stays PENDING until the member confirms it or the platform cancels it.

Nothing here logs recipients, texts, access tokens or secrets (request URLs carry the
token and the secret, so ``httpx``'s request log is redacted); reasons carry errcodes only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx

from adapters.campaign_gateway import (
    BatchRecipient,
    Delivery,
    DirectResult,
    ListedTask,
    MassSendTask,
    RecipientStatus,
    ResultUnavailable,
    TaskAction,
    TaskResult,
)
from adapters.campaign_replies import Verdict, call
from adapters.miniprogram_client import MiniProgramMessages
from adapters.sms_client import TencentSms
from adapters.wecom_client import WeComSession

log = logging.getLogger(__name__)

ADD_MSG_TEMPLATE = "/cgi-bin/externalcontact/add_msg_template"
GET_SEND_RESULT = "/cgi-bin/externalcontact/get_groupmsg_send_result"
LIST_TASKS = "/cgi-bin/externalcontact/get_groupmsg_list_v2"
CANCEL_TASK = "/cgi-bin/externalcontact/cancel_groupmsg_send"
REMIND_TASK = "/cgi-bin/externalcontact/remind_groupmsg_send"
GET_TASK = "/cgi-bin/externalcontact/get_groupmsg_task"
#: ``get_groupmsg_list_v2`` pages hold at most 100 tasks.
LIST_PAGE_SIZE = 100
DIRECT_CHANNEL = "mini_program"  # the campaign channel (domain.restraint.CHANNELS)
#: WeCom's documented maximum of ``external_userid`` per ``add_msg_template`` call.
MAX_RECIPIENTS_PER_TASK = 10_000
#: ... and of ``chat_id_list`` (customer groups) when ``chat_type`` is ``group``.
MAX_GROUPS_PER_TASK = 2_000
#: ``get_groupmsg_send_result`` pages: WeCom allows at most 1,000 per page.
MAX_PAGE_SIZE = 1_000

_STATUSES = {0: RecipientStatus.PENDING, 1: RecipientStatus.SENT,
             2: RecipientStatus.NOT_FRIEND, 3: RecipientStatus.QUOTA_EXCEEDED}


def split_recipients(recipients: Sequence[str], dedupe_key: str,
                     size: int = MAX_RECIPIENTS_PER_TASK) -> list[tuple[str, list[str]]]:
    """De-duplicated, sorted recipients cut into keyed parts of at most ``size``."""
    unique = sorted(set(recipients))
    parts = [unique[i:i + size] for i in range(0, len(unique), size)]
    if len(parts) == 1:
        return [(dedupe_key, parts[0])]
    return [(f"{dedupe_key}/{n}of{len(parts)}", part) for n, part in enumerate(parts, 1)]


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
                 sms: TencentSms | None = None) -> None:
        if not 1 <= max_recipients <= MAX_RECIPIENTS_PER_TASK:
            raise ValueError(f"max_recipients must be within 1..{MAX_RECIPIENTS_PER_TASK}")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be within 1..{MAX_PAGE_SIZE}")
        self._wecom = WeComSession(base_url, {"corpid": corp_id, "corpsecret": corp_secret},
                                   timeout=timeout, transport=transport, clock=clock)
        self.corp_id = corp_id  # external user ids are this corp's (wecom_external:<corp>)
        self._send_dedupe_key = send_dedupe_key
        self._max_recipients = max_recipients
        self._page_size = page_size
        self._backoff = rate_limit_backoff
        self._direct: MiniProgramMessages | None = None
        if app_id and app_secret:
            self._direct = MiniProgramMessages(
                direct_base_url or base_url, app_id, app_secret,
                send_dedupe_key=send_dedupe_key, timeout=timeout, transport=transport,
                clock=clock, rate_limit_backoff=rate_limit_backoff)
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

    def _call(self, path: str, payload: dict[str, Any], *,
              ambiguous: bool) -> tuple[Verdict, Any]:
        return call(self._wecom, path, payload, ambiguous=ambiguous,
                    rate_limit_backoff=self._backoff)

    # -- mass send -------------------------------------------------------------
    def create_mass_send(self, sender: str, recipients: Sequence[str], text: str,
                         dedupe_key: str, chat_type: str = "single") -> MassSendTask:
        if not sender or not dedupe_key:
            return MassSendTask(Delivery.REFUSED, "sender and dedupe key are required")
        group = chat_type == "group"
        parts = split_recipients(recipients, dedupe_key, min(
            self._max_recipients, MAX_GROUPS_PER_TASK) if group else self._max_recipients)
        if not parts:
            return MassSendTask(Delivery.REFUSED, "no recipients")
        task_ids: list[str] = []
        refused: list[str] = []
        all_duplicates = True
        for key, part in parts:
            answer = self._create_part(sender, part, text, key, group)
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

    def _create_part(self, sender: str, part: list[str], text: str, key: str,
                     group: bool = False) -> MassSendTask:
        payload: dict[str, Any] = {"chat_type": "group" if group else "single",
                                   "sender": sender, "allow_select": False,
                                   "chat_id_list" if group else "external_userid": part,
                                   "text": {"content": text}}
        if self._send_dedupe_key:
            payload["dedupe_key"] = key
        verdict, body = self._call(ADD_MSG_TEMPLATE, payload, ambiguous=True)
        if verdict.delivery is not Delivery.ACCEPTED:
            return MassSendTask(verdict.delivery, verdict.reason, retry_after=verdict.retry_after)
        msgid = body.get("msgid")
        if not isinstance(msgid, str) or not msgid:
            return MassSendTask(Delivery.TRANSIENT, "reply without msgid (ambiguous)")
        fail_list = body.get("fail_list") or []
        failed = tuple(r for r in fail_list if isinstance(r, str))
        duplicate = body.get("duplicate") is True
        return MassSendTask(Delivery.DUPLICATE if duplicate else Delivery.ACCEPTED,
                            "duplicate dedupe key" if duplicate else "ok", msgid, failed,
                            None, (msgid,))

    def mass_send_result(self, task_id: str, sender: str) -> TaskResult:
        statuses: dict[str, RecipientStatus] = {}
        sent_times: list[int] = []
        expired = False
        cursor = ""
        seen_cursors: set[str] = set()
        while True:
            payload: dict[str, Any] = {"msgid": task_id, "userid": sender,
                                       "limit": self._page_size}
            if cursor:
                payload["cursor"] = cursor
            verdict, body = self._call(GET_SEND_RESULT, payload, ambiguous=False)
            if verdict.delivery is not Delivery.ACCEPTED:
                raise ResultUnavailable(verdict.delivery, verdict.reason, verdict.retry_after)
            for item in body.get("send_list") or []:
                # a customer's external_userid, or a group's chat_id (a task into groups)
                recipient = item.get("external_userid", item.get("chat_id")) \
                    if isinstance(item, dict) else None
                if not isinstance(recipient, str):
                    continue
                code = item.get("status")
                status = _STATUSES.get(code, RecipientStatus.PENDING) if isinstance(code, int) \
                    else RecipientStatus.PENDING
                statuses[recipient] = status
                at = item.get("send_time")
                if isinstance(at, int) and not isinstance(at, bool) and at > 0:
                    sent_times.append(at)
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
        sent_at = None
        if confirmed:  # a recipient's send_time, else the member's (get_groupmsg_task)
            at = max(sent_times) if sent_times else self._member_send_time(task_id, sender)
            sent_at = None if at is None else datetime.fromtimestamp(at, UTC)
        return TaskResult(task_id, confirmed, statuses, sent_at)

    def _member_send_time(self, task_id: str, sender: str) -> int | None:
        """When ``sender`` sent their part of the task (``get_groupmsg_task``: status 2 and
        its ``send_time``), None if not reported. Read when no recipient got the message
        (all status 2 or 3) and so none carries a ``send_time``."""
        cursor = ""
        for _ in range(100):  # pages of 1,000 members
            payload: dict[str, Any] = {"msgid": task_id, "limit": 1000}
            if cursor:
                payload["cursor"] = cursor
            verdict, body = self._call(GET_TASK, payload, ambiguous=False)
            if verdict.delivery is not Delivery.ACCEPTED:
                raise ResultUnavailable(verdict.delivery, verdict.reason, verdict.retry_after)
            for item in body.get("task_list") or []:
                if isinstance(item, dict) and item.get("userid") == sender:
                    at = item.get("send_time")
                    return at if isinstance(at, int) and not isinstance(at, bool) \
                        and at > 0 else None
            cursor = body.get("next_cursor") or ""
            if not isinstance(cursor, str) or not cursor:
                return None
        return None

    def list_mass_sends(self, sender: str, start: float, end: float,
                        chat_type: str = "single") -> list[ListedTask]:
        return self._list(start, end, {"creator": sender, "filter_type": 0}, chat_type)

    def list_member_mass_sends(self, start: float, end: float,
                               chat_type: str = "single") -> list[ListedTask]:
        return [replace(t, by_member=True)
                for t in self._list(start, end, {"filter_type": 1}, chat_type)]

    def _list(self, start: float, end: float, which: dict[str, Any],
              chat_type: str = "single") -> list[ListedTask]:
        """``get_groupmsg_list_v2`` over every page: ``which`` filters (``creator``,
        ``filter_type`` 0 the corp's tasks, 1 the members' own)."""
        listed: list[ListedTask] = []
        cursor = ""
        seen: set[str] = set()
        while True:
            payload: dict[str, Any] = {"chat_type": chat_type, "start_time": int(start),
                                       "end_time": int(end) + 1, **which,
                                       "limit": LIST_PAGE_SIZE}
            if cursor:
                payload["cursor"] = cursor
            verdict, body = self._call(LIST_TASKS, payload, ambiguous=False)
            if verdict.delivery is not Delivery.ACCEPTED:
                raise ResultUnavailable(verdict.delivery, verdict.reason, verdict.retry_after)
            for item in body.get("group_msg_list") or []:
                if not isinstance(item, dict) or not isinstance(item.get("msgid"), str):
                    continue
                text = item.get("text")
                content = text.get("content") if isinstance(text, dict) else None
                attachments = item.get("attachments")
                listed.append(ListedTask(
                    item["msgid"], str(item.get("creator") or ""),
                    float(item.get("create_time") or 0),
                    content if isinstance(content, str) else "",
                    tuple(a for a in attachments if isinstance(a, dict))
                    if isinstance(attachments, list) else ()))
            cursor = body.get("next_cursor") or ""
            if not isinstance(cursor, str) or not cursor:
                return listed
            if cursor in seen:
                raise ResultUnavailable(Delivery.TRANSIENT, "list cursor repeated")
            seen.add(cursor)

    def cancel_mass_send(self, task_id: str) -> TaskAction:
        verdict, _ = self._call(CANCEL_TASK, {"msgid": task_id}, ambiguous=False)
        return TaskAction(verdict.delivery, verdict.reason)

    def remind_mass_send(self, task_id: str) -> TaskAction:
        verdict, _ = self._call(REMIND_TASK, {"msgid": task_id}, ambiguous=False)
        return TaskAction(verdict.delivery, verdict.reason)

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
        return self._direct.send(recipient, template_id, data, dedupe_key)

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
