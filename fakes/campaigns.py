"""The campaign half of the local fake WeCom: mass-send tasks and subscribe messages.

Mounted into :func:`fakes.wecom.create_app` (same server, same access tokens). It does what
WeCom / WeChat document and no more (no dedupe, no auto-confirm, no expiry unless a test
switches them on):

* ``POST /cgi-bin/externalcontact/add_msg_template`` (``chat_type`` single — ``group``, into
  customer groups, is in :mod:`fakes.group_sends` —, ``sender``, at most 10,000
  ``external_userid``, ``text.content`` and/or ``attachments``) creates a **task** for the
  sender and answers its ``msgid`` and a ``fail_list``: ids starting with ``invalid``, and
  customers WeCom delivers through another member, the one who last chatted with them
  (:mod:`fakes.last_chat`). Nothing is sent until the member confirms the task in the WeCom client — in
  the fake, through the control API — or it is cancelled (``cancel_groupmsg_send``); it
  never ends by itself. Senders starting with ``invalid`` get errcode 40003.
* On confirmation each recipient gets status 1 (sent), 2 (in ``not_friends``) or 3 (already
  received the corp's limit of mass messages in the period: ``quota_rule`` ``month`` —
  as many as the month has days —, ``week`` — 7 — or ``day`` — 1 —, Asia/Shanghai time;
  ``monthly_quota`` overrides the month's limit for a test). Each status-1 recipient gets a
  :class:`~fakes.campaign_records.Receipt` with the exact text and attachments.
* ``get_groupmsg_send_result``, ``_list_v2``, ``_task``, ``cancel_groupmsg_send`` and
  ``remind_groupmsg_send`` (3 per task per 24 h): :mod:`fakes.groupmsg`.
* ``POST /cgi-bin/message/subscribe/send`` (``touser``, ``template_id``, ``data``) sends at
  once if the recipient holds a subscription grant for the template (each grant is used by
  one send; ``count`` -1 is a long-term subscription), else errcode 43101.
* Rate limits (token buckets ``rate_burst`` deep, by default one second's worth):
  ``corp_rate`` requests/second over all the APIs → HTTP 429 with ``Retry-After``
  (seconds, decimal); ``sender_rate`` per sender on ``add_msg_template`` → errcode 45009.
* Injected faults (``busy`` → errcode -1, ``http_503``, ``rate_limit`` → 45009,
  ``token_expired`` → 42001 once, ``lost_reply`` → processed, then HTTP 502), optionally only
  for one API (:data:`~fakes.campaign_records.APIS`).

Conveniences a test turns on explicitly: ``dedupe_extension`` (a ``dedupe_key`` in the body
gets the first answer again with ``"duplicate": true`` and sends nothing; with a different
request, errcode 40058 — real WeCom has no such field), ``auto_confirm_after`` (seconds after
creation a task confirms itself) and ``task_ttl`` (seconds after which an unconfirmed task
expires, said with the extension ``"task_expired": true``).

Routes and control API: :mod:`fakes.campaign_routes`; records: :mod:`fakes.campaign_records`.
Memory is bounded: ``max_tasks`` tasks, ``max_receipts`` receipts, ``max_dedupe`` keys (oldest
dropped first) and quota counters for the two latest periods only.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from fakes import group_sends, last_chat
from fakes.campaign_records import (
    APIS,
    CAMPAIGN_FAULTS,
    CONFIG_KEYS,
    MAX_RECIPIENTS,
    NOT_FRIEND,
    NOT_SENT,
    QUOTA_REACHED,
    QUOTA_RULES,
    SENT,
    Answer,
    Receipt,
    ReceiptLog,
    ReplayCache,
    Task,
    TaskExpired,
    error,
    fingerprint,
    period_of,
    request_key,
)
from fakes.rate_limits import TokenBuckets


@dataclass
class FakeCampaigns:
    """The state of the fake's campaign APIs; every method is thread-safe."""

    quota_rule: str = "month"
    monthly_quota: int | None = None  # a test's override of the month's limit
    task_ttl: float | None = None  # WeCom documents no expiry
    auto_confirm_after: float | None = None
    dedupe_extension: bool = False
    corp_rate: float | None = None
    sender_rate: float | None = None
    rate_burst: float | None = None  # bucket depth; None: one second's worth of requests
    not_friends: set[str] = field(default_factory=set)
    group_owners: dict[str, str] = field(default_factory=dict)  # chat_id -> owner's UserID
    last_chatted: dict[str, str] = field(default_factory=dict)  # :mod:`fakes.last_chat`
    max_tasks: int = 10_000
    max_receipts: int = 200_000
    max_dedupe: int = 100_000
    clock: Callable[[], float] = time.time  # business time: quota months, expiry, send_time
    monotonic: Callable[[], float] = time.monotonic  # rate limits
    calls: Counter[str] = field(default_factory=Counter)
    rate_limited: Counter[str] = field(default_factory=Counter)
    _offset: float = 0.0
    _tasks: OrderedDict[str, Task] = field(default_factory=OrderedDict)
    _pending: dict[str, Task] = field(default_factory=dict)
    _quota: dict[str, Counter[str]] = field(default_factory=dict)  # period -> recipient -> n
    _subscriptions: dict[tuple[str, str], int] = field(default_factory=dict)
    _dedupe: ReplayCache = field(default_factory=ReplayCache)
    _receipts: ReceiptLog = field(default_factory=ReceiptLog)
    _faults: deque[tuple[str, str | None]] = field(default_factory=deque)
    _buckets: TokenBuckets = field(default_factory=TokenBuckets)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # -- control ---------------------------------------------------------------
    def now(self) -> float:
        return self.clock() + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Numbers (null clears), ``quota_rule`` (one of :data:`QUOTA_RULES`) and
        ``dedupe_extension`` (a boolean)."""
        keys = (*CONFIG_KEYS, "quota_rule", "dedupe_extension")
        unknown = set(changes) - set(keys)
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)}; expected {list(keys)}")
        with self._lock:
            for key, value in changes.items():
                if key == "quota_rule":
                    if value not in QUOTA_RULES:
                        raise ValueError(f"quota_rule must be one of {list(QUOTA_RULES)}")
                elif key == "dedupe_extension":
                    if not isinstance(value, bool):
                        raise ValueError("dedupe_extension must be true or false")
                elif value is not None and (isinstance(value, bool)
                                            or not isinstance(value, int | float) or value < 0):
                    raise ValueError(f"{key} must be a non-negative number or null")
            for key, value in changes.items():
                setattr(self, key, value if key in ("quota_rule", "dedupe_extension") else
                        None if value is None else
                        int(value) if key == "monthly_quota" else float(value))
            self._buckets.clear()
            return self.config()

    def config(self) -> dict[str, Any]:
        with self._lock:
            return {key: getattr(self, key)
                    for key in (*CONFIG_KEYS, "quota_rule", "dedupe_extension")}

    def set_not_friends(self, external_userids: Iterable[str]) -> None:
        with self._lock:
            self.not_friends = set(external_userids)

    def grant_subscription(self, touser: str, template_id: str, count: int = 1) -> None:
        """``count`` one-time grants more, or -1 for a long-term subscription."""
        with self._lock:
            held = self._subscriptions.get((touser, template_id), 0)
            self._subscriptions[(touser, template_id)] = \
                -1 if count < 0 or held < 0 else held + count

    def inject(self, kind: str, count: int = 1, api: str | None = None) -> None:
        if kind not in CAMPAIGN_FAULTS:
            raise ValueError(f"unknown fault {kind!r}; expected one of {sorted(CAMPAIGN_FAULTS)}")
        if api is not None and api not in APIS:
            raise ValueError(f"unknown api {api!r}; expected one of {sorted(APIS)}")
        with self._lock:
            self._faults.extend([(kind, api)] * count)

    def reset(self) -> None:
        with self._lock:
            for keep in (self._tasks, self._pending, self._quota, self._subscriptions,
                         self._dedupe, self._receipts, self._faults, self.calls,
                         self.rate_limited):
                keep.clear()
            self._buckets.clear()
            self.not_friends = set()
            self.group_owners, self.last_chatted = {}, {}
            self._offset = 0.0

    def confirm(self, msgid: str) -> Task:
        """The sender confirms the task now; confirming twice changes nothing."""
        with self._lock:
            self._settle()
            task = self._tasks.get(msgid)
            if task is None:
                raise KeyError(msgid)
            if task.expired or task.cancelled_at is not None:
                raise TaskExpired(msgid)
            if task.confirmed_at is None:
                self._confirm(task, self.now())
            return task

    def tasks(self) -> list[dict[str, Any]]:
        with self._lock:
            self._settle()
            return [{"msgid": t.msgid, "sender": t.sender, "state": t.state,
                     "recipients": len(t.recipients), "created_at": t.created_at,
                     "confirmed_at": t.confirmed_at, "cancelled_at": t.cancelled_at,
                     "reminders": len(t.reminders), "text": t.text,
                     "attachments": list(t.attachments),
                     "sent": sum(1 for s in t.statuses.values() if s == SENT)}
                    for t in self._tasks.values()]

    def receipts(self, key_prefix: str = "", **equal: str | None) -> list[Receipt]:
        """What reached whom (see :meth:`fakes.campaign_records.ReceiptLog.matching`)."""
        with self._lock:
            self._settle()
            return self._receipts.matching(key_prefix, **equal)

    def per_recipient(self, key_prefix: str = "", **equal: str | None) -> dict[str, int]:
        """How many messages each recipient got (among the receipts matching)."""
        return dict(Counter(r.recipient for r in self.receipts(key_prefix, **equal)))

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"calls": dict(self.calls), "rate_limited": dict(self.rate_limited),
                    "tasks": len(self._tasks), "pending": len(self._pending),
                    "receipts": len(self._receipts), "evicted_receipts": self.evicted_receipts}

    # -- internals (lock held) -------------------------------------------------
    def _settle(self) -> None:
        """Auto-confirm or expire pending tasks whose moment has come (only when a test
        configured ``auto_confirm_after`` or ``task_ttl``)."""
        if self.auto_confirm_after is None and self.task_ttl is None:
            return
        now = self.now()
        for task in list(self._pending.values()):
            expires = math.inf if self.task_ttl is None else task.created_at + self.task_ttl
            confirms = None if self.auto_confirm_after is None else \
                task.created_at + self.auto_confirm_after
            if confirms is not None and confirms < expires and now >= confirms:
                self._confirm(task, confirms)
            elif now >= expires:
                task.expired = True
                del self._pending[task.msgid]

    def _confirm(self, task: Task, at: float) -> None:
        period, limit = period_of(at, self.quota_rule)
        if self.monthly_quota is not None and self.quota_rule == "month":
            limit = self.monthly_quota
        counts = self._quota.setdefault(period, Counter())
        for old in sorted(self._quota)[:-2]:
            del self._quota[old]
        for recipient in task.recipients:
            if task.chat_type == "single" and recipient in self.not_friends:
                task.statuses[recipient] = NOT_FRIEND
            elif counts[recipient] >= limit:
                task.statuses[recipient] = QUOTA_REACHED
            else:
                counts[recipient] += 1
                task.statuses[recipient] = SENT
                task.send_times[recipient] = int(at)
                self._receive(Receipt(recipient, "mass" if task.chat_type == "single"
                                      else "group", task.msgid, task.dedupe_key, at,
                                      task.sender, task.text, task.attachments))
        task.confirmed_at = at
        self._pending.pop(task.msgid, None)

    @property
    def evicted_receipts(self) -> int:
        """Receipts dropped (oldest first) to keep ``max_receipts``."""
        return self._receipts.evicted

    def _keep(self, task: Task) -> None:
        """A new pending task (the oldest dropped beyond ``max_tasks``)."""
        self._tasks[task.msgid] = task
        self._pending[task.msgid] = task
        while len(self._tasks) > self.max_tasks:
            _, dropped = self._tasks.popitem(last=False)
            self._pending.pop(dropped.msgid, None)

    def _receive(self, receipt: Receipt) -> None:
        self._receipts.add(receipt, self.max_receipts)

    def _take_fault(self, api: str) -> str | None:
        for n, (kind, target) in enumerate(self._faults):
            if target is None or target == api:
                del self._faults[n]
                return kind
        return None

    def _enter(self, api: str, token_error: dict[str, Any] | None,
               sender: str | None) -> tuple[Answer | None, str | None]:
        """Faults, the token and rate limits, in that order: an answer ends the call."""
        self.calls[api] += 1
        fault = self._take_fault(api)
        if fault == "busy":
            return error(-1, "system busy"), fault
        if fault == "http_503":
            return (503, {"error": "service unavailable"}, {}), fault
        if fault == "rate_limit":
            return error(45009, "api freq out of limit"), fault
        if fault == "token_expired":
            return error(42001, "access_token expired"), fault
        if token_error is not None:
            return (200, token_error, {}), fault
        now = self.monotonic()
        if self.corp_rate is not None:
            wait = self._buckets.take("corp", self.corp_rate, self._burst(self.corp_rate), now) \
                if self.corp_rate > 0 else math.inf
            if wait > 0:
                self.rate_limited["corp"] += 1
                retry = "3600" if math.isinf(wait) else f"{math.ceil(wait * 1000) / 1000:.3f}"
                return (429, {"error": "too many requests"}, {"Retry-After": retry}), fault
        if self.sender_rate is not None and sender:
            wait = self._buckets.take(f"sender:{sender}", self.sender_rate,
                                      self._burst(self.sender_rate), now) \
                if self.sender_rate > 0 else math.inf
            if wait > 0:
                self.rate_limited["sender"] += 1
                return error(45009, "api freq out of limit"), fault
        return None, fault

    def _burst(self, rate: float) -> float:
        return max(1.0, rate if self.rate_burst is None else self.rate_burst)


    # -- the APIs --------------------------------------------------------------
    def add_msg_template(self, token_error: dict[str, Any] | None, body: Any) -> Answer:
        body = body if isinstance(body, dict) else {}
        sender = body.get("sender")
        with self._lock:
            stop, fault = self._enter("add_msg_template", token_error,
                                      sender if isinstance(sender, str) else None)
            if stop is not None:
                return stop
            recipients = body.get("external_userid")
            text = body.get("text", {}).get("content", "") if isinstance(body.get("text"), dict) \
                else ""
            attachments = body.get("attachments") or []
            chat_type = body.get("chat_type", "single")
            if chat_type not in ("single", "group") or not isinstance(sender, str) \
                    or not sender or not isinstance(text, str) \
                    or not isinstance(attachments, list) or len(attachments) > 9 \
                    or not all(isinstance(a, dict) and a.get("msgtype") for a in attachments) \
                    or not (text or attachments):
                return error(40058, "invalid Request Parameter")
            if chat_type == "group":
                return group_sends.create(self, body, sender, text, attachments, fault)
            if not isinstance(recipients, list) or not recipients \
                    or not all(isinstance(r, str) and r for r in recipients):
                return error(40058, "invalid Request Parameter")
            if len(recipients) > MAX_RECIPIENTS:
                return error(40058, "external_userid exceeds 10000")
            if sender.startswith("invalid"):
                return error(40003, "invalid userid")
            key = request_key(body) if self.dedupe_extension else None
            digest = fingerprint(sender, sorted(set(recipients)), text, attachments)
            replayed = self._dedupe.replay(key, digest)
            if replayed is not None:
                return replayed
            fail_list = sorted({r for r in recipients if r.startswith("invalid")}
                               | last_chat.unreachable(self.last_chatted, sender, recipients))
            kept = tuple(sorted(set(recipients) - set(fail_list)))
            msgid = f"msg{secrets.token_hex(12)}"
            task = Task(msgid, sender, kept, self.now(), key or "", text,
                        tuple(attachments))
            task.statuses = dict.fromkeys(kept, NOT_SENT)
            self._keep(task)
            reply = {"errcode": 0, "errmsg": "ok", "fail_list": fail_list, "msgid": msgid}
            self._dedupe.remember(key, digest, reply, self.max_dedupe)
            if fault == "lost_reply":
                return 502, {"error": "bad gateway"}, {}
            return 200, reply, {}

    def subscribe_send(self, token_error: dict[str, Any] | None, body: Any) -> Answer:
        body = body if isinstance(body, dict) else {}
        with self._lock:
            stop, fault = self._enter("subscribe_send", token_error, None)
            if stop is not None:
                return stop
            touser, template_id, data = body.get("touser"), body.get("template_id"), \
                body.get("data")
            if not isinstance(touser, str) or not touser or touser.startswith("invalid"):
                return error(40003, "invalid openid")
            if not isinstance(template_id, str) or not template_id \
                    or template_id.startswith("invalid"):
                return error(40037, "invalid template_id")
            if not isinstance(data, dict) or not all(
                    isinstance(v, dict) and isinstance(v.get("value"), str) for v in data.values()):
                return error(47003, "argument invalid! data.value invalid")
            key = request_key(body) if self.dedupe_extension else None
            digest = fingerprint(touser, template_id, data)
            replayed = self._dedupe.replay(key, digest)
            if replayed is not None:
                return replayed
            grants = self._subscriptions.get((touser, template_id), 0)
            if grants == 0:
                return error(43101, "user refuse to accept the msg")
            if grants > 0:
                self._subscriptions[(touser, template_id)] = grants - 1
            msgid = str(secrets.randbits(48))
            self._receive(Receipt(touser, "direct", msgid, key or "", self.now(),
                                  template_id=template_id,
                                  data={k: v["value"] for k, v in data.items()}))
            reply = {"errcode": 0, "errmsg": "ok", "msgid": msgid}
            self._dedupe.remember(key, digest, reply, self.max_dedupe)
            if fault == "lost_reply":
                return 502, {"error": "bad gateway"}, {}
            return 200, reply, {}
