"""``sop``, ``sop_revision``, ``sop_enrolment`` and ``sop_send``: automated sequences.

Enrolment is decided here, from the log alone, so a rebuild decides the same: a trigger
event (``FriendAdded``, ``GroupJoined``) enrols the customer in every *active* sequence
whose trigger matches, under the revision current at that point of the log, once per
(sequence, customer, trigger occurrence) — and not while an enrolment of the same
sequence runs for the customer. The enrolment's steps are planned at once (due at the
trigger's ``occurred_at`` + offset): the intent the dispatcher reads. A stop event after
the enrolment (:func:`domain.sop.stop_reason`) stops it and cancels its planned steps
(leaving the group whose joining enrolled the customer too: ``trigger_group``) — but an
opt-out cancels only the **marketing** steps: the enrolment goes on with its service steps
(order notices, after-sales guidance), and stops ``opted_out`` when none is left;
archiving a sequence stops its running enrolments. Outcomes come from the customers'
``SopStep*`` facts (recorded once per send key); an enrolment with no planned step left
is completed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from adapters.binary_arrays import column, register
from domain.customer import Customer
from domain.message_class import MARKETING, SERVICE
from domain.sop import (
    ARCHIVED,
    FRIEND_ADDED,
    GROUP_JOINED,
    LEFT_GROUP,
    OPTED_OUT,
    Sop,
    Trigger,
    enrolment_id,
    matches,
    schedule,
    stop_reason,
)

TABLES = ("sop", "sop_revision", "sop_enrolment", "sop_send")
STOPS: tuple[type[Any], ...] = (Customer.OrderPaid, Customer.DoNotDisturbSet,
                                Customer.StaffMuted, Customer.ConsentWithdrawn,
                                Customer.FriendDeleted, Customer.GroupLeft)
OUTCOMES = {Customer.SopStepSent: "sent", Customer.SopStepFailed: "failed",
            Customer.SopStepSkipped: "skipped"}


class SopView:
    name = "sop"
    # 2: enrolments by a group stop when the customer leaves it (trigger_group)
    # 3: an opt-out cancels marketing steps only (sop_send.message_class); the WeCom
    #    sender of a sent step and why (sop_send.sender, sender_basis)
    version = 3
    events = (Sop, Customer.FriendAdded, Customer.GroupJoined, *OUTCOMES, *STOPS)

    def bind(self, app: Application[Any]) -> None:
        """Folds events only."""

    def create(self, curs: Cursor[DictRow]) -> None:
        curs.execute((Path(__file__).parent / "sops.sql").read_text())

    def drop(self, curs: Cursor[DictRow]) -> None:
        curs.execute("DROP VIEW IF EXISTS sop_progress, sop_step_progress")
        curs.execute("DROP TABLE IF EXISTS " + ", ".join(TABLES) + " CASCADE")

    def clear(self, curs: Cursor[DictRow]) -> None:
        curs.execute("TRUNCATE " + ", ".join(TABLES))

    def apply_page(self, curs: Cursor[DictRow], events: Sequence[tuple[int, Any]]) -> None:
        active: list[dict[str, Any]] | None = None  # active sequences, read once per page
        running = _running(curs, events)
        for _, event in events:
            if isinstance(event, Sop.Defined | Sop.Event):
                _sop_event(curs, event)
                active = None
            elif isinstance(event, Customer.FriendAdded | Customer.GroupJoined):
                if active is None:
                    active = list(curs.execute(
                        "SELECT sop_id, revision, trigger, steps, stop_on_converted, "
                        "stop_on_opted_out FROM sop WHERE state = 'active' ORDER BY sop_id"))
                if _enrol(curs, event, active):
                    running.add(event.originator_id)
            elif type(event) in OUTCOMES:
                _outcome(curs, event)
            elif isinstance(event, STOPS) and event.originator_id in running:
                _stop(curs, event)


def _running(curs: Cursor[DictRow], events: Sequence[tuple[int, Any]]) -> set[Any]:
    """The customers of the page's stop events with an enrolment running before the page,
    in one query: most stop events (orders, deleted friends, left groups) are of customers
    no sequence runs for, and a stop costs up to four statements. The page adds those it
    enrols; a customer in neither set has no enrolment a stop could end."""
    stopping = sorted({e.originator_id for _, e in events if isinstance(e, STOPS)})
    if not stopping:
        return set()
    register(curs.adapters)  # the ids go as one array built in binary
    curs.execute("SELECT DISTINCT customer_id FROM sop_enrolment WHERE state = 'active' "
                 "AND customer_id = ANY(%b)", (column("uuid", stopping),))
    return {r["customer_id"] for r in curs.fetchall()}


def occurrence(event: Any) -> Trigger:
    if isinstance(event, Customer.FriendAdded):
        return Trigger(FRIEND_ADDED, channel=event.channel, staff_id=event.staff_id)
    return Trigger(GROUP_JOINED, group_id=event.group_id)


def _sop_event(curs: Cursor[DictRow], e: Any) -> None:
    sid = e.originator_id
    if isinstance(e, Sop.Defined | Sop.Revised):
        revision = getattr(e, "revision", 1)
        curs.execute(
            "INSERT INTO sop_revision VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT DO NOTHING",
            (sid, revision, e.name, Jsonb(e.trigger), Jsonb(e.steps), e.stop_on_converted,
             e.stop_on_opted_out, e.by, e.occurred_at))
    if isinstance(e, Sop.Defined):
        curs.execute(
            "INSERT INTO sop VALUES (%s, %s, %s, 'active', 1, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (sop_id) DO NOTHING",
            (sid, e.name, e.owner, Jsonb(e.trigger), Jsonb(e.steps), e.stop_on_converted,
             e.stop_on_opted_out, e.by, e.occurred_at, e.occurred_at, e.originator_version))
        return
    curs.execute("UPDATE sop SET last_version = %s, changed_at = %s WHERE sop_id = %s "
                 "AND last_version < %s RETURNING sop_id",
                 (e.originator_version, e.occurred_at, sid, e.originator_version))
    if curs.fetchone() is None:
        return  # applied already
    if isinstance(e, Sop.Revised):
        curs.execute("UPDATE sop SET name = %s, revision = %s, trigger = %s, steps = %s, "
                     "stop_on_converted = %s, stop_on_opted_out = %s WHERE sop_id = %s",
                     (e.name, e.revision, Jsonb(e.trigger), Jsonb(e.steps),
                      e.stop_on_converted, e.stop_on_opted_out, sid))
    elif isinstance(e, Sop.Paused | Sop.Resumed):
        curs.execute("UPDATE sop SET state = %s WHERE sop_id = %s",
                     ("paused" if isinstance(e, Sop.Paused) else "active", sid))
    elif isinstance(e, Sop.Archived):
        curs.execute("UPDATE sop SET state = 'archived' WHERE sop_id = %s", (sid,))
        _end(curs, "sop_id = %s", (sid,), ARCHIVED, e.occurred_at)


def _enrol(curs: Cursor[DictRow], e: Any, active: Sequence[dict[str, Any]]) -> bool:
    """Enrol the event's customer in the active sequences it triggers; whether it did."""
    found = occurrence(e)
    customer = e.originator_id
    enrolled = False
    for sop in active:
        if not matches(sop["trigger"], found):
            continue
        eid = enrolment_id(sop["sop_id"], customer, e.originator_version)
        curs.execute(
            "INSERT INTO sop_enrolment (enrolment_id, sop_id, revision, customer_id, "
            "trigger_kind, trigger_version, trigger_group, triggered_at, state, "
            "stop_on_converted, stop_on_opted_out) "
            "SELECT %s, %s, %s, %s, %s, %s, %s, %s, 'active', %s, %s "
            "WHERE NOT EXISTS (SELECT 1 FROM sop_enrolment WHERE sop_id = %s AND "
            "customer_id = %s AND state = 'active') ON CONFLICT DO NOTHING RETURNING 1",
            (eid, sop["sop_id"], sop["revision"], customer, found.kind, e.originator_version,
             found.group_id, e.occurred_at, sop["stop_on_converted"], sop["stop_on_opted_out"], sop["sop_id"],
             customer))
        if curs.fetchone() is None:
            continue  # one runs already (or this occurrence was applied)
        enrolled = True
        steps = {s["step"]: s for s in sop["steps"]}
        due = schedule(e.occurred_at, sop["steps"])
        curs.execute(
            "INSERT INTO sop_send (enrolment_id, step, sop_id, revision, customer_id, channel, "
            "message_class, due_at, status) SELECT %s, n, %s, %s, %s, ch, k, t, 'planned' "
            "FROM unnest(%s::int[], %s::text[], %s::text[], %s::timestamptz[]) AS r(n, ch, k, t) "
            "ON CONFLICT DO NOTHING",
            (eid, sop["sop_id"], sop["revision"], customer, [n for n, _ in due],
             [steps[n]["channel"] for n, _ in due],
             [steps[n].get("message_class") or MARKETING for n, _ in due],
             [t for _, t in due]))
    return enrolled


def _end(curs: Cursor[DictRow], where: str, args: tuple[Any, ...], reason: str,
         at: Any) -> None:
    curs.execute(f"UPDATE sop_enrolment SET state = 'stopped', stop_reason = %s, ended_at = %s "
                 f"WHERE state = 'active' AND {where} RETURNING enrolment_id",
                 (reason, at, *args))
    ended = [r["enrolment_id"] for r in curs.fetchall()]
    if ended:
        curs.execute("UPDATE sop_send SET status = 'cancelled' WHERE enrolment_id = ANY(%s) "
                     "AND status = 'planned'", (ended,))


def _stop(curs: Cursor[DictRow], e: Any) -> None:
    if isinstance(e, Customer.GroupLeft):
        _end(curs, "customer_id = %s AND trigger_group = %s", (e.originator_id, e.group_id),
             LEFT_GROUP, e.occurred_at)
        return
    for converted, opted_out in ((True, True), (True, False), (False, True)):
        reason = stop_reason(e, converted, opted_out)
        if reason is None:
            continue
        where = "customer_id = %s AND stop_on_converted = %s AND stop_on_opted_out = %s"
        args = (e.originator_id, converted, opted_out)
        if reason == OPTED_OUT:
            _opt_out(curs, where, args, e.occurred_at)
        else:
            _end(curs, where, args, reason, e.occurred_at)


def _opt_out(curs: Cursor[DictRow], where: str, args: tuple[Any, ...], at: Any) -> None:
    """Cancel the planned marketing steps of the active enrolments ``where``; those with no
    planned (service) step left stop ``opted_out``."""
    curs.execute(f"UPDATE sop_send SET status = 'cancelled' WHERE status = 'planned' "
                 f"AND message_class <> %s AND enrolment_id IN (SELECT enrolment_id "
                 f"FROM sop_enrolment WHERE state = 'active' AND {where})", (SERVICE, *args))
    _end(curs, f"{where} AND NOT EXISTS (SELECT 1 FROM sop_send s WHERE s.enrolment_id = "
               f"sop_enrolment.enrolment_id AND s.status = 'planned')", args, OPTED_OUT, at)


def _outcome(curs: Cursor[DictRow], e: Any) -> None:
    eid = UUID(e.enrolment_id)
    curs.execute(
        "UPDATE sop_send SET status = %s, variant_id = %s, detail = %s, outcome_at = %s, "
        "sender = %s, sender_basis = %s "
        "WHERE enrolment_id = %s AND step = %s AND status IN ('planned', 'cancelled')",
        (OUTCOMES[type(e)], getattr(e, "variant_id", None),
         e.gateway_message_id if isinstance(e, Customer.SopStepSent) else e.reason,
         e.occurred_at, getattr(e, "sender", None) or None,
         getattr(e, "sender_basis", None) or None, eid, e.step))
    curs.execute(
        "UPDATE sop_enrolment SET state = 'completed', ended_at = %s WHERE enrolment_id = %s "
        "AND state = 'active' AND NOT EXISTS (SELECT 1 FROM sop_send WHERE enrolment_id = %s "
        "AND status = 'planned')", (e.occurred_at, eid, eid))
