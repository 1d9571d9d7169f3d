"""Sending one chunk of a campaign: the Dramatiq actor and the gateway calls behind it.

The actor (:func:`send_chunk`):

1. skips sends already recorded (their send key is a committed event key), or no longer
   planned (cancelled);
2. resolves each recipient's address on the channel (WeCom external id, openid, phone)
   from the personal-data vault, renders the variant's text with its safe variables;
3. takes its turn from the rate limiter (shared by every worker process through
   PostgreSQL), then calls the gateway with the send key as dedupe key — a send retried
   after a crash is answered ``DUPLICATE`` by a deduplicating gateway, not sent twice;
4. records outcomes (``Customer.CampaignMessageSent`` / ``Failed``) once per send key;
   on a rate limit or a transient failure it records what is done and raises, so
   Dramatiq retries the message with backoff for the rest.

WeCom mass send creates one task per sender (staff member) for the chunk's customers;
its outcome is "handed to WeCom" (the task id), since the staff member confirms later.
:func:`addresses_on`, :func:`template_values` and :func:`pace` serve SOP steps too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import dramatiq

from adapters.campaign_gateway import BATCH_LIMITS, BatchRecipient, CampaignGateway, Delivery
from application.app import Siyu
from application.campaigns import SendOutcome
from domain.campaign import render, send_key
from workers.campaign_store import CampaignStore

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


class RetryLater(Exception):
    """Rate limited or a transient failure: the rest of the chunk is retried later."""


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


def template_values(row: dict[str, Any]) -> dict[str, Any]:
    categories = row["category_orders"] or {}
    favourite = max(sorted(categories), key=lambda c: categories[c]) if categories else None
    return {"points_balance": row["points_balance"], "member_level": row["member_level"],
            "favourite_category": favourite}


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

    def outcome(row: dict[str, Any], sent: bool, detail: str) -> None:
        outcomes.append(SendOutcome(campaign_id, row["customer_id"], step, channel,
                                    row["variant_id"], sent, detail))

    try:
        if channel == "wecom_mass":
            _mass_send(deps, campaign_id, step, rows, addresses, variants, outcome)
        elif channel in BATCH_LIMITS:
            _batch_send(deps, campaign_id, step, channel, rows, addresses, variants, keys,
                        outcome)
        else:
            pacer = _Pacer(deps, channel, sum(1 for r in rows if r["customer_id"] in addresses))
            for row in rows:
                address = addresses.get(row["customer_id"])
                if address is None:
                    outcome(row, False, "NO_ADDRESS")
                    continue
                variant = variants[row["variant_id"]]
                pacer.wait()
                result = deps.gateway.send_direct(
                    channel, address, variant.get("template_id") or "",
                    {"text": render(variant["text"], template_values(row))}, keys[row["customer_id"]])
                if result.delivery in (Delivery.ACCEPTED, Delivery.DUPLICATE):
                    outcome(row, True, result.message_id or result.delivery.value)
                elif result.delivery is Delivery.REFUSED:
                    outcome(row, False, result.reason)
                else:
                    raise RetryLater(result.reason)
    finally:
        if outcomes:
            deps.app.campaigns.record_send_outcomes(outcomes, deps.clock())
    return len(outcomes)


def _batch_send(deps: CampaignDeps, campaign_id: UUID, step: int, channel: str,
                rows: Sequence[dict[str, Any]], addresses: dict[UUID, str],
                variants: dict[str, dict[str, Any]], keys: dict[UUID, str],
                outcome: Callable[[dict[str, Any], bool, str], None]) -> None:
    """SMS-like channels: one gateway call per (variant, batch limit) for the chunk's
    customers, each with its send key; the gateway derives each provider request's dedupe
    key from the send keys it carries, so a re-delivered chunk repeats the same keys."""
    by_variant: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["customer_id"] not in addresses:
            outcome(row, False, "NO_ADDRESS")
            continue
        by_variant.setdefault(row["variant_id"], []).append(row)
    limit = BATCH_LIMITS[channel]
    for variant_id, members in sorted(by_variant.items()):
        variant = variants[variant_id]
        for start in range(0, len(members), limit):
            batch = members[start:start + limit]
            pace(deps, channel, len(batch))
            results = deps.gateway.send_direct_batch(
                channel, [BatchRecipient(addresses[m["customer_id"]],
                                         (render(variant["text"], template_values(m)),),
                                         keys[m["customer_id"]]) for m in batch],
                variant.get("template_id") or "", f"campaign:{campaign_id}:{step}:{channel}")
            retry: str | None = None
            for member, result in zip(batch, results, strict=True):
                if result.delivery in (Delivery.ACCEPTED, Delivery.DUPLICATE):
                    outcome(member, True, result.message_id or result.delivery.value)
                elif result.delivery is Delivery.REFUSED:
                    outcome(member, False, result.reason)
                else:
                    retry = retry or result.reason
            if retry is not None:
                raise RetryLater(retry)


def _mass_send(deps: CampaignDeps, campaign_id: UUID, step: int,
               rows: Sequence[dict[str, Any]], addresses: dict[UUID, str],
               variants: dict[str, dict[str, Any]],
               outcome: Callable[[dict[str, Any], bool, str], None]) -> None:
    """One WeCom task per (sender, variant) for the chunk's customers."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        if row["customer_id"] not in addresses or not row["sender"]:
            outcome(row, False, "NO_ADDRESS")
            continue
        groups.setdefault((row["sender"], row["variant_id"]), []).append(row)
    pacer = _Pacer(deps, "wecom_mass", len(groups))
    for (sender, variant_id), members in sorted(groups.items()):
        text = render(variants[variant_id]["text"], {})
        ids = sorted(str(m["customer_id"]) for m in members)
        key = f"campaign:{campaign_id}:{step}:{sender}:{variant_id}:{ids[0]}:{len(ids)}"
        pacer.wait()
        task = deps.gateway.create_mass_send(
            sender.removeprefix("wecom_user:"), [addresses[m["customer_id"]] for m in members],
            text, key)
        if task.delivery not in (Delivery.ACCEPTED, Delivery.DUPLICATE):
            if task.delivery is Delivery.REFUSED:
                for m in members:
                    outcome(m, False, task.reason)
                continue
            raise RetryLater(task.reason)
        refused = set(task.refused)
        for m in members:
            if addresses[m["customer_id"]] in refused:
                outcome(m, False, "REFUSED_BY_WECOM")
            else:
                outcome(m, True, task.task_id or "task")


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
