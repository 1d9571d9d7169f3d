"""Sending one chunk of a campaign: the Dramatiq actor and the gateway calls behind it.

The actor (:func:`send_chunk`):

1. skips sends already recorded (their send key is a committed event key), or no longer
   planned (cancelled);
2. settles what an earlier attempt left (:mod:`workers.send_intents`): a send an intent
   says was sent is recorded sent, an unknowable one failed ``UNKNOWN``, an open WeCom
   intent is reconciled against the sender's task list; only the rest may be sent;
3. resolves each recipient's address on the channel (WeCom external id, openid, phone)
   from the personal-data vault, fills the variant's text with the customer's values (or
   the variant's fallbacks, :func:`domain.templates.fill`); a customer missing a value
   with no fallback is recorded failed ``MISSING_VALUE``, never sent a blank;
4. takes its turn from the rate limiter (shared by every worker process through
   PostgreSQL), records the intent, calls the gateway and settles the intent;
5. records outcomes (``Customer.CampaignMessageSent`` / ``Failed``) once per send key;
   on a rate limit, a transient failure or sends still being resolved it records what is
   done and raises, so Dramatiq retries the message with backoff for the rest.

WeCom mass send creates one task per (sender, exact text) for the chunk's customers — a
task carries one text for all its recipients, so customers whose filled texts differ are in
different tasks; the sender is the member's WeCom **UserID** (the planned sender's
``wecom_user_id`` in the staff directory, or the UserID of a member without a staff
record): a sender without one fails ``NO_SENDER_USERID``. Its outcome is "handed to
WeCom" (the task id), since the member confirms later (:mod:`workers.mass_send_lifecycle`).
:func:`addresses_on`, :func:`template_values` and :func:`pace` serve SOP steps too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any
from uuid import UUID

import dramatiq

from adapters.campaign_gateway import (
    BATCH_LIMITS,
    BatchRecipient,
    CampaignGateway,
    DirectResult,
)
from application.app import Siyu
from application.campaigns import SendOutcome
from domain.campaign import send_key
from domain.templates import fill
from projections.campaign_planning import template_values as profile_values
from projections.segments.evaluation import lifecycle
from workers.campaign_store import CampaignStore
from workers.send_intents import RetryLater, SendIntents, Settled, digest

log = logging.getLogger(__name__)

#: A pacer reserves at most this many seconds of a channel's rate at once.
RESERVE_SECONDS = 0.05
ACTOR_NAME = "send_campaign_chunk"
CAMPAIGN_QUEUE = "siyu_campaigns"
#: The identity namespace (prefix) that addresses a customer on each channel.
ADDRESS = {"wecom_mass": "wecom_external:", "mini_program": "wx_openid:", "sms": "phone"}


@dataclass
class CampaignDeps:
    app: Siyu
    store: CampaignStore
    gateway: CampaignGateway
    rates: dict[str, float] = field(default_factory=dict)  # channel -> sends per second
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    #: Seconds after which an open send intent's call cannot still be in flight.
    intent_lease: float = 30.0

    def intents(self) -> SendIntents:
        return SendIntents(self.store, self.gateway, lease=self.intent_lease)


__all__ = ["CampaignDeps", "RetryLater", "addresses_on", "pace", "send_chunk",
           "template_values"]


def addresses_on(deps: CampaignDeps, channel: str, rows: Sequence[dict[str, Any]]
             ) -> dict[UUID, str]:
    """Each customer's address on ``channel``, decrypted from the vault (never logged)."""
    prefix = ADDRESS[channel]
    wanted: dict[UUID, tuple[UUID, str]] = {}  # customer -> (vault subject, field)
    for row in rows:
        for identity in row["identities"]:
            if identity["namespace"].startswith(prefix):
                subject = UUID(identity.get("subject") or str(row["customer_id"]))
                wanted[row["customer_id"]] = (subject, f"identity:{identity['blind_index']}")
                break
    values = deps.app.customers.personal_fields(wanted.values())  # two queries for the whole chunk
    return {customer: values[field] for customer, field in wanted.items() if field in values}


def template_values(row: dict[str, Any], at: datetime | None = None) -> dict[str, Any]:
    """The customer's template values (lifecycle: the row's, else at ``at``, else now)."""
    stage = row.get("lifecycle") or lifecycle(row, at or datetime.now(UTC))
    return profile_values(row, stage)


#: The reason a send is not made when a variable has no value and no fallback.
MISSING_VALUE = "MISSING_VALUE"


def pace(deps: CampaignDeps, channel: str, count: int) -> None:
    """Take ``count`` turns of ``channel``'s rate at once and wait for the first (for
    senders outside a chunk, e.g. SOP steps; a chunk uses :class:`_Pacer`)."""
    rate = deps.rates.get(channel)
    if not rate or count == 0:
        return
    delay = deps.store.reserve_wait(f"campaign:{channel}", rate, count)
    if delay > 0:
        time.sleep(delay)


class _Pacer:
    """A chunk's turns from the shared limiter, reserved a few at a time (at most
    :data:`RESERVE_SECONDS` worth) so that every worker's threads interleave, and the
    limiter's row is updated once per batch, not once per send."""

    def __init__(self, deps: CampaignDeps, channel: str, sends: int) -> None:
        self.deps = deps
        self.channel = channel
        self.rate = deps.rates.get(channel)
        self.remaining = sends
        self.slots: list[float] = []  # monotonic instants, soonest last

    def wait(self) -> None:
        """Return when the next send may go."""
        if not self.rate:
            return
        if not self.slots:
            count = max(1, min(self.remaining, int(self.rate * RESERVE_SECONDS)))
            first = time.monotonic() + self.deps.store.reserve_wait(
                f"campaign:{self.channel}", self.rate, count)
            self.slots = [first + n / self.rate for n in reversed(range(count))]
        self.remaining -= 1
        delay = self.slots.pop() - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def send_chunk(deps: CampaignDeps, campaign_id: UUID, step: int,
               customers: Sequence[UUID]) -> int:
    """Send one chunk; returns the outcomes recorded. Safe to run again at any point."""
    campaign, rows = deps.store.chunk(campaign_id, step, customers)
    if campaign is None or campaign["state"] != "running" or not rows:
        return 0
    keys = {r["customer_id"]: send_key(campaign_id, r["customer_id"], step) for r in rows}
    done = set(deps.app.index.known_event_keys(list(keys.values())))
    rows = [r for r in rows if keys[r["customer_id"]] not in done]
    channel = campaign["channel"]
    variants = {v["variant_id"]: v for v in campaign["variants"]}
    addresses = addresses_on(deps, channel, rows)
    outcomes: list[SendOutcome] = []
    by_key = {keys[r["customer_id"]]: r for r in rows}

    def outcome(row: dict[str, Any], sent: bool, detail: str) -> None:
        outcomes.append(SendOutcome(campaign_id, row["customer_id"], step, channel,
                                    row["variant_id"], sent, detail))

    def settle(settled: dict[str, Settled]) -> None:
        for key, result in sorted(settled.items()):
            outcome(by_key[key], result.sent, result.detail)

    intents = deps.intents()
    try:
        earlier, free, waiting = intents.resolve(
            channel, {k: addresses.get(r["customer_id"]) for k, r in by_key.items()})
        settle(earlier)
        rows = [r for r in rows if keys[r["customer_id"]] in free]
        if channel == "wecom_mass":
            retry = _mass_send(deps, intents, rows, addresses, variants, keys, outcome,
                               settle)
        elif channel in BATCH_LIMITS:
            retry = _batch_send(deps, intents, campaign_id, step, channel, rows, addresses,
                                variants, keys, outcome, settle)
        else:
            retry = _direct_send(deps, intents, channel, rows, addresses, variants, keys,
                                 outcome, settle)
    finally:
        intents.flush()
        if outcomes:
            deps.app.campaigns.record_send_outcomes(outcomes, deps.clock())
    if retry or waiting:
        raise RetryLater(retry or "sends of an earlier attempt are being resolved")
    return len(outcomes)


Outcome = Callable[[dict[str, Any], bool, str], None]
Settle = Callable[[dict[str, Settled]], None]


def _direct_send(deps: CampaignDeps, intents: SendIntents, channel: str,
                 rows: Sequence[dict[str, Any]], addresses: dict[UUID, str],
                 variants: dict[str, dict[str, Any]], keys: dict[UUID, str],
                 outcome: Outcome, settle: Settle) -> str | None:
    """One request per recipient (subscribe messages), each its own intent."""
    pacer = _Pacer(deps, channel, sum(1 for r in rows if r["customer_id"] in addresses))
    for row in rows:
        address = addresses.get(row["customer_id"])
        if address is None:
            outcome(row, False, "NO_ADDRESS")
            continue
        variant = variants[row["variant_id"]]
        text = fill(variant, template_values(row, deps.clock()))
        if text is None:
            outcome(row, False, MISSING_VALUE)
            continue
        key = keys[row["customer_id"]]
        pacer.wait()
        send = partial(deps.gateway.send_direct, channel, address,
                       variant.get("template_id") or "", {"text": text}, key)

        def call(_held: Sequence[str], send: Callable[[], DirectResult] = send
                 ) -> list[DirectResult]:
            return [send()]

        settled, retry = intents.direct(
            channel, {key: address}, digest(f"{variant.get('template_id')}\n{text}"), call)
        settle(settled)
        if retry:
            return retry
    return None


def _batch_send(deps: CampaignDeps, intents: SendIntents, campaign_id: UUID, step: int,
                channel: str, rows: Sequence[dict[str, Any]], addresses: dict[UUID, str],
                variants: dict[str, dict[str, Any]], keys: dict[UUID, str],
                outcome: Outcome, settle: Settle) -> str | None:
    """SMS-like channels: one gateway call (one intent) per (variant, batch limit) for the
    chunk's customers, each with its send key; the gateway derives each provider request's
    key (``SessionContext``) from the send keys it carries."""
    by_variant: dict[str, list[dict[str, Any]]] = {}
    texts: dict[UUID, str] = {}
    for row in rows:
        if row["customer_id"] not in addresses:
            outcome(row, False, "NO_ADDRESS")
            continue
        text = fill(variants[row["variant_id"]], template_values(row, deps.clock()))
        if text is None:
            outcome(row, False, MISSING_VALUE)
            continue
        texts[row["customer_id"]] = text
        by_variant.setdefault(row["variant_id"], []).append(row)
    limit = BATCH_LIMITS[channel]
    for variant_id, members in sorted(by_variant.items()):
        variant = variants[variant_id]
        for start in range(0, len(members), limit):
            batch = {keys[m["customer_id"]]: m for m in members[start:start + limit]}
            pace(deps, channel, len(batch))

            def call(held: Sequence[str], batch: dict[str, dict[str, Any]] = batch,
                     variant: dict[str, Any] = variant) -> list[DirectResult]:
                return deps.gateway.send_direct_batch(
                    channel, [BatchRecipient(addresses[batch[k]["customer_id"]],
                                             (texts[batch[k]["customer_id"]],), k)
                              for k in held],
                    variant.get("template_id") or "", f"campaign:{campaign_id}:{step}:{channel}")

            settled, retry = intents.direct(
                channel, {k: addresses[m["customer_id"]] for k, m in batch.items()},
                digest(f"{variant.get('template_id')}\n{variant['text']}"), call)
            settle(settled)
            if retry:
                return retry
    return None


def _mass_send(deps: CampaignDeps, intents: SendIntents, rows: Sequence[dict[str, Any]],
               addresses: dict[UUID, str], variants: dict[str, dict[str, Any]],
               keys: dict[UUID, str], outcome: Outcome, settle: Settle) -> str | None:
    """One WeCom task per (sender's UserID, filled text) for the chunk's customers."""
    userids = deps.store.sender_userids(sorted({r["sender"] for r in rows if r["sender"]}))
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    now = deps.clock()
    for row in rows:
        text = fill(variants[row["variant_id"]], template_values(row, now))
        if row["customer_id"] not in addresses or not row["sender"]:
            outcome(row, False, "NO_ADDRESS")
        elif row["sender"] not in userids:
            outcome(row, False, "NO_SENDER_USERID")
        elif text is None:
            outcome(row, False, MISSING_VALUE)
        else:
            groups.setdefault((userids[row["sender"]], text), []).append(row)
    pacer = _Pacer(deps, "wecom_mass", len(groups))
    for (sender, text), members in sorted(groups.items()):
        ids = sorted(str(m["customer_id"]) for m in members)
        pacer.wait()
        settled, retry = intents.mass_send(
            sender, {keys[m["customer_id"]]: addresses[m["customer_id"]] for m in members},
            text, f"{keys[members[0]['customer_id']]}:{sender}:{digest(text)[:12]}:{len(ids)}")
        settle(settled)
        if retry:
            return retry
    return None


def declare_campaign_actor(broker: dramatiq.Broker, deps: CampaignDeps, *,
                           queue_name: str = CAMPAIGN_QUEUE
                           ) -> dramatiq.Actor[[str, int, list[str]], None]:
    def send_campaign_chunk(campaign_id: str, step: int, customers: list[str]) -> None:
        recorded = send_chunk(deps, UUID(campaign_id), step, [UUID(c) for c in customers])
        log.info("campaign %s chunk: %d outcomes recorded", campaign_id, recorded)

    declare = dramatiq.actor(broker=broker, actor_name=ACTOR_NAME, queue_name=queue_name,
                             max_retries=50, min_backoff=500, max_backoff=60_000,
                             retry_when=lambda retries, error: isinstance(error, RetryLater)
                             or retries < 5)
    return declare(send_campaign_chunk)
