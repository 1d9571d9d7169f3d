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
   condition of the enrolment's revision happened, ``LEFT_GROUP`` when the customer left
   the group whose joining enrolled them (:func:`domain.sop.stop_reason`);
3. skips a step more than :data:`domain.sop.MAX_LATE` late (``LATE``);
4. applies the campaigns' restraint rules (:func:`domain.restraint.decide`): DND and
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

WeCom steps are a mass-send task of one recipient, from the customer's owner when a
friend, else another current friend.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import dramatiq
from psycopg_pool import ConnectionPool

from adapters.campaign_gateway import Delivery
from application.sops import StepOutcome
from domain.campaign import render
from domain.restraint import Decision, Plan, Recipient, Variant, decide
from domain.sop import MAX_LATE, sop_send_key, stop_reason
from projections.campaign_planning import CONTACT_WINDOW, LAUNCH_LOCK, _friends, read_contacts
from workers.campaigns import CampaignDeps, RetryLater, _address, _pace, _values
from workers.polling import PollingLoop

log = logging.getLogger(__name__)

CHUNK = 100
ACTOR_NAME = "send_sop_steps"
SOP_QUEUE = "siyu_sops"

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS sop_dispatch (   -- internal: what the SOP dispatcher enqueued
    enrolment_id uuid    NOT NULL,
    step         integer NOT NULL,
    enqueued_at  timestamptz,
    not_before   timestamptz,                -- deferred out of quiet hours until then
    PRIMARY KEY (enrolment_id, step)
);
-- internal: a step decided under the customer's lock and being sent; counts toward the
-- caps (projections.campaign_planning.read_contacts) until the sop read model shows its
-- outcome
CREATE TABLE IF NOT EXISTS sop_contact_reservation (
    enrolment_id uuid        NOT NULL,
    step         integer     NOT NULL,
    customer_id  uuid        NOT NULL,
    channel      text        NOT NULL,
    reserved_at  timestamptz NOT NULL,
    PRIMARY KEY (enrolment_id, step)
);
CREATE INDEX IF NOT EXISTS sop_contact_reservation_customer_idx
    ON sop_contact_reservation (customer_id, reserved_at);
CREATE INDEX IF NOT EXISTS sop_contact_reservation_at_idx
    ON sop_contact_reservation (reserved_at);
"""
#: (namespace, hashtext(customer id)): one SOP decision per customer at a time
CUSTOMER_LOCK = 7368104

DUE = """
SELECT s.enrolment_id, s.step
FROM sop_send s
JOIN sop q ON q.sop_id = s.sop_id
JOIN sop_enrolment e ON e.enrolment_id = s.enrolment_id
LEFT JOIN sop_dispatch d ON d.enrolment_id = s.enrolment_id AND d.step = s.step
WHERE s.status = 'planned' AND q.state = 'active' AND e.state = 'active'
  AND greatest(s.due_at, d.not_before) <= %(now)s
  AND (d.enqueued_at IS NULL OR d.enqueued_at < %(stale)s)
ORDER BY s.due_at, s.enrolment_id, s.step
LIMIT %(limit)s
FOR UPDATE OF s SKIP LOCKED
"""

ROWS = """
SELECT s.enrolment_id, s.step, s.sop_id, s.customer_id, s.channel, s.due_at,
       e.trigger_version, e.trigger_group, e.stop_on_converted, e.stop_on_opted_out, r.steps,
       p.customer_id IS NOT NULL AS profiled, p.identities, p.points_balance, p.member_level,
       p.category_orders, p.dnd, 'marketing' = ANY(p.consents_withdrawn) AS withdrawn,
       p.current_staff_ids, o.staff_id AS owner,
       siyu_lifecycle(p.ever_friend, p.current_staff_ids, p.last_interaction_at,
                      p.first_seen_at, p.order_count, %(now)s) AS lifecycle
FROM sop_send s
JOIN sop_enrolment e ON e.enrolment_id = s.enrolment_id
JOIN sop q ON q.sop_id = s.sop_id
JOIN sop_revision r ON r.sop_id = s.sop_id AND r.revision = s.revision
LEFT JOIN customer_profile p ON p.customer_id = s.customer_id
LEFT JOIN customer_current_owner o ON o.customer_id = s.customer_id
WHERE (s.enrolment_id, s.step) IN (SELECT * FROM unnest(%(ids)s::uuid[], %(steps)s::int[]))
  AND s.status = 'planned' AND q.state = 'active' AND e.state = 'active'
ORDER BY s.customer_id, s.enrolment_id, s.step
"""


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
            conn.execute("SELECT pg_advisory_xact_lock(7368103)")
            conn.execute(SCHEMA_SQL)

    def claim_due(self, now: datetime, stale_after: timedelta, limit: int) -> list[list[str]]:
        """Due steps as chunks of ``enrolment:step``, noted as enqueued."""
        with self.pool.connection() as conn, conn.transaction():
            rows = conn.execute(DUE, {"now": now, "stale": now - stale_after,
                                      "limit": limit}).fetchall()
            if not rows:
                return []
            conn.execute("DELETE FROM sop_contact_reservation WHERE reserved_at < %s",
                         (now - CONTACT_WINDOW,))  # outside every cap's window
            conn.execute(
                "INSERT INTO sop_dispatch (enrolment_id, step, enqueued_at) SELECT e, s, %s "
                "FROM unnest(%s::uuid[], %s::int[]) AS r(e, s) ON CONFLICT (enrolment_id, "
                "step) DO UPDATE SET enqueued_at = excluded.enqueued_at",
                (now, [r["enrolment_id"] for r in rows], [r["step"] for r in rows]))
        ids = [item(r["enrolment_id"], r["step"]) for r in rows]
        return [ids[n:n + CHUNK] for n in range(0, len(ids), CHUNK)]

    def rows(self, items: Sequence[tuple[UUID, int]], now: datetime) -> list[dict[str, Any]]:
        """The still-planned steps with their customers' profiles."""
        with self.pool.connection() as conn:
            rows = conn.execute(ROWS, {"now": now, "ids": [i for i, _ in items],
                                       "steps": [s for _, s in items]}).fetchall()
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
            conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (LAUNCH_LOCK,))
            conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s::text))",
                         (CUSTOMER_LOCK, row["customer_id"]))
            contacts = read_contacts(conn, [row["customer_id"]], now, own_steps=[own])
            decision = decide(contacts.get(row["customer_id"], []))
            if decision.included and not decision.deferred:
                conn.execute(
                    "INSERT INTO sop_contact_reservation VALUES (%s, %s, %s, %s, %s) "
                    "ON CONFLICT (enrolment_id, step) DO NOTHING",
                    (*own, row["customer_id"], row["channel"], now))
        return decision

    def defer(self, enrolment: UUID, step: int, until: datetime) -> None:
        """Out of quiet hours: the dispatcher claims the step again at ``until``."""
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("UPDATE sop_dispatch SET not_before = %s, enqueued_at = NULL "
                         "WHERE enrolment_id = %s AND step = %s", (until, enrolment, step))


@dataclass
class SopDeps:
    campaigns: CampaignDeps  # the app, the gateway, the rate limiter, the clock
    store: SopStore


def _stopped(deps: SopDeps, row: dict[str, Any]) -> str | None:
    """A stop condition after the trigger, read from the customer's stream itself."""
    events = deps.campaigns.app.repository.event_store.get(
        row["customer_id"], gt=row["trigger_version"])
    for event in events:
        reason = stop_reason(event, row["stop_on_converted"], row["stop_on_opted_out"],
                             row["trigger_group"])
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

    def outcome(row: dict[str, Any], status: str, detail: str, variant: str = "") -> None:
        outcomes.append(StepOutcome(row["sop_id"], row["customer_id"], row["enrolment_id"],
                                    row["step"], row["channel"], variant, status, detail))

    try:
        for row in rows:
            step = row["steps"][row["step"]]
            reason = _stopped(deps, row)
            if reason is None and now - row["due_at"] > MAX_LATE:
                reason = "LATE"
            if reason is not None:
                outcome(row, "skipped", reason)
                continue
            plan = Plan(row["sop_id"], row["channel"], tuple(
                Variant(v["variant_id"], tuple(v["lifecycles"]), v["weight"])
                for v in step["variants"]))
            def on(contacts: Sequence[tuple[datetime, str]], plan: Plan = plan,
                   row: dict[str, Any] = row) -> Decision:
                who = Recipient(row["customer_id"], row["lifecycle"], dnd=row["dnd"],
                                consent_withdrawn=bool(row["withdrawn"]),
                                friends=_friends(row["current_staff_ids"], row["owner"]),
                                contacts=tuple(contacts))
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
            _send(deps, row, variant, decision.sender, keys[(row["enrolment_id"], row["step"])],
                  outcome)  # reserved: counts toward the caps of the customer's next steps
    finally:
        if outcomes:
            app.sops.record_step_outcomes(outcomes, deps.campaigns.clock())
    return len(outcomes)


def _send(deps: SopDeps, row: dict[str, Any], variant: dict[str, Any], sender: str | None,
          key: str, outcome: Callable[..., None]) -> None:
    campaigns, channel = deps.campaigns, row["channel"]
    address = _address(campaigns, channel, [row]).get(row["customer_id"])
    if address is None or (channel == "wecom_mass" and not sender):
        outcome(row, "failed", "NO_ADDRESS", variant["variant_id"])
        return
    text = render(variant["text"], {**_values(row), "lifecycle": row["lifecycle"]})
    _pace(campaigns, channel, 1)
    if channel == "wecom_mass":
        assert sender is not None
        task = campaigns.gateway.create_mass_send(sender.removeprefix("wecom_user:"),
                                                  [address], text, key)
        delivery, reason, detail = task.delivery, task.reason, task.task_id or "task"
        if address in set(task.refused):
            delivery, reason = Delivery.REFUSED, "REFUSED_BY_WECOM"
    else:
        result = campaigns.gateway.send_direct(channel, address, variant.get("template_id") or "",
                                               {"text": text}, key)
        delivery, reason = result.delivery, result.reason
        detail = result.message_id or result.delivery.value
    if delivery in (Delivery.ACCEPTED, Delivery.DUPLICATE):
        outcome(row, "sent", detail, variant["variant_id"])
    elif delivery is Delivery.REFUSED:
        outcome(row, "failed", reason, variant["variant_id"])
    else:
        raise RetryLater(reason)


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
