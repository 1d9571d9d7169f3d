"""Periods read models: ``staff_assignment`` and ``customer_ownership``.

Both are lists of *periods* per stream: a row opens with ``since`` and closes
with ``until`` (business times, UTC); the open row (``until`` null) is the
current one. The row logic is a pure function of a stream's periods and one
event (:func:`assignment_periods`, :func:`ownership_periods`), testable without
a database; the PostgreSQL views load the streams a page touches, fold it in
log order and upsert the changed periods in the runner's transaction.

Periods never overlap: a change closes the open period at its business time,
or at the period's start if it happened earlier (a late or skewed timestamp),
and opens the next one there. An event already folded (its stream version is
known) changes nothing, so a replay or a rebuild gives the same rows.

**Merges (OneID).** Ownership is per customer stream and the domain records
merges as ownership changes: the absorbed customer's period ends (``ended_reason``
``merged``), an ownerless survivor starts one with the absorbed customer's owner,
an unmerge gives the absorbed customer its owner back (``unmerged``). So the
survivor's periods answer for everything recorded on the survivor, and the
absorbed customer's periods for what was recorded on it before the merge.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from psycopg import Cursor
from psycopg.rows import DictRow

from domain.customer import Customer
from domain.staff import Staff
from projections.postgres_views import upsert_rows
from projections.schema_lock import serialise_ddl

VERSION = 1

Row = dict[str, Any]
Periods = list[Row]

STAFF_EVENTS: tuple[type[Any], ...] = (Staff.Hired, Staff.Moved, Staff.RoleChanged, Staff.Left)


def _folded(periods: Sequence[Row], version: int) -> bool:
    return any(version <= max(p["opened_version"], p["closed_version"] or 0) for p in periods)


def _change(periods: Sequence[Row], key: Row, event: Any, position: int, reason: str,
            opened: Row | None) -> Periods:
    """Close the open period (if any) and open ``opened`` (if given) where it ended."""
    rows = [dict(p) for p in periods]
    at: datetime = event.occurred_at
    start = at
    if rows and rows[-1]["until"] is None:
        current = rows[-1]
        start = max(at, current["since"])
        current.update(until=start, ended_reason=reason, ended_by=event.by,
                       ended_position=position, closed_version=event.originator_version)
    elif rows:
        start = max(at, rows[-1]["until"])
    if opened is not None:
        rows.append({**key, "period": len(rows) + 1, **opened, "since": start, "until": None,
                     "reason": reason, "by": event.by, "cause_position": position,
                     "ended_reason": None, "ended_by": None, "ended_position": None,
                     "opened_version": event.originator_version, "closed_version": None})
    return rows


def assignment_periods(periods: Sequence[Row], event: Any, position: int) -> Periods:
    """Fold one staff event into that member's department/role periods."""
    if not isinstance(event, STAFF_EVENTS) or _folded(periods, event.originator_version):
        return list(periods)
    key = {"staff_id": event.originator_id}
    if isinstance(event, Staff.Hired):
        if periods:
            return list(periods)
        return _change(periods, key, event, position, "hired",
                       {"department": event.department, "role": event.role})
    if not periods:
        return []
    last = periods[-1]
    if isinstance(event, Staff.Left):
        return _change(periods, key, event, position, "left", None)
    if isinstance(event, Staff.Moved):
        return _change(periods, key, event, position, "moved",
                       {"department": event.department, "role": last["role"]})
    return _change(periods, key, event, position, "role_changed",
                   {"department": last["department"], "role": event.role})


def ownership_periods(periods: Sequence[Row], event: Any, position: int) -> Periods:
    """Fold one ``Customer.OwnerChanged`` into that customer's ownership periods."""
    if not isinstance(event, Customer.OwnerChanged) or _folded(periods, event.originator_version):
        return list(periods)
    opened = None if event.staff_id is None else {
        "staff_id": event.staff_id, "handover_id": event.handover_id}
    return _change(periods, {"customer_id": event.originator_id}, event, position,
                   event.reason, opened)


def owner_at(periods: Sequence[Row], at: datetime) -> str | None:
    """Who owned the customer at business time ``at`` (what ``customer_owner_at`` answers)."""
    for period in reversed(periods):
        if period["since"] <= at and (period["until"] is None or at < period["until"]):
            return str(period["staff_id"])
    return None


def _sql(name: str) -> str:
    return (Path(__file__).parent / name).read_text()


class _PeriodsView:
    """Shared page logic: load the touched streams' periods, fold, upsert."""

    name: str
    version = VERSION
    key: str
    sql_file: str
    handles: tuple[type[Any], ...]
    fold: Callable[[Sequence[Row], Any, int], Periods]

    @property
    def events(self) -> tuple[type[Any], ...]:
        """The runner decodes only these (a page's other events were decoded for nothing:
        most of the view's time)."""
        return self.handles

    def bind(self, app: Application[Any]) -> None:
        """Folds events only: needs nothing from the application."""

    def create(self, curs: Cursor[DictRow]) -> None:
        serialise_ddl(curs)
        curs.execute(_sql(self.sql_file))

    def drop(self, curs: Cursor[DictRow]) -> None:
        curs.execute(f"DROP TABLE IF EXISTS {self.name} CASCADE")

    def clear(self, curs: Cursor[DictRow]) -> None:
        curs.execute(f"TRUNCATE {self.name}")

    def apply_page(self, curs: Cursor[DictRow], events: Sequence[tuple[int, Any]]) -> None:
        relevant = [(n, e) for n, e in events if isinstance(e, self.handles)]
        if not relevant:
            return
        ids = sorted({e.originator_id for _, e in relevant})
        curs.execute(f"SELECT * FROM {self.name} WHERE {self.key} = ANY(%s) "
                     f"ORDER BY {self.key}, period FOR UPDATE", (ids,))
        streams: dict[UUID, Periods] = {}
        for row in curs.fetchall():
            streams.setdefault(row[self.key], []).append(dict(row))
        fold = type(self).fold
        for position, event in relevant:
            streams[event.originator_id] = fold(streams.get(event.originator_id, []), event,
                                                position)
        rows = [r for periods in streams.values() for r in periods]
        # Close before opening: the unique index allows one open period per customer.
        upsert_rows(curs, self.name, f"{self.key}, period",
                    [r for r in rows if r["until"] is not None])
        upsert_rows(curs, self.name, f"{self.key}, period",
                    [r for r in rows if r["until"] is None])


class StaffAssignmentView(_PeriodsView):
    """``staff_assignment``: each staff member's department and role periods."""

    name = "staff_assignment"
    key = "staff_id"
    sql_file = "organisation.sql"
    handles = STAFF_EVENTS
    fold = staticmethod(assignment_periods)


class CustomerOwnershipView(_PeriodsView):
    """``customer_ownership``: each customer's ownership periods (``customer_current_owner``,
    ``customer_owner_at(customer, at)``)."""

    name = "customer_ownership"
    key = "customer_id"
    sql_file = "customer_ownership.sql"
    handles = (Customer.OwnerChanged,)
    fold = staticmethod(ownership_periods)
