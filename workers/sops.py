"""Sending SOP steps: dispatcher → Dramatiq chunks → restraint → gateway → outcomes once.

The ``sop`` projection planned each enrolment's steps (``sop_send``, due at trigger time
+ offset). The :class:`SopDispatcher` claims due steps of active sequences and running
enrolments with ``SKIP LOCKED``, notes them in ``sop_dispatch`` (internal) and enqueues
chunks of ``enrolment:step`` ids. The actor (:func:`send_steps`), safe to run again at
any point:

1. skips steps already recorded (their send key is a committed event key), no longer
   planned, or of a paused/archived sequence or ended enrolment;
2. reads the customer's events since the trigger from the event store (not a read
   model that may lag) and skips the step ``CONVERTED`` / ``OPTED_OUT`` when a stop
   condition of the enrolment's revision happened (``OPTED_OUT`` for marketing steps
   only: a service step still goes, DND and withdrawn service consent still hold it),
   ``LEFT_GROUP`` when the customer left the group whose joining enrolled them
   (:func:`domain.sop.stop_reason`);
3. skips a step more than :data:`domain.sop.MAX_LATE` late (``LATE``);
4. applies the campaigns' restraint rules (:func:`domain.restraint.decide`) under the
   step's message class (a ``service`` step: not the caps nor a holiday's rules; its
   consent purpose ``service``, a marketing step's ``marketing``): DND and
   withdrawn consent, not a friend (WeCom), the caps per channel counted across
   campaigns *and* SOPs, the WeCom monthly quota, no variant for the lifecycle stage —
   a step excluded is skipped with the rule as reason; in quiet hours the step is
   **deferred** to their end (``sop_dispatch.not_before``), never dropped. Each step is
   decided under its customer's lock and, when it is to be sent, reserved
   (``sop_contact_reservation``) in the same transaction (:meth:`SopStore.decide`), so
   concurrent chunks and campaign launches count it before its outcome is projected;
5. sends through the campaign gateway (shared rate limiter, the send key
   :func:`domain.sop.sop_send_key` as dedupe key: a send retried after a crash is
   answered ``DUPLICATE``), and records outcomes once per send key.

WeCom steps are a mass-send task of one recipient, from the member WeCom delivers through:
among the customer's current staff friends, the one who last chatted with them, else the
owner, else the first friend (:func:`projections.campaign_planning.choose_sender`, as
campaigns choose); the step's ``SopStepSent`` records that sender and why
(``LAST_CHATTED``, ``OWNER``, ``FRIEND``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import dramatiq
from psycopg_pool import ConnectionPool

from adapters.campaign_gateway import DirectResult
from application.sops import StepOutcome
from domain.message_class import MARKETING, SERVICE, SERVICE_PURPOSE
from domain.privacy import DEFAULT_PURPOSE
from domain.restraint import Decision, Plan, Recipient, Variant, decide
from domain.sop import GROUP, MAX_LATE, sop_send_key, stop_reason
from domain.templates import fill
from projections.campaign_planning import CONTACT_WINDOW, LAUNCH_LOCK, choose_sender, read_contacts
from projections.sops import dispatch
from workers.campaign_sending import CampaignDeps, RetryLater, addresses_on, pace, template_values
from workers.polling import PollingLoop
from workers.send_intents import digest
from workers.sop_groups import send_group_step

log = logging.getLogger(__name__)

CHUNK = 100
ACTOR_NAME = "send_sop_steps"
SOP_QUEUE = "siyu_sops"

def item(enrolment: UUID, step: int) -> str:
    return f"{enrolment}:{step}"


def parse(items: Sequence[str]) -> list[tuple[UUID, int]]:
    out = []
    for value in items:
        enrolment, step = value.rsplit(":", 1)
        out.append((UUID(enrolment), int(step)))
    return out


class SopStore:
    """The SOP worker's reads and its ``sop_dispatch`` table, through a connection pool."""

    def __init__(self, pool: ConnectionPool[Any]) -> None:
        self.pool = pool
        with pool.connection() as conn:
            dispatch.create_tables(conn)

    def claim_due(self, now: datetime, stale_after: timedelta, limit: int) -> list[list[str]]:
        """Due steps as chunks of ``enrolment:step``, noted as enqueued."""
        with self.pool.connection() as conn, conn.transaction():
            rows = dispatch.claim_due(conn, now, now - stale_after, limit)
            if not rows:
                return []
            dispatch.forget_reservations(conn, now - CONTACT_WINDOW)  # outside every window
            dispatch.note_enqueued(conn, now, rows)
        ids = [item(r["enrolment_id"], r["step"]) for r in rows]
        return [ids[n:n + CHUNK] for n in range(0, len(ids), CHUNK)]

    def rows(self, items: Sequence[tuple[UUID, int]], now: datetime) -> list[dict[str, Any]]:
        """The still-planned steps with their customers' profiles."""
        with self.pool.connection() as conn:
            rows = dispatch.planned_rows(conn, items, now)
            conn.commit()
        return list(rows)

    def decide(self, row: dict[str, Any], now: datetime,
               decide: Callable[[Sequence[tuple[datetime, str]]], Decision]) -> Decision:
        """Decide one step on the customer's contacts, and reserve it when it is to be sent.

        Under the customer's lock (and, shared, the campaign launch lock), so two workers
        deciding steps of one customer, or a launch planning meanwhile, each count the
        others' sends: the caps hold across concurrent chunks, SOPs and campaigns."""
        own = (row["enrolment_id"], row["step"])
        with self.pool.connection() as conn, conn.transaction():
            dispatch.lock_customer(conn, LAUNCH_LOCK, row["customer_id"])
            contacts = read_contacts(conn, [row["customer_id"]], now, own_steps=[own])
            decision = decide(contacts.get(row["customer_id"], []))
            if decision.included and not decision.deferred:
                dispatch.reserve(conn, own, row["customer_id"], row["channel"], now)
        return decision

    def claim_group(self, row: dict[str, Any], day: date, now: datetime,
                    quota: tuple[date, date, int]) -> str | None:
        """Claim the enrolment's group message of ``day`` (:func:`dispatch.claim_group`)."""
        with self.pool.connection() as conn, conn.transaction():
            return dispatch.claim_group(conn, row["sop_id"], row["step"], row["trigger_group"],
                                        day, row["enrolment_id"], now, quota)

    def defer(self, enrolment: UUID, step: int, until: datetime) -> None:
        """Out of quiet hours: the dispatcher claims the step again at ``until``."""
        with self.pool.connection() as conn, conn.transaction():
            dispatch.defer(conn, enrolment, step, until)


@dataclass
class SopDeps:
    campaigns: CampaignDeps  # the app, the gateway, the rate limiter, the clock
    store: SopStore


def _stopped(deps: SopDeps, row: dict[str, Any], kind: str) -> str | None:
    """A stop condition after the trigger, read from the customer's stream itself (an
    opt-out stops marketing steps only: a ``service`` step still goes)."""
    events = deps.campaigns.app.repository.event_store.get(
        row["customer_id"], gt=row["trigger_version"])
    opted_out = row["stop_on_opted_out"] and kind != SERVICE
    for event in events:
        reason = stop_reason(event, row["stop_on_converted"], opted_out, row["trigger_group"])
        if reason is not None:
            return reason.upper()
    return None


def send_steps(deps: SopDeps, items: Sequence[tuple[UUID, int]]) -> int:
    """Send one chunk of due steps; returns the outcomes recorded."""
    app, now = deps.campaigns.app, deps.campaigns.clock()
    rows = deps.store.rows(items, now)
    if any(not r["profiled"] for r in rows):
        raise RetryLater("a customer's profile is not projected yet")
    keys = {(r["enrolment_id"], r["step"]): sop_send_key(r["sop_id"], r["customer_id"],
                                                          r["enrolment_id"], r["step"])
            for r in rows}
    done = set(app.index.known_event_keys(list(keys.values())))
    rows = [r for r in rows if keys[(r["enrolment_id"], r["step"])] not in done]
    policy = app.campaigns.contact_policy()
    outcomes: list[StepOutcome] = []

    def outcome(row: dict[str, Any], status: str, detail: str, variant: str = "",
                sender: str = "", basis: str = "") -> None:
        outcomes.append(StepOutcome(row["sop_id"], row["customer_id"], row["enrolment_id"],
                                    row["step"], row["channel"], variant, status, detail,
                                    sender, basis))

    try:
        for row in rows:
            step = row["steps"][row["step"]]
            kind = step.get("message_class") or MARKETING
            reason = _stopped(deps, row, kind)
            if reason is None and now - row["due_at"] > MAX_LATE:
                reason = "LATE"
            if reason is not None:
                outcome(row, "skipped", reason)
                continue
            if step.get("target") == GROUP:
                send_group_step(deps.campaigns, deps.store, row, step, policy, now, outcome)
                continue
            purpose = SERVICE_PURPOSE if kind == SERVICE else DEFAULT_PURPOSE
            plan = Plan(row["sop_id"], row["channel"], tuple(
                Variant(v["variant_id"], tuple(v["lifecycles"]), v["weight"])
                for v in step["variants"]), purpose=purpose, message_class=kind)
            def on(contacts: Sequence[tuple[datetime, str]], plan: Plan = plan,
                   row: dict[str, Any] = row) -> Decision:
                withdrawn = plan.purpose in (row["consents_withdrawn"] or ())
                friends, basis = choose_sender(row["current_staff_ids"], row["owner"],
                                               row["last_chatted"])
                who = Recipient(row["customer_id"], row["lifecycle"], dnd=row["dnd"],
                                consent_withdrawn=withdrawn, friends=friends,
                                contacts=tuple(contacts), sender_basis=basis)
                return decide(plan, policy, who, now)

            decision = deps.store.decide(row, now, on)
            if not decision.included:
                outcome(row, "skipped", decision.reason or "EXCLUDED")
                continue
            if decision.deferred and decision.send_at is not None:
                deps.store.defer(row["enrolment_id"], row["step"], decision.send_at)
                continue
            variant = next(v for v in step["variants"]
                           if v["variant_id"] == decision.variant_id)
            by = {"sender": decision.sender or "", "basis": decision.sender_basis or ""} \
                if row["channel"] == "wecom_mass" else {}
            _send(deps, row, variant, decision.sender, keys[(row["enrolment_id"], row["step"])],
                  lambda *a, by=by: outcome(*a, **by))  # reserved: counts toward the caps
    finally:
        if outcomes:
            app.sops.record_step_outcomes(outcomes, deps.campaigns.clock())
    return len(outcomes)


def _send(deps: SopDeps, row: dict[str, Any], variant: dict[str, Any], sender: str | None,
          key: str, outcome: Callable[..., None]) -> None:
    """One step through a send intent (:mod:`workers.send_intents`): what an earlier attempt
    left is settled first; a WeCom step goes as a task of the member's UserID."""
    campaigns, channel = deps.campaigns, row["channel"]
    vid = variant["variant_id"]
    address = addresses_on(campaigns, channel, [row]).get(row["customer_id"])
    if address is None or (channel == "wecom_mass" and not sender):
        outcome(row, "failed", "NO_ADDRESS", vid)
        return
    intents = campaigns.intents()
    earlier, free, waiting = intents.resolve(channel, {key: address})
    if key in earlier:
        outcome(row, "sent" if earlier[key].sent else "failed", earlier[key].detail, vid)
        return
    if waiting or key not in free:
        raise RetryLater("a step of an earlier attempt is being resolved")
    text = fill(variant, template_values(row))  # the row's lifecycle
    if text is None:  # a value missing and no fallback: never a blank placeholder
        outcome(row, "failed", "MISSING_VALUE", vid)
        return
    pace(campaigns, channel, 1)
    if channel == "wecom_mass":
        assert sender is not None
        userid = campaigns.store.sender_userids([sender]).get(sender)
        if userid is None:
            outcome(row, "failed", "NO_SENDER_USERID", vid)
            return
        settled, retry = intents.mass_send(userid, {key: address}, text, key)
    else:
        template = variant.get("template_id") or ""

        def call(_held: Sequence[str]) -> list[DirectResult]:
            return [campaigns.gateway.send_direct(channel, address, template, {"text": text},
                                                  key)]

        settled, retry = intents.direct(channel, {key: address},
                                        digest(f"{template}\n{text}"), call)
        intents.flush()
    if key in settled:
        outcome(row, "sent" if settled[key].sent else "failed", settled[key].detail, vid)
    if retry:
        raise RetryLater(retry)


def declare_sop_actor(broker: dramatiq.Broker, deps: SopDeps, *, queue_name: str = SOP_QUEUE
                      ) -> dramatiq.Actor[[list[str]], None]:
    def send_sop_steps(items: list[str]) -> None:
        recorded = send_steps(deps, parse(items))
        log.info("SOP chunk: %d outcomes recorded", recorded)

    declare = dramatiq.actor(broker=broker, actor_name=ACTOR_NAME, queue_name=queue_name,
                             max_retries=50, min_backoff=500, max_backoff=60_000,
                             retry_when=lambda retries, error: isinstance(error, RetryLater)
                             or retries < 5)
    return declare(send_sop_steps)


class SopDispatcher(PollingLoop):
    """Polls due SOP steps and enqueues chunks; stale enqueues (a lost message) come again."""

    name = "SOP dispatcher"

    def __init__(self, store: SopStore, enqueue: Callable[[list[str]], None], *,
                 stale_after: timedelta = timedelta(minutes=5), poll_interval: float = 1.0,
                 batch_size: int = 1000,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        super().__init__(poll_interval, batch_size)
        self.store = store
        self.enqueue = enqueue
        self.stale_after = stale_after
        self.clock = clock

    def run_once(self) -> int:
        chunks = self.store.claim_due(self.clock(), self.stale_after, self.batch_size)
        for chunk in chunks:
            self.enqueue(chunk)
        return sum(len(c) for c in chunks)
