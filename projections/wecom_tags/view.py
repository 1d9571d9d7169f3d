"""``wecom_corp_tag``: one row per WeCom corp tag (企业客户标签) the tag sync has listed, and
the ``wecom_tag_map`` view: each platform tag's WeCom tag id.

Folded from ``CorpTagLibrary.Listed`` (:mod:`domain.wecom_directory`): a tag that appears or
changes is upserted, one gone is kept with ``removed_at`` (history is never deleted). The
row logic is the pure :func:`apply`; an event already folded changes nothing. The map is a
SQL view: a tag of a live platform tag group matches the WeCom tag with the same tag name in
the WeCom group with the same group name (``wecom_tag_map``, read by the API through
:mod:`.queries`; ``SIYU_WECOM_TAG_IDS`` overrides it).

Bump :data:`VERSION` when the row shape changes: the table is rebuilt blue/green.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eventsourcing.application import Application
from psycopg import Cursor
from psycopg.rows import DictRow

from domain.wecom_directory import CorpTagLibrary
from projections.postgres_views import create_schema, upsert_rows
from projections.tag_groups.view import schema_sql as tag_group_sql

VERSION = 1
Row = dict[str, Any]


def touched(event: Any) -> list[str]:
    """The tag ids an event changes."""
    if not isinstance(event, CorpTagLibrary.Listed):
        return []
    return [*(t["tag_id"] for t in event.tags), *event.gone]


def apply(row: Row | None, tag_id: str, event: Any, position: int) -> Row | None:
    """Fold one event into the row of ``tag_id``; an event already folded changes nothing."""
    if not isinstance(event, CorpTagLibrary.Listed):
        return row
    if row is not None and event.originator_version <= row["last_version"]:
        return row
    listed = next((t for t in event.tags if t["tag_id"] == tag_id), None)
    if listed is not None:
        return {"tag_id": tag_id, "corp_id": event.corp_id,
                "name": listed["name"], "group_id": listed["group_id"],
                "group_name": listed["group_name"], "tag_order": listed["order"],
                "group_order": listed["group_order"], "position": position,
                "listed_at": event.occurred_at, "removed_at": None,
                "last_version": event.originator_version}
    if row is None or tag_id not in event.gone:
        return row
    return dict(row, removed_at=event.occurred_at, position=position,
                last_version=event.originator_version)


def schema_sql() -> str:
    return (Path(__file__).parent / "wecom_tags.sql").read_text()


class WeComTagView:
    """``wecom_corp_tag`` rows and the ``wecom_tag_map`` view (which reads ``tag_group``)."""

    name = "wecom_corp_tag"
    events = (CorpTagLibrary,)
    version = VERSION

    def bind(self, app: Application[Any]) -> None:
        """Folds events only: needs nothing from the application."""

    def create(self, curs: Cursor[DictRow]) -> None:
        # tag_group (and the profile it reads), which wecom_tag_map reads: the tables only,
        # never tag_group's events, which this view does not fold
        create_schema(curs)
        curs.execute(tag_group_sql())
        curs.execute(schema_sql())

    def drop(self, curs: Cursor[DictRow]) -> None:
        curs.execute("DROP TABLE IF EXISTS wecom_corp_tag CASCADE")

    def clear(self, curs: Cursor[DictRow]) -> None:
        curs.execute("TRUNCATE wecom_corp_tag")

    def apply_page(self, curs: Cursor[DictRow], events: Sequence[tuple[int, Any]]) -> None:
        relevant = [(n, e) for n, e in events if touched(e)]
        if not relevant:
            return
        ids = sorted({t for _, e in relevant for t in touched(e)})
        curs.execute("SELECT * FROM wecom_corp_tag WHERE tag_id = ANY(%s) FOR UPDATE", (ids,))
        rows: dict[str, Row | None] = {r["tag_id"]: dict(r) for r in curs.fetchall()}
        for position, event in relevant:
            for tag_id in touched(event):
                rows[tag_id] = apply(rows.get(tag_id), tag_id, event, position)
        upsert_rows(curs, "wecom_corp_tag", "tag_id", [r for r in rows.values() if r])
