"""``tag_group``: one row per tag group (标签组), and the ``tag_usage`` view over it.

The row logic is a pure function of the previous row and one event; the
PostgreSQL view folds a page with :func:`projections.postgres_views.fold_page`
and the runner records its position in the same transaction. ``tag_usage``
(how many customers hold each tag) is a SQL view over ``tag_group`` and
``customer_profile``, computed when read.

Bump :data:`VERSION` when the row shape changes: the runner then drops the
table and rebuilds it from the event log.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eventsourcing.application import Application
from psycopg import Cursor
from psycopg.rows import DictRow

from domain.tag_group import TagGroup
from projections.postgres_views import create_schema, fold_page

VERSION = 1

Row = dict[str, Any]

EVENTS: tuple[type[Any], ...] = (TagGroup.Created, TagGroup.TagsAdded, TagGroup.TagRemoved,
                                 TagGroup.Renamed, TagGroup.Archived)


def apply(row: Row | None, event: Any, position: int) -> Row | None:
    """Fold one event into its group's row; an event already folded changes nothing."""
    if isinstance(event, TagGroup.Created):
        if row is not None:
            return row
        return {"group_id": event.originator_id, "position": position, "name": event.name,
                "tags": list(event.tags), "exclusive": event.exclusive, "archived_at": None,
                "archived_by": None, "created_by": event.by, "created_at": event.occurred_at,
                "updated_by": event.by, "updated_at": event.occurred_at,
                "last_version": event.originator_version}
    if row is None or not isinstance(event, EVENTS):
        return row
    if event.originator_version <= row["last_version"]:
        return row
    row = dict(row, last_version=event.originator_version, updated_by=event.by,
               updated_at=event.occurred_at)
    if isinstance(event, TagGroup.TagsAdded):
        row["tags"] = [*row["tags"], *(t for t in event.tags if t not in row["tags"])]
    elif isinstance(event, TagGroup.TagRemoved):
        row["tags"] = [t for t in row["tags"] if t != event.tag]
    elif isinstance(event, TagGroup.Renamed):
        row["name"] = event.name
    elif isinstance(event, TagGroup.Archived):
        row["archived_at"] = event.occurred_at
        row["archived_by"] = event.by
    return row


def schema_sql() -> str:
    return (Path(__file__).parent / "tag_groups.sql").read_text()


class TagGroupView:
    """``tag_group`` rows and the ``tag_usage`` view (which reads ``customer_profile``)."""

    name = "tag_group"
    events = (TagGroup,)
    version = VERSION

    def bind(self, app: Application[Any]) -> None:
        """Folds events only: needs nothing from the application."""

    def create(self, curs: Cursor[DictRow]) -> None:
        create_schema(curs)  # customer_profile, which tag_usage reads
        curs.execute(schema_sql())

    def drop(self, curs: Cursor[DictRow]) -> None:
        curs.execute("DROP TABLE IF EXISTS tag_group CASCADE")

    def clear(self, curs: Cursor[DictRow]) -> None:
        curs.execute("TRUNCATE tag_group")

    def apply_page(self, curs: Cursor[DictRow], events: Sequence[tuple[int, Any]]) -> None:
        fold_page(curs, "tag_group", "group_id", events, lambda e: isinstance(e, EVENTS), apply)
