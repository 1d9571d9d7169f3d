"""Read models ``staff_alert``, ``sensitive_term`` and ``sensitive_category``.

``staff_alert`` has one row per :class:`domain.staff_alert.StaffAlert`: its cause, its
recipients, the deliveries, and its status with who and when; :func:`alert_row` is the
pure row logic. The lexicon tables list every term and category with the version that
last changed them (a removed term keeps its row, ``removed_at`` set), so hits recorded
under an old lexicon version stay explainable.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eventsourcing.application import Application
from psycopg import Cursor
from psycopg.rows import DictRow

from domain.lexicon import BUILT_IN_CATEGORIES, Lexicon
from domain.staff_alert import ACKNOWLEDGED, OPEN, RESOLVED, StaffAlert
from projections.postgres_views import fold_page, upsert_rows
from projections.schema_lock import serialise_ddl

Row = dict[str, Any]


def alert_row(row: Row | None, event: Any, position: int) -> Row | None:
    """Fold one alert event into its row."""
    if isinstance(event, StaffAlert.Raised):
        hits = event.context.get("hits") or []
        return {"alert_id": event.originator_id, "alert_key": event.alert_key,
                "kind": event.kind, "status": OPEN, "staff_id": event.staff_id,
                "customer_id": event.customer_id, "recipients": list(event.recipients),
                "categories": sorted({h["category"] for h in hits}),
                "term_ids": [h["term_id"] for h in hits],
                "message_ref": event.context.get("message_ref"), "context": event.context,
                "raised_at": event.occurred_at, "delivered_to": [], "failed_to": [],
                "acknowledged_by": None, "acknowledged_at": None, "resolved_by": None,
                "resolved_at": None, "resolution_note": None, "position": position,
                "last_version": event.originator_version}
    if row is None or event.originator_version <= row["last_version"]:
        return row
    row = dict(row, last_version=event.originator_version)
    if isinstance(event, StaffAlert.Delivered):
        row["delivered_to"] = [*row["delivered_to"], event.recipient]
    elif isinstance(event, StaffAlert.DeliveryFailed):
        row["failed_to"] = [*row["failed_to"], event.recipient]
    elif isinstance(event, StaffAlert.Acknowledged):
        row.update(status=ACKNOWLEDGED, acknowledged_by=event.by,
                   acknowledged_at=event.occurred_at)
    elif isinstance(event, StaffAlert.Resolved):
        row.update(status=RESOLVED, resolved_by=event.by, resolved_at=event.occurred_at,
                   resolution_note=event.note or None)
    return row


def _sql() -> str:
    return (Path(__file__).parent / "staff_alerts.sql").read_text()


class StaffAlertView:
    """``staff_alert`` and the lexicon tables (one view: both are small and rare)."""

    name = "staff_alert"
    version = 1
    events = (StaffAlert, Lexicon)

    def bind(self, app: Application[Any]) -> None:
        """Folds events only."""

    def create(self, curs: Cursor[DictRow]) -> None:
        serialise_ddl(curs)
        curs.execute(_sql())

    def drop(self, curs: Cursor[DictRow]) -> None:
        curs.execute("DROP TABLE IF EXISTS staff_alert, sensitive_term, sensitive_category")

    def clear(self, curs: Cursor[DictRow]) -> None:
        curs.execute("TRUNCATE staff_alert, sensitive_term, sensitive_category")

    def apply_page(self, curs: Cursor[DictRow], events: Sequence[tuple[int, Any]]) -> None:
        fold_page(curs, "staff_alert", "alert_id", events,
                  lambda e: isinstance(e, (StaffAlert.Raised, StaffAlert.Event)), alert_row)
        for _, event in events:
            if not isinstance(event, (Lexicon.Started, Lexicon.Event)):
                continue
            version = event.originator_version
            if isinstance(event, Lexicon.Started):
                upsert_rows(curs, "sensitive_category", "category", [
                    {"category": c, "label": label, "built_in": True, "version": version}
                    for c, label in BUILT_IN_CATEGORIES.items()])
            elif isinstance(event, Lexicon.CategoryDefined):
                upsert_rows(curs, "sensitive_category", "category", [
                    {"category": event.category, "label": event.label,
                     "built_in": event.category in BUILT_IN_CATEGORIES, "version": version}])
            elif isinstance(event, Lexicon.TermAdded):
                upsert_rows(curs, "sensitive_term", "term_id", [
                    {"term_id": event.term_id, "category": event.category, "term": event.term,
                     "added_by": event.by, "added_at": event.occurred_at, "removed_by": None,
                     "removed_at": None, "version": version}])
            elif isinstance(event, Lexicon.TermRemoved):
                curs.execute("UPDATE sensitive_term SET removed_by = %s, removed_at = %s, "
                             "version = %s WHERE term_id = %s",
                             (event.by, event.occurred_at, version, event.term_id))
