"""Read models of the chat-script library: ``chat_script`` (current version),
``chat_script_version`` (every version) and ``chat_script_usage`` (uses per staff member).

:func:`script_row` is the pure row logic of ``chat_script``; versions are inserted as
they are recorded (``ON CONFLICT DO NOTHING``: a replay adds nothing) and uses are
counted from ``Customer.ScriptUsed`` in log order, so a rebuild gives the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eventsourcing.application import Application
from psycopg import Cursor
from psycopg.rows import DictRow

from domain.chat_script import ChatScript
from domain.customer import Customer
from projections.postgres_views import fold_page
from projections.schema_lock import serialise_ddl

Row = dict[str, Any]


def script_row(row: Row | None, event: Any, position: int) -> Row | None:
    if isinstance(event, ChatScript.Created):
        return {"script_id": event.originator_id, "kind": event.kind,
                "scenario": event.scenario, "title": event.title, "body": event.body,
                "keywords": list(event.keywords), "version": 1, "created_by": event.by,
                "created_at": event.occurred_at, "updated_by": event.by,
                "updated_at": event.occurred_at, "archived_at": None, "position": position,
                "last_version": event.originator_version}
    if row is None or event.originator_version <= row["last_version"]:
        return row
    row = dict(row, last_version=event.originator_version)
    if isinstance(event, ChatScript.Revised):
        row.update(scenario=event.scenario, title=event.title, body=event.body,
                   keywords=list(event.keywords), version=event.content_version,
                   updated_by=event.by, updated_at=event.occurred_at)
    elif isinstance(event, ChatScript.Archived):
        row["archived_at"] = event.occurred_at
    return row


class ChatScriptView:
    name = "chat_script"
    version = 1
    events = (ChatScript, Customer.ScriptUsed)

    def bind(self, app: Application[Any]) -> None:
        """Folds events only."""

    def create(self, curs: Cursor[DictRow]) -> None:
        serialise_ddl(curs)
        curs.execute((Path(__file__).parent / "chat_scripts.sql").read_text())

    def drop(self, curs: Cursor[DictRow]) -> None:
        curs.execute("DROP TABLE IF EXISTS chat_script, chat_script_version, chat_script_usage")

    def clear(self, curs: Cursor[DictRow]) -> None:
        curs.execute("TRUNCATE chat_script, chat_script_version, chat_script_usage")

    def apply_page(self, curs: Cursor[DictRow], events: Sequence[tuple[int, Any]]) -> None:
        fold_page(curs, "chat_script", "script_id", events,
                  lambda e: isinstance(e, (ChatScript.Created, ChatScript.Event)), script_row)
        versions = [(e.originator_id, 1, e.scenario, e.title, e.body, list(e.keywords), e.by,
                     e.occurred_at) if isinstance(e, ChatScript.Created) else
                    (e.originator_id, e.content_version, e.scenario, e.title, e.body,
                     list(e.keywords), e.by, e.occurred_at)
                    for _, e in events if isinstance(e, (ChatScript.Created, ChatScript.Revised))]
        if versions:
            curs.executemany("INSERT INTO chat_script_version VALUES "
                             "(%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING", versions)
        uses = [(e.script_id, e.staff_id, e.occurred_at) for _, e in events
                if isinstance(e, Customer.ScriptUsed)]
        if uses:
            curs.executemany(
                "INSERT INTO chat_script_usage VALUES (%s, %s, 1, %s) "
                "ON CONFLICT (script_id, staff_id) DO UPDATE SET uses = chat_script_usage.uses + 1, "
                "last_used_at = greatest(chat_script_usage.last_used_at, excluded.last_used_at)",
                uses)
