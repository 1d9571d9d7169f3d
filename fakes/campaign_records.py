"""What the fake's campaign half keeps and answers: tasks, receipts, replays, errors.

A :class:`Task` is one ``add_msg_template`` call: the sender, the text and attachments, the
recipients and their statuses (``get_groupmsg_send_result``'s codes) once confirmed, or
cancelled (``cancel_groupmsg_send``). A :class:`Receipt` is one message that reached one
recipient (mass send or subscribe message) with the exact text, attachments or template
data it carried: what a test checks. Quota periods (:func:`period_of`) are natural months,
weeks or days in Asia/Shanghai, as WeCom counts its mass-send quota.
"""

from __future__ import annotations

import calendar
import hashlib
import json
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
CAMPAIGN_FAULTS = frozenset({"busy", "http_503", "rate_limit", "token_expired", "lost_reply"})
APIS = frozenset({"add_msg_template", "send_result", "subscribe_send", "list_v2", "get_task",
                  "cancel", "remind"})
CONFIG_KEYS = ("monthly_quota", "task_ttl", "auto_confirm_after", "corp_rate", "sender_rate",
               "rate_burst")
#: The corp's mass-send rule (WeCom's mass-send settings): how many mass messages each
#: customer may receive per natural month (as many as the month has days), per week (7)
#: or per day (1).
QUOTA_RULES = ("month", "week", "day")
MAX_RECIPIENTS = 10_000
#: Status codes of ``get_groupmsg_send_result``.
NOT_SENT, SENT, NOT_FRIEND, QUOTA_REACHED = 0, 1, 2, 3

Answer = tuple[int, dict[str, Any], dict[str, str]]  # HTTP status, JSON body, headers


def error(errcode: int, errmsg: str) -> Answer:
    return 200, {"errcode": errcode, "errmsg": errmsg}, {}


def month_of(epoch: float) -> str:
    """The natural month (Asia/Shanghai) an instant falls in, as ``YYYY-MM``."""
    return datetime.fromtimestamp(epoch, SHANGHAI).strftime("%Y-%m")


def period_of(epoch: float, rule: str) -> tuple[str, int]:
    """The quota period (Asia/Shanghai) an instant falls in under ``rule`` and how many mass
    messages a customer may receive in it: the month's days, 7 a week or 1 a day."""
    at = datetime.fromtimestamp(epoch, SHANGHAI)
    if rule == "day":
        return at.strftime("%Y-%m-%d"), 1
    if rule == "week":
        year, week, _ = at.isocalendar()
        return f"{year}-W{week:02d}", 7
    return at.strftime("%Y-%m"), calendar.monthrange(at.year, at.month)[1]


@dataclass
class Task:
    msgid: str
    sender: str
    recipients: tuple[str, ...]
    created_at: float
    dedupe_key: str
    text: str = ""
    attachments: tuple[dict[str, Any], ...] = ()
    confirmed_at: float | None = None
    cancelled_at: float | None = None
    expired: bool = False
    reminders: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    send_times: dict[str, int] = field(default_factory=dict)
    chat_type: str = "single"  # group: recipients are customer groups (chat_id)
    by_member: bool = False  # created by the member in the WeCom client (create_type 1)

    @property
    def state(self) -> str:
        return "confirmed" if self.confirmed_at is not None else \
            "cancelled" if self.cancelled_at is not None else \
            "expired" if self.expired else "pending"


@dataclass(frozen=True, slots=True)
class Receipt:
    """One message that reached one recipient, with exactly what it carried."""

    recipient: str
    kind: str  # "mass" (to a customer), "group" (into a customer group) or "direct"
    msgid: str
    dedupe_key: str  # "" unless the dedupe extension is on and the request carried one
    at: float
    sender: str = ""  # mass: the member's UserID
    text: str = ""  # mass: the text content
    attachments: tuple[dict[str, Any], ...] = ()  # mass: the attachments as sent
    template_id: str = ""  # direct: the subscribe template
    data: dict[str, str] = field(default_factory=dict)  # direct: each key's value


class ReceiptLog:
    """What reached whom, oldest first; bounded (the oldest receipts are dropped, counted)."""

    def __init__(self) -> None:
        self._receipts: deque[Receipt] = deque()
        self.evicted = 0

    def add(self, receipt: Receipt, limit: int) -> None:
        self._receipts.append(receipt)
        while len(self._receipts) > limit:
            self._receipts.popleft()
            self.evicted += 1

    def matching(self, key_prefix: str = "", **equal: str | None) -> list[Receipt]:
        """The receipts whose dedupe key starts with ``key_prefix`` and whose fields equal
        the given values (``recipient``, ``msgid``, ``sender``, ``template_id``, ``kind``;
        None matches anything)."""
        wanted = {k: v for k, v in equal.items() if v is not None}
        return [r for r in self._receipts if r.dedupe_key.startswith(key_prefix)
                and all(getattr(r, k) == v for k, v in wanted.items())]

    def clear(self) -> None:
        self._receipts.clear()
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._receipts)


class ReplayCache:
    """The first reply per extension ``dedupe_key``, with its request's fingerprint
    (bounded: the least recently used key is dropped)."""

    def __init__(self) -> None:
        self._replies: OrderedDict[str, tuple[str, dict[str, Any]]] = OrderedDict()

    def replay(self, key: str | None, digest: str) -> Answer | None:
        """The first reply again, marked ``duplicate``; 40058 if the key came with another
        request; None for no key or a new one."""
        if key is None or key not in self._replies:
            return None
        stored_digest, reply = self._replies[key]
        self._replies.move_to_end(key)
        if stored_digest != digest:
            return error(40058, "dedupe_key reused with a different request")
        return 200, {**reply, "duplicate": True}, {}

    def remember(self, key: str | None, digest: str, reply: dict[str, Any], limit: int) -> None:
        if key is None:
            return
        self._replies[key] = (digest, reply)
        while len(self._replies) > limit:
            self._replies.popitem(last=False)

    def clear(self) -> None:
        self._replies.clear()


class TaskExpired(Exception):
    """The task expired before it was confirmed."""


def request_key(body: dict[str, Any]) -> str | None:
    """The extension ``dedupe_key`` of a request body, if any."""
    key = body.get("dedupe_key")
    return key if isinstance(key, str) and key else None


def fingerprint(*parts: Any) -> str:
    """A digest of a request's contents: a key reused with other contents is told apart."""
    encoded = json.dumps(parts, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()
