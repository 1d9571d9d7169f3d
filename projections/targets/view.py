"""``staff_target``: one row per KPI target (see ``targets.sql`` and docs/bi.md).

The row logic is a pure function of the previous row and one event. After a
page that changed targets the view NOTIFYs :data:`KPI_CHANNEL` in the page's
transaction (delivered on commit): a ranking by target achievement changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from eventsourcing.application import Application
from psycopg import Cursor
from psycopg.rows import DictRow

from domain.target import Target
from projections.postgres_views import fold_page
from projections.staff_performance import notify_kpis_changed

VERSION = 1

Row = dict[str, Any]

EVENTS: tuple[type[Any], ...] = (Target.Set, Target.Changed, Target.Removed)


def period_end(kind: str, start: date) -> date:
    """The last day of the month or quarter starting on ``start``."""
    year, month = divmod(start.month - 1 + (1 if kind == "month" else 3), 12)
    return date(start.year + year, month + 1, 1) - timedelta(days=1)


def apply(row: Row | None, event: Any, position: int) -> Row | None:
    """Fold one event into its target's row; an event already folded changes nothing."""
    if isinstance(event, Target.Set):
        if row is not None:
            return row
        start = date.fromisoformat(event.period_start)
        return {"target_id": event.originator_id, "scope": event.scope,
                "subject": event.subject, "period_kind": event.period_kind,
                "period_start": start, "period_end": period_end(event.period_kind, start),
                "kpi": event.kpi, "value": event.value, "met_at": event.met_at,
                "exceeded_at": event.exceeded_at, "trial": event.trial, "set_by": event.by,
                "set_at": event.occurred_at, "updated_by": event.by,
                "updated_at": event.occurred_at, "removed_at": None, "removed_by": None,
                "position": position, "last_version": event.originator_version}
    if row is None or event.originator_version <= row["last_version"]:
        return row
    row = dict(row, last_version=event.originator_version, updated_by=event.by,
               updated_at=event.occurred_at, position=position)
    if isinstance(event, Target.Changed):
        row.update(value=event.value, met_at=event.met_at, exceeded_at=event.exceeded_at,
                   trial=event.trial, removed_at=None, removed_by=None)
    elif isinstance(event, Target.Removed):
        row.update(removed_at=event.occurred_at, removed_by=event.by)
    return row


class TargetView:
    name = "staff_target"
    events = (Target,)
    version = VERSION

    def bind(self, app: Application[Any]) -> None:
        """Folds events only: needs nothing from the application."""

    def create(self, curs: Cursor[DictRow]) -> None:
        curs.execute((Path(__file__).parent / "targets.sql").read_text())

    def drop(self, curs: Cursor[DictRow]) -> None:
        curs.execute("DROP TABLE IF EXISTS staff_target CASCADE")

    def clear(self, curs: Cursor[DictRow]) -> None:
        curs.execute("TRUNCATE staff_target")

    def apply_page(self, curs: Cursor[DictRow], events: Sequence[tuple[int, Any]]) -> None:
        handles = [(n, e) for n, e in events if isinstance(e, EVENTS)]
        if not handles:
            return
        fold_page(curs, "staff_target", "target_id", handles, lambda _: True, apply)
        notify_kpis_changed(curs, self.name, handles[-1][0])
