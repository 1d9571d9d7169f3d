"""Exactly once without a dedupe key: every send is an intent in PostgreSQL before it leaves.

WeCom's ``add_msg_template``, WeChat's ``subscribe/send`` and Tencent's ``SendSms`` take no
client dedupe key, and what a worker remembers in memory dies with it (``kill -9``). So:

1. **Before** a provider call, the send keys it carries are recorded and committed as one
   intent (``siyu_send_intent``: channel, sender, a digest of the text, the database's time).
   A key held by an intent that is open, sent or unknown is never sent again; only a key
   whose last intent was ``not_sent`` may be.
2. **After** the call each key is settled: ``sent`` (the msgid), ``not_sent`` (refused, rate
   limited, failed before anything happened: free to retry) or ``unknown``.
3. An **ambiguous** answer (lost reply, read timeout, HTTP 5xx after the request left) or an
   intent found open by a later attempt (the worker died mid-call) is resolved:

   * **WeCom mass send**: the sender's tasks created around the intent's time are listed
     (``get_groupmsg_list_v2``); a task with the intent's text whose recipients are the
     intent's, and not yet claimed by another intent, is the one created: the keys are
     ``sent`` with its msgid. None found once the intent is older than the ``lease`` (no call
     can still be in flight) → ``not_sent``, and the keys are sent again. Until then, and
     while listing fails, the keys wait (:class:`RetryLater`).
   * **Subscribe messages, SMS**: nothing can be listed, so the keys are ``unknown`` — never
     retried; the campaign records them failed with reason :data:`UNKNOWN` and counts them.

An intent found open but younger than the lease may belong to a call still in flight
(another worker, a redelivered message): its keys wait.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple
from uuid import UUID, uuid4

from adapters.campaign_gateway import (
    CampaignGateway,
    Delivery,
    DirectResult,
    ResultUnavailable,
)
from workers.campaign_store import CampaignStore

#: The reason recorded for a send whose outcome cannot be known (never retried).
UNKNOWN = "UNKNOWN"
REFUSED_BY_WECOM = "REFUSED_BY_WECOM"
MASS = "wecom_mass"
#: The intents of mass sends into customer groups (``chat_type`` group): reconciled the same
#: way, listing the sender's group tasks; the addresses are the groups' chat ids.
GROUP = "wecom_group"


class RetryLater(Exception):
    """Rate limited, a transient failure, or sends still being resolved: retry later."""


class Settled(NamedTuple):
    sent: bool
    detail: str  # the msgid / serial when sent, else the reason (UNKNOWN when unknowable)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def ambiguous(reason: str) -> bool:
    return reason.endswith("(ambiguous)")


class SendIntents:
    """Records, settles and resolves intents for one chunk (one thread; what other attempts
    share is in PostgreSQL; call :meth:`flush` when done). ``lease``: seconds after which
    an open intent's call cannot still be in flight (above the client's timeout and its
    token retry); ``margin``: seconds either side of an intent's time in which its task is
    looked for."""

    def __init__(self, store: CampaignStore, gateway: CampaignGateway, *, lease: float = 30.0,
                 margin: float = 300.0, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.gateway = gateway
        self.lease = lease
        self.margin = margin
        self.clock = clock
        #: Settlements of direct sends not written yet: they go with the next intent (one
        #: transaction per send) or :meth:`flush`. Lost in a crash, they only turn the sends
        #: into UNKNOWN, never into a second send.
        self._unsettled: list[tuple[str, UUID, str, str]] = []

    def flush(self) -> None:
        """Write the settlements still held (before the outcomes are recorded)."""
        rows, self._unsettled = self._unsettled, []
        self.store.settle(rows)

    # -- what earlier attempts left ----------------------------------------------------------
    def resolve(self, channel: str, addresses: Mapping[str, str | None]
                ) -> tuple[dict[str, Settled], set[str], bool]:
        """For these send keys (with their addresses): the ones settled by an earlier
        attempt, the ones free to send, and whether some must wait (open, too young, or
        not reconcilable now)."""
        settled: dict[str, Settled] = {}
        free = set(addresses)
        waiting = False
        found = self.store.intents(list(addresses))
        open_mass: dict[UUID, list[str]] = {}
        for key, row in found.items():
            outcome = row["outcome"]
            if outcome == "not_sent":
                continue
            free.discard(key)
            if outcome == "sent":
                settled[key] = Settled(True, row["detail"])
            elif outcome == "unknown":
                settled[key] = Settled(False, UNKNOWN)
            elif outcome is None and row["age"] < self.lease:
                waiting = True
            elif outcome is None and channel in (MASS, GROUP):
                open_mass.setdefault(row["intent_id"], []).append(key)
            else:
                self.store.settle([(key, row["intent_id"], "unknown", "no reply")])
                settled[key] = Settled(False, UNKNOWN)
        for intent_id, keys in open_mass.items():
            row = found[keys[0]]
            try:
                result = self._reconcile(intent_id, row["sender"], row["text_digest"],
                                         row["started_epoch"],
                                         {k: addresses[k] for k in keys}, int(row["members"]),
                                         "group" if channel == GROUP else "single")
            except RetryLater:
                waiting = True
                continue
            if result is None:  # old enough: no call in flight, and no task: never created
                self.store.settle_intent(intent_id, "not_sent", "reconciled: not created")
                free.update(keys)
            else:
                settled.update(result)
        return settled, free, waiting

    def _reconcile(self, intent_id: UUID, sender: str, text_digest: str, started: float,
                   addresses: Mapping[str, str | None], members: int,
                   chat_type: str = "single") -> dict[str, Settled] | None:
        """The intent's task among the sender's, settled; None when there is none. Raises
        :class:`RetryLater` when WeCom cannot be read now. ``addresses``: the intent's keys
        at hand (``members`` in all: a redelivered chunk may hold only some)."""
        try:
            listed = self.gateway.list_mass_sends(sender, started - self.margin,
                                                  self.clock() + self.margin, chat_type)
        except ResultUnavailable as error:
            raise RetryLater(f"listing tasks: {error.reason}") from error
        candidates = sorted((t for t in listed if t.creator == sender
                             and digest(t.text) == text_digest),
                            key=lambda t: abs(t.created_at - started))
        claimed = self.store.claimed_tasks([t.task_id for t in candidates], intent_id) \
            if candidates else set()
        wanted = {a for a in addresses.values() if a}
        for task in candidates:
            if task.task_id in claimed:
                continue
            try:
                recipients = set(self.gateway.mass_send_result(task.task_id, sender).statuses)
            except ResultUnavailable as error:
                raise RetryLater(f"reading a task: {error.reason}") from error
            if not recipients & wanted or len(recipients) > members \
                    or (members == len(addresses) and not recipients <= wanted):
                continue
            self.store.settle_intent(intent_id, "sent", task.task_id)
            return self._split(intent_id, task.task_id, addresses, recipients)
        return None

    def _split(self, intent_id: UUID, task_id: str, addresses: Mapping[str, str | None],
               recipients: set[str]) -> dict[str, Settled]:
        """Keys in the task are sent; the others were refused by WeCom at creation."""
        refused = [k for k, a in addresses.items() if a not in recipients]
        self.store.settle([(k, intent_id, "not_sent", REFUSED_BY_WECOM) for k in refused])
        return {k: Settled(False, REFUSED_BY_WECOM) if k in refused else Settled(True, task_id)
                for k in addresses}

    # -- sending -----------------------------------------------------------------------------
    def mass_send(self, sender: str, addresses: Mapping[str, str], text: str,
                  dedupe_key: str, chat_type: str = "single"
                  ) -> tuple[dict[str, Settled], str | None]:
        """One WeCom task for these keys (``chat_type`` group: the addresses are customer
        groups); (what is settled, a reason to retry the rest)."""
        intent_id = uuid4()
        held = self.store.open_intent(intent_id, list(addresses),
                                      GROUP if chat_type == "group" else MASS, sender,
                                      digest(text))
        busy = None if len(held) == len(addresses) else "sends held by another attempt"
        if not held:
            return {}, busy
        mine = {k: addresses[k] for k in sorted(held)}
        task = self.gateway.create_mass_send(sender, list(mine.values()), text, dedupe_key,
                                             chat_type)
        if task.delivery in (Delivery.ACCEPTED, Delivery.DUPLICATE) and task.task_id:
            refused = set(task.refused)
            self.store.settle([(k, intent_id, "not_sent", REFUSED_BY_WECOM)
                               for k, a in mine.items() if a in refused])
            self.store.settle_intent(intent_id, "sent", task.task_id)
            return {k: Settled(False, REFUSED_BY_WECOM) if a in refused
                    else Settled(True, task.task_id) for k, a in mine.items()}, busy
        if task.delivery is Delivery.REFUSED:
            self.store.settle_intent(intent_id, "not_sent", task.reason)
            return dict.fromkeys(mine, Settled(False, task.reason)), busy
        if not ambiguous(task.reason):  # nothing was created: free to retry
            self.store.settle_intent(intent_id, "not_sent", task.reason)
            return {}, task.reason
        try:  # the task may exist: look for it before anything else
            found = self._reconcile(intent_id, sender, digest(text), self.clock(), mine,
                                    len(mine), chat_type)
        except RetryLater:
            found = None
        return found or {}, None if found else task.reason  # else: open, resolved later

    def direct(self, channel: str, addresses: Mapping[str, str], text_digest: str,
               call: Callable[[Sequence[str]], Sequence[DirectResult]]
               ) -> tuple[dict[str, Settled], str | None]:
        """One provider request for these keys (``call`` gets the keys held, answers a result
        per key in order); (what is settled, a reason to retry the rest)."""
        intent_id = uuid4()
        earlier, self._unsettled = self._unsettled, []
        held = sorted(self.store.open_intent(intent_id, list(addresses), channel, None,
                                             text_digest, earlier))
        retry = None if len(held) == len(addresses) else "sends held by another attempt"
        if not held:
            return {}, retry
        results = call(held)
        settled: dict[str, Settled] = {}
        rows: list[tuple[str, UUID, str, str]] = []
        for key, result in zip(held, results, strict=True):
            if result.delivery in (Delivery.ACCEPTED, Delivery.DUPLICATE):
                detail = result.message_id or result.delivery.value
                rows.append((key, intent_id, "sent", detail))
                settled[key] = Settled(True, detail)
            elif result.delivery is Delivery.TRANSIENT and ambiguous(result.reason):
                rows.append((key, intent_id, "unknown", result.reason))
                settled[key] = Settled(False, UNKNOWN)
            else:
                rows.append((key, intent_id, "not_sent", result.reason))
                if result.delivery is Delivery.REFUSED:
                    settled[key] = Settled(False, result.reason)
                else:
                    retry = retry or result.reason
        self._unsettled.extend(rows)
        return settled, retry

