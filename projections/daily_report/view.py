"""Read models of the daily report: ``daily_report_activity`` and ``daily_report``.

``daily_report_activity`` counts, per staff member and Shanghai calendar day: friends
added and deleted (by the customer, by the staff member), messages received and sent
(the staff member's own chats), and paid orders with their amount for the customers the
staff member **owned** when the payment was projected (``daily_report_owner`` follows
``Customer.OwnerChanged`` in log order, so a rebuild credits the same owner). Events
count on the day they happened, a late one too. This is deliberately small: the full
KPI model (``staff_daily_performance``) is separate.

``daily_report`` has one row per ``DailyReport`` (the figures as compiled, the target
progress and a manager's per-member breakdown as compiled, and whether the send went
through).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from psycopg import Cursor
from psycopg.rows import DictRow

from adapters.binary_arrays import column, register
from domain.customer import Customer
from domain.daily_report import MEASURES, DailyReport
from projections.postgres_views import fold_page
from projections.schema_lock import serialise_ddl

SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")
Row = dict[str, Any]
Counts = dict[tuple[str, date], dict[str, int]]


def shanghai_day(at: datetime) -> date:
    return at.astimezone(SHANGHAI).date()


def count(counts: Counts, owners: dict[UUID, str | None], event: Any) -> None:
    """Add one event's contribution (pure: the owners map is updated in place)."""
    def add(staff: str | None, measure: str, n: int = 1) -> None:
        if staff:
            cell = counts.setdefault((staff, shanghai_day(event.occurred_at)), {})
            cell[measure] = cell.get(measure, 0) + n

    if isinstance(event, Customer.OwnerChanged):
        owners[event.originator_id] = event.staff_id
    elif isinstance(event, Customer.FriendAdded):
        add(event.staff_id, "new_friends")
    elif isinstance(event, Customer.FriendDeleted):
        add(event.staff_id, f"deleted_by_{event.deleted_by}")
    elif isinstance(event, Customer.MessageReceived):
        add(event.staff_id, "messages_received")
    elif isinstance(event, Customer.MessageSent):
        add(event.staff_id, "messages_sent")
    elif isinstance(event, Customer.OrderPaid):
        owner = owners.get(event.originator_id)
        add(owner, "orders")
        add(owner, "gmv_fen", event.amount_fen)


def report_row(row: Row | None, event: Any, position: int) -> Row | None:
    if isinstance(event, DailyReport.Compiled):
        return {"report_id": event.originator_id, "recipient_id": event.recipient_id,
                "scope": event.scope, "day": event.day, "figures": event.figures,
                "previous": event.previous, "targets": event.targets,
                "members": event.members, "compiled_at": event.occurred_at,
                "status": "compiled", "sent_at": None, "failure": None,
                "last_version": event.originator_version}
    if row is None or event.originator_version <= row["last_version"]:
        return row
    row = dict(row, last_version=event.originator_version)
    if isinstance(event, DailyReport.Sent):
        row.update(status="sent", sent_at=event.occurred_at)
    elif isinstance(event, DailyReport.SendFailed):
        row.update(status="failed", failure=event.reason)
    return row


_COUNTED = (Customer.OwnerChanged, Customer.FriendAdded, Customer.FriendDeleted,
            Customer.MessageReceived, Customer.MessageSent, Customer.OrderPaid)


class DailyReportView:
    name = "daily_report"
    version = 2  # 2: targets and members (the GraphQL report shows them)
    events = (*_COUNTED, DailyReport)  # only what it counts is decoded

    def bind(self, app: Application[Any]) -> None:
        """Folds events only."""

    def create(self, curs: Cursor[DictRow]) -> None:
        serialise_ddl(curs)
        curs.execute((Path(__file__).parent / "daily_report.sql").read_text())

    def drop(self, curs: Cursor[DictRow]) -> None:
        curs.execute("DROP TABLE IF EXISTS daily_report, daily_report_activity, "
                     "daily_report_owner")

    def clear(self, curs: Cursor[DictRow]) -> None:
        curs.execute("TRUNCATE daily_report, daily_report_activity, daily_report_owner")

    def apply_page(self, curs: Cursor[DictRow], events: Sequence[tuple[int, Any]]) -> None:
        fold_page(curs, "daily_report", "report_id", events,
                  lambda e: isinstance(e, (DailyReport.Compiled, DailyReport.Event)),
                  report_row)
        counted = [e for _, e in events if isinstance(e, _COUNTED)]
        if not counted:
            return
        paying = sorted({e.originator_id for e in counted
                         if isinstance(e, (Customer.OrderPaid, Customer.OwnerChanged))})
        register(curs.adapters)  # the arrays below go as built (adapters.binary_arrays)
        curs.execute("SELECT customer_id, staff_id FROM daily_report_owner "
                     "WHERE customer_id = ANY(%b)", (column("uuid", paying),))
        owners: dict[UUID, str | None] = {r["customer_id"]: r["staff_id"]
                                          for r in curs.fetchall()}
        stored = dict(owners)
        counts: Counts = {}
        for event in counted:
            count(counts, owners, event)
        _write_owners(curs, {c: s for c, s in owners.items()
                             if c not in stored or stored[c] != s})
        _add_counts(curs, counts)


def _write_owners(curs: Cursor[DictRow], changed: dict[UUID, str | None]) -> None:
    """The page's changed owners, in two statements (an owner of None: no row)."""
    if not changed:
        return
    curs.execute("DELETE FROM daily_report_owner WHERE customer_id = ANY(%b)",
                 (column("uuid", sorted(changed)),))
    kept = sorted((c, s) for c, s in changed.items() if s is not None)
    if kept:
        curs.execute("INSERT INTO daily_report_owner "
                     "SELECT * FROM unnest(%b::uuid[], %b::text[])",
                     (column("uuid", [c for c, _ in kept]), column("text", [s for _, s in kept])))


def _add_counts(curs: Cursor[DictRow], counts: Counts) -> None:
    """Add the page's counts to their (staff, day) rows in one upsert (keys are distinct)."""
    if not counts:
        return
    cells = sorted(counts.items())
    names = ", ".join(MEASURES)
    adds = ", ".join(f"{m} = daily_report_activity.{m} + excluded.{m}" for m in MEASURES)
    arrays = ", ".join("%b::bigint[]" for _ in MEASURES)
    curs.execute(
        f"INSERT INTO daily_report_activity (staff_id, day, {names}) "
        f"SELECT * FROM unnest(%b::text[], %s::date[], {arrays}) "
        f"ON CONFLICT (staff_id, day) DO UPDATE SET {adds}",
        (column("text", [staff for (staff, _), _ in cells]), [day for (_, day), _ in cells],
         *(column("bigint", [cell.get(m, 0) for _, cell in cells]) for m in MEASURES)))
