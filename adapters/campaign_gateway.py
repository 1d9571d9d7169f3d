"""The campaign gateway: how outbound campaign messages leave the platform.

Two kinds of channel sit behind one interface:

* **WeCom customer mass send** (企业群发, ``externalcontact/add_msg_template``): the API
  creates a *task* per staff member (the sender) for a list of their external contacts;
  nothing reaches a customer until the staff member confirms the task in their WeCom
  client. Results are read back per task (``get_groupmsg_send_result``): sent, not a
  friend, already received the period's maximum of mass messages, or not sent yet. A task
  the member never confirms stays pending for ever: the platform reminds the member
  (``remind_mass_send``) and, past the campaign's deadline, cancels it
  (``cancel_mass_send``). ``list_mass_sends`` lists a sender's tasks created in a time
  window: what the platform reconciles an ambiguous create against;
  ``list_member_mass_sends`` the mass sends members made themselves in the WeCom client,
  which use the customers' quota too (:mod:`workers.wecom_quota`).
* **Direct messages** are sent at once: mini-program subscribe messages one recipient per
  call (``send_direct``); SMS in batches (``send_direct_batch``, up to
  :data:`BATCH_LIMITS` recipients per provider request, each recipient with its own
  result).

Every call carries a ``dedupe_key`` derived from (campaign, step, recipient or chunk). The
real providers have no such key: exactly-once is the caller's (an intent recorded before
each call, reconciled or recorded UNKNOWN after an ambiguous answer, see
:mod:`workers.send_intents`); a gateway may pass the key on to a fake that honours it.
Recipients are the channel's own ids (external user id, openid), never phone numbers in
logs.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


class Delivery(enum.Enum):
    ACCEPTED = "accepted"  # taken by the provider (a direct message sent, a task created)
    DUPLICATE = "duplicate"  # the dedupe key was seen: the first answer stands
    REFUSED = "refused"  # permanent: not a friend, no subscription, quota reached, bad input
    RATE_LIMITED = "rate_limited"  # retry after ``retry_after`` seconds
    TRANSIENT = "transient"  # retry with backoff (5xx, busy, network)


@dataclass(frozen=True, slots=True)
class DirectResult:
    delivery: Delivery
    reason: str  # machine-readable, no personal data: "ok", "errcode 43101", "http 503"
    message_id: str | None = None
    retry_after: float | None = None


#: Channels whose provider takes many recipients per request, and how many at most.
BATCH_LIMITS: dict[str, int] = {"sms": 200}


@dataclass(frozen=True, slots=True)
class BatchRecipient:
    """One recipient of a batch: its address (a phone number for SMS, never logged), the
    template params for it and its own key (the send key) from which request keys derive."""

    address: str
    params: tuple[str, ...]
    key: str


@dataclass(frozen=True, slots=True)
class MassSendTask:
    """The answer to creating a mass-send task for one sender."""

    delivery: Delivery
    reason: str
    task_id: str | None = None  # WeCom's msgid (the first one when the list was split)
    refused: Sequence[str] = field(default_factory=tuple)  # recipients refused at creation
    retry_after: float | None = None
    #: Every msgid created for this request, in order. WeCom takes at most 10,000 recipients
    #: per task, so a larger list becomes several tasks; a partly created request lists the
    #: parts created so far (a retry with the same key creates only the missing ones).
    task_ids: Sequence[str] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class ListedTask:
    """One mass-send task as ``get_groupmsg_list_v2`` lists it."""

    task_id: str
    creator: str  # the member's UserID
    created_at: float  # epoch seconds
    text: str
    attachments: Sequence[dict[str, object]] = field(default_factory=tuple)
    by_member: bool = False  # created by the member in the WeCom client, not by the corp


@dataclass(frozen=True, slots=True)
class TaskAction:
    """The answer to cancelling or reminding a task."""

    delivery: Delivery  # ACCEPTED, REFUSED (e.g. the reminder limit), RATE_LIMITED, TRANSIENT
    reason: str


class RecipientStatus(enum.Enum):
    PENDING = "pending"  # the sender has not confirmed yet
    SENT = "sent"
    NOT_FRIEND = "not_friend"
    QUOTA_EXCEEDED = "quota_exceeded"  # the customer got the period's maximum already
    EXPIRED = "expired"  # the sender never confirmed in time (cancelled past the deadline)


@dataclass(frozen=True, slots=True)
class TaskResult:
    task_id: str
    confirmed: bool
    statuses: dict[str, RecipientStatus]  # recipient -> status
    #: When the member sent (confirmed) the task, as WeCom reports it (``send_time``);
    #: None when not confirmed or not reported.
    sent_at: datetime | None = None


class ResultUnavailable(Exception):
    """Reading a task's result failed; ``delivery`` says whether and when to try again."""

    def __init__(self, delivery: Delivery, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.delivery = delivery
        self.reason = reason
        self.retry_after = retry_after


class CampaignGateway(Protocol):
    def send_direct(self, channel: str, recipient: str, template_id: str,
                    data: dict[str, str], dedupe_key: str) -> DirectResult: ...

    def send_direct_batch(self, channel: str, recipients: Sequence[BatchRecipient],
                          template_id: str, dedupe_key: str) -> list[DirectResult]:
        """A result per recipient, in order; recipients sharing params share a request."""
        ...

    def create_mass_send(self, sender: str, recipients: Sequence[str], text: str,
                         dedupe_key: str, chat_type: str = "single") -> MassSendTask:
        """``chat_type`` ``group``: ``recipients`` are the sender's customer groups."""
        ...

    def mass_send_result(self, task_id: str, sender: str) -> TaskResult:
        """Raises :class:`ResultUnavailable` when the result cannot be read now."""
        ...

    def list_mass_sends(self, sender: str, start: float, end: float,
                        chat_type: str = "single") -> list[ListedTask]:
        """The sender's tasks (to customers, or into groups) created between ``start`` and
        ``end`` (epoch seconds).
        Raises :class:`ResultUnavailable` when they cannot be listed now."""
        ...

    def list_member_mass_sends(self, start: float, end: float,
                               chat_type: str = "single") -> list[ListedTask]:
        """The mass sends members created themselves in the WeCom client (not through the
        API) between ``start`` and ``end`` — to customers, or with ``chat_type`` ``group``
        into their customer groups: they use the customers' (the groups') WeCom quota too. Raises
        :class:`ResultUnavailable` when they cannot be listed now."""
        ...

    def cancel_mass_send(self, task_id: str) -> TaskAction: ...

    def remind_mass_send(self, task_id: str) -> TaskAction: ...
