"""``staff_daily_performance``: each staff member's KPIs per business day (Asia/Shanghai).

What a page does, in the runner's transaction (so the rows and the tracking
position commit together):

1. **Ownership.** ``Customer.OwnerChanged`` events are folded into this view's
   own copy of the ownership periods (``staff_kpi_ownership``, with
   :func:`projections.organisation.ownership_periods`), so crediting never waits
   for another projection. Orders and refunds already credited after an earlier
   business time of a changed period are credited again (moved from one owner's
   day to the other's), so a late handover event changes exactly what it should.
2. **Ledger.** Each relevant event becomes one ``staff_kpi_ledger`` row keyed by
   its log position (``INSERT … ON CONFLICT DO NOTHING RETURNING``): only rows
   inserted now count, so a page applied twice changes nothing. Orders and
   refunds name the owner at the event's business time (:func:`owner_at`).
3. **Counters** are added per (staff, day) in one upsert.
4. **Chats** (:mod:`projections.staff_performance.chats`): messages are folded into waits whose
   response times are measured in working time (``WorkingHours``); each touched day's
   exact response times, median and p90 are recomputed.
5. **Retention** (:mod:`projections.staff_performance.retention`): an add is retained
   at 7 / 30 days when the last friend event of that (customer, staff) pair at or
   before ``added_at + 7 / 30 days`` is an add; the statuses a page's friend events
   change (of adds up to 30 days before them) are added to their days.
6. **Execution**: sensitive-word hits (the member's own, and the customers' in the member's
   chats by category: :mod:`projections.staff_performance.sensitive`) go through the ledger
   like the other facts;
   marketing tasks and WeCom mass-send tasks are folded by
   :mod:`projections.staff_performance.execution` (which day each is credited to is documented there).

Row logic lives in pure functions (:func:`ledger_entry`, :func:`counter_deltas`,
:func:`friend_at`, and the chat functions of :mod:`projections.staff_performance.chats`) testable
without a database.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from adapters.binary_arrays import column, register
from domain.customer import Customer
from domain.staff import Staff
from domain.working_hours import WorkingHours
from domain.working_time import SHANGHAI as SHANGHAI  # Asia/Shanghai business days
from domain.working_time import business_day as business_day
from projections.organisation import owner_at, ownership_periods
from projections.postgres_views import _dumps, create_schema, upsert_rows
from projections.schema_lock import serialise_ddl
from projections.staff_performance.chats import apply_messages, apply_working_hours
from projections.staff_performance.execution import (
    CAMPAIGN_EVENTS,
    TASK_EVENTS,
    campaign_tasks,
    marketing_tasks,
)
from projections.staff_performance.ledger import insert_ledger
from projections.staff_performance.retention import update_retention
from projections.staff_performance.sensitive import (
    CUSTOMER_HIT,
    CUSTOMER_HIT_COUNTERS,
    STAFF_HIT,
    customer_hit_deltas,
    hit_categories,
)

VERSION = 6  # 2: response times in working time (staff_kpi_schedule); 3: execution KPIs;
# 4: paying_customers (the rollup's converted customers without a ledger scan);
# 5: customer-side sensitive-word hits by category (and the ledger's hit categories);
# 6: retention_due, the due-window rule shared with the manager overview; department
# credit by one join on staff_departments_daily, not staff_department_on per row
#: NOTIFYed (in the page's transaction, so delivered on commit) after a page that changed
#: staff KPIs or targets; payload ``<view>:<last position>``. The API's leaderboard listens.
KPI_CHANNEL = "siyu_staff_kpis"

Row = dict[str, Any]

COUNTERS = ("friends_new", "friends_deleted_by_customer", "friends_deleted_by_staff",
            "messages_received", "messages_sent", "orders_paid", "gmv_fen", "refunds",
            "refund_fen", "moments_posts", "greetings_sent", "follow_ups", "sensitive_word_hits",
            *CUSTOMER_HIT_COUNTERS, "marketing_tasks_assigned", "marketing_tasks_completed",
            "campaign_tasks_created", "campaign_sends_confirmed")

HANDLED: tuple[type[Any], ...] = (
    Customer.FriendAdded, Customer.FriendDeleted, Customer.MessageReceived,
    Customer.MessageSent, Customer.OrderPaid, Customer.OrderRefunded, Customer.OwnerChanged,
    Customer.HolidayGreetingSent, Customer.FollowUpRecorded, Staff.MomentPosted,
    WorkingHours.Changed, Customer.SensitiveWordsFound, *TASK_EVENTS, *CAMPAIGN_EVENTS)
ORDER_KINDS = ("order_paid", "order_refunded")
#: A sensitive-word hit's side → its ledger kind (the member's own; a customer's in their chat).
SIDES = {"staff": STAFF_HIT, "customer": CUSTOMER_HIT}
FRIEND_KINDS = ("friend_added", "friend_deleted_by_customer", "friend_deleted_by_staff")


def notify_kpis_changed(curs: Cursor[DictRow], view: str, position: int) -> None:
    """Tell listeners (on commit) that staff KPIs or targets changed up to ``position``."""
    curs.execute("SELECT pg_notify(%s, %s)", (KPI_CHANNEL, f"{view}:{position}"))


def ledger_entry(event: Any, position: int) -> Row | None:
    """The ledger row of one event (orders get their owner later); None if not a KPI fact."""
    if not isinstance(event, (Customer.Event, Staff.MomentPosted)):
        return None  # marketing and campaign tasks: see projections.staff_performance.execution
    at: datetime = event.occurred_at
    row: Row = {"position": position, "customer_id": None, "staff_id": None, "at": at,
                "day": business_day(at), "channel": None, "amount_fen": None}
    if isinstance(event, Staff.MomentPosted):
        return {**row, "kind": "moment_posted", "staff_id": str(event.originator_id)}
    row["customer_id"] = event.originator_id
    if isinstance(event, Customer.FriendAdded):
        return {**row, "kind": "friend_added", "staff_id": event.staff_id,
                "channel": event.channel}
    if isinstance(event, Customer.FriendDeleted):
        return {**row, "kind": f"friend_deleted_by_{event.deleted_by}",
                "staff_id": event.staff_id}
    if isinstance(event, Customer.MessageReceived):
        return {**row, "kind": "message_received", "staff_id": event.staff_id}
    if isinstance(event, Customer.MessageSent):
        return {**row, "kind": "message_sent", "staff_id": event.staff_id}
    if isinstance(event, Customer.OrderPaid):
        return {**row, "kind": "order_paid", "amount_fen": event.amount_fen}
    if isinstance(event, Customer.OrderRefunded):
        return {**row, "kind": "order_refunded", "amount_fen": event.amount_fen}
    if isinstance(event, Customer.HolidayGreetingSent):
        return {**row, "kind": "greeting_sent", "staff_id": event.staff_id}
    if isinstance(event, Customer.FollowUpRecorded):
        return {**row, "kind": "follow_up", "staff_id": event.staff_id}
    if isinstance(event, Customer.SensitiveWordsFound) and event.side in SIDES:
        return {**row, "kind": SIDES[event.side], "staff_id": event.staff_id,
                "categories": hit_categories(event.hits)}
    return None


def counter_deltas(entry: Row) -> dict[str, int]:
    """What one ledger row adds to its (staff, day) counters."""
    kind = entry["kind"]
    if kind == "friend_added":
        return {"friends_new": 1}
    if kind in ("friend_deleted_by_customer", "friend_deleted_by_staff"):
        return {f"friends_deleted_by_{kind.rsplit('_', 1)[1]}": 1}
    if kind == "message_received":
        return {"messages_received": 1}
    if kind == "message_sent":
        return {"messages_sent": 1}
    if kind == "order_paid":
        return {"orders_paid": 1, "gmv_fen": int(entry["amount_fen"])}
    if kind == "order_refunded":
        return {"refunds": 1, "refund_fen": int(entry["amount_fen"])}
    if kind == CUSTOMER_HIT:
        return customer_hit_deltas(entry["categories"])
    return {"moment_posted": {"moments_posts": 1}, "greeting_sent": {"greetings_sent": 1},
            "follow_up": {"follow_ups": 1},
            STAFF_HIT: {"sensitive_word_hits": 1}}[kind]


# -- friends --------------------------------------------------------------------------------
def friend_at(changes: Iterable[tuple[datetime, int, bool]], at: datetime) -> bool:
    """Whether a (customer, staff) pair is friends at ``at``, given its (time, position,
    added) changes: the last change at or before ``at`` decides."""
    before = [c for c in changes if c[0] <= at]
    return bool(before) and max(before, key=lambda c: (c[0], c[1]))[2]


#: The organisation read models' DDL: the manager view joins them.
ORGANISATION = Path(__file__).parents[1] / "organisation"


def _sql() -> str:
    return (Path(__file__).parent / "staff_performance.sql").read_text()


class StaffPerformanceView:
    """``staff_daily_performance`` and ``staff_daily_channel`` (see the module)."""

    name = "staff_daily_performance"
    version = VERSION
    events = HANDLED

    def bind(self, app: Application[Any]) -> None:
        """Folds events only: needs nothing from the application."""

    def create(self, curs: Cursor[DictRow]) -> None:
        serialise_ddl(curs)
        create_schema(curs)  # customer_profile (the manager view reads it)
        curs.execute((ORGANISATION / "organisation.sql").read_text())
        curs.execute((ORGANISATION / "customer_ownership.sql").read_text())
        curs.execute(_sql())

    def drop(self, curs: Cursor[DictRow]) -> None:
        curs.execute("DROP TABLE IF EXISTS staff_daily_performance, staff_daily_channel, "
                     "staff_kpi_ledger, staff_kpi_ownership, staff_kpi_thread, staff_kpi_wait, "
                     "staff_kpi_schedule, staff_kpi_task, staff_kpi_campaign_recipient, "
                     "staff_kpi_campaign_task CASCADE")

    def clear(self, curs: Cursor[DictRow]) -> None:
        curs.execute("TRUNCATE staff_daily_performance, staff_daily_channel, staff_kpi_ledger, "
                     "staff_kpi_ownership, staff_kpi_thread, staff_kpi_wait, staff_kpi_schedule, "
                     "staff_kpi_task, staff_kpi_campaign_recipient, staff_kpi_campaign_task")

    def apply_page(self, curs: Cursor[DictRow], events: Sequence[tuple[int, Any]]) -> None:
        relevant = [(n, e) for n, e in events if isinstance(e, HANDLED)]
        if not relevant:
            return
        deltas: dict[tuple[str, date], Counter[str]] = defaultdict(Counter)
        order_customers = {e.originator_id for _, e in relevant
                           if isinstance(e, (Customer.OrderPaid, Customer.OrderRefunded,
                                             Customer.OwnerChanged))}
        periods = _fold_ownership(curs, order_customers, relevant)
        paying = _recredit(curs, periods, relevant, deltas)
        entries = []
        for position, event in relevant:
            entry = ledger_entry(event, position)
            if entry is None:
                continue
            if entry["kind"] in ORDER_KINDS:
                entry["staff_id"] = owner_at(periods.get(event.originator_id, []),
                                             entry["at"])
            entries.append(entry)
        new = insert_ledger(curs, entries)
        for entry in new:
            if entry["staff_id"] is not None:
                deltas[(entry["staff_id"], entry["day"])].update(counter_deltas(entry))
                if entry["kind"] == "order_paid":
                    paying.add((entry["staff_id"], entry["day"]))
        executed = marketing_tasks(curs, relevant, deltas)
        executed = campaign_tasks(curs, relevant, deltas) or executed
        _add_counters(curs, deltas)
        _paying_customers(curs, paying)
        apply_working_hours(curs, [(n, e) for n, e in relevant
                                   if isinstance(e, WorkingHours.Changed)])
        apply_messages(curs, [e for e in new if e["kind"] in ("message_received", "message_sent")])
        update_retention(curs, [e for e in new if e["kind"] in FRIEND_KINDS])
        if new or deltas or executed or any(isinstance(e, WorkingHours.Changed)
                                            for _, e in relevant):
            notify_kpis_changed(curs, self.name, relevant[-1][0])


def _fold_ownership(curs: Cursor[DictRow], customers: set[UUID],
                    events: Sequence[tuple[int, Any]]) -> dict[UUID, list[Row]]:
    """Load the customers' periods, fold the page's OwnerChanged, write the changed ones."""
    if not customers:
        return {}
    register(curs.adapters)  # the arrays below go as built (adapters.binary_arrays)
    curs.execute("SELECT * FROM staff_kpi_ownership WHERE customer_id = ANY(%b) "
                 "ORDER BY customer_id, period FOR UPDATE", (column("uuid", sorted(customers)),))
    periods: dict[UUID, list[Row]] = defaultdict(list)
    for row in curs.fetchall():
        periods[row["customer_id"]].append(dict(row))
    before = {cid: [dict(p) for p in ps] for cid, ps in periods.items()}
    for position, event in events:
        if isinstance(event, Customer.OwnerChanged):
            periods[event.originator_id] = ownership_periods(
                periods.get(event.originator_id, []), event, position)
    changed = [r for cid, ps in periods.items() for r in ps
               if r not in before.get(cid, [])]
    upsert_rows(curs, "staff_kpi_ownership", "customer_id, period",
                [r for r in changed if r["until"] is not None])
    upsert_rows(curs, "staff_kpi_ownership", "customer_id, period",
                [r for r in changed if r["until"] is None])
    return dict(periods)


def _recredit(curs: Cursor[DictRow], periods: dict[UUID, list[Row]],
              events: Sequence[tuple[int, Any]],
              deltas: dict[tuple[str, date], Counter[str]]) -> set[tuple[str, date]]:
    """Credit again the stored orders and refunds a late ownership change concerns.

    Returns the (staff, day) pairs a paid order moved from or to."""
    since: dict[UUID, datetime] = {}
    for _, event in events:
        if isinstance(event, Customer.OwnerChanged):
            cid = event.originator_id
            times = [p["since"] for p in periods.get(cid, [])
                     if p["opened_version"] == event.originator_version]
            times += [p["until"] for p in periods.get(cid, [])
                      if p["closed_version"] == event.originator_version]
            at = min(times, default=None)
            if at is not None and (cid not in since or at < since[cid]):
                since[cid] = at
    if not since:
        return set()
    ids = sorted(since)
    curs.execute(
        "SELECT l.* FROM staff_kpi_ledger l JOIN unnest(%b::uuid[], %b::timestamptz[]) "
        "AS c(id, since) ON l.customer_id = c.id AND l.at >= c.since "
        "WHERE l.kind IN ('order_paid', 'order_refunded') FOR UPDATE OF l",
        (column("uuid", ids), column("timestamptz", [since[i] for i in ids])))
    moved: list[tuple[int, str | None]] = []
    paying: set[tuple[str, date]] = set()
    for row in curs.fetchall():
        owner = owner_at(periods.get(row["customer_id"], []), row["at"])
        if owner == row["staff_id"]:
            continue
        change = counter_deltas(row)
        if row["staff_id"] is not None:
            deltas[(row["staff_id"], row["day"])].subtract(change)
        if owner is not None:
            deltas[(owner, row["day"])].update(change)
        moved.append((row["position"], owner))
        if row["kind"] == "order_paid":
            paying |= {(s, row["day"]) for s in (row["staff_id"], owner) if s is not None}
    if moved:
        curs.execute("UPDATE staff_kpi_ledger l SET staff_id = m.staff_id "
                     "FROM unnest(%s::bigint[], %s::text[]) AS m(position, staff_id) "
                     "WHERE l.position = m.position",
                     ([m[0] for m in moved], [m[1] for m in moved]))
    return paying


def _paying_customers(curs: Cursor[DictRow], keys: set[tuple[str, date]]) -> None:
    """Recompute, from the ledger, who paid on the (staff, day) pairs whose orders changed:
    the rollup's converted customers are the distinct union of these (no ledger scan)."""
    if not keys:
        return
    ordered = sorted(keys)
    curs.execute(
        "UPDATE staff_daily_performance d SET paying_customers = coalesce(("
        "  SELECT array_agg(DISTINCT l.customer_id ORDER BY l.customer_id) "
        "  FROM staff_kpi_ledger l WHERE l.kind = 'order_paid' "
        "  AND l.staff_id = d.staff_id AND l.day = d.day), '{}') "
        "FROM unnest(%s::text[], %s::date[]) AS k(s, d) "
        "WHERE d.staff_id = k.s AND d.day = k.d",
        ([k[0] for k in ordered], [k[1] for k in ordered]))


def _add_counters(curs: Cursor[DictRow], deltas: dict[tuple[str, date], Counter[str]]) -> None:
    rows = [{"staff_id": staff, "day": day, **{c: counts.get(c, 0) for c in COUNTERS}}
            for (staff, day), counts in sorted(deltas.items())]
    if not rows:
        return
    names = ", ".join(("staff_id", "day", *COUNTERS))
    adds = ", ".join(f"{c} = staff_daily_performance.{c} + excluded.{c}" for c in COUNTERS)
    curs.execute(
        f"INSERT INTO staff_daily_performance ({names}) SELECT {names} FROM "
        f"jsonb_populate_recordset(null::staff_daily_performance, %s) "
        f"ON CONFLICT (staff_id, day) DO UPDATE SET {adds}",
        (Jsonb(rows, dumps=_dumps),))
