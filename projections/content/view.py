"""``content`` and ``content_cadence`` (as they stand), ``content_engagement`` and
``content_conversion`` (one row per customer fact, keyed by log position and inserted
``ON CONFLICT DO NOTHING``: a replay adds nothing, a rebuild gives the same rows).

Pieces are matched to their engagement by reference when figures are read
(:mod:`.queries`), so events reported before a piece was registered count for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eventsourcing.application import Application
from psycopg import Cursor
from psycopg.rows import DictRow

from domain.content import Content, ContentCadence
from domain.customer import Customer
from projections.position_rows import insert_once
from projections.postgres_views import fold_page
from projections.schema_lock import serialise_ddl

VERSION = 1
Row = dict[str, Any]
_ACTIONS = {Customer.ContentViewed: "view", Customer.ContentForwarded: "forward",
            Customer.ContentCommented: "comment"}


def engagement_row(position: int, event: Any) -> Row:
    return {"position": position, "reference": event.content_id,
            "customer_id": event.originator_id, "action": _ACTIONS[type(event)],
            "occurred_at": event.occurred_at,
            "seconds": event.seconds if isinstance(event, Customer.ContentViewed) else None,
            "channel": event.channel}


def conversion_row(position: int, event: Any) -> Row:
    row: Row = {"position": position, "customer_id": event.originator_id,
                "occurred_at": event.occurred_at, "order_id": None, "amount_fen": None}
    if isinstance(event, Customer.FriendAdded):
        row["kind"] = "friend_add"
    elif isinstance(event, Customer.OfficialAccountFollowed):
        row["kind"] = "follow"
    else:
        row.update(kind="pay" if isinstance(event, Customer.OrderPaid) else "refund",
                   order_id=event.order_id, amount_fen=event.amount_fen)
    return row


_CONVERSIONS = (Customer.FriendAdded, Customer.OfficialAccountFollowed, Customer.OrderPaid,
                Customer.OrderRefunded)


def content_row(row: Row | None, event: Any, position: int) -> Row | None:
    if isinstance(event, Content.Published):
        if row is not None:
            return row
        return {"content_id": event.originator_id, "reference": event.reference,
                "kind": event.kind, "title": event.title, "author_id": event.author_id,
                "operator_id": event.operator_id, "topics": list(event.topics),
                "published_at": event.occurred_at, "published_by": event.by,
                "revised_at": None, "withdrawn_at": None, "withdraw_reason": None,
                "last_version": event.originator_version}
    if row is None or event.originator_version <= row["last_version"]:
        return row
    row = dict(row, last_version=event.originator_version)
    if isinstance(event, Content.Revised):
        row.update(title=event.title, author_id=event.author_id,
                   operator_id=event.operator_id, topics=list(event.topics),
                   revised_at=event.occurred_at)
    elif isinstance(event, Content.Withdrawn):
        row.update(withdrawn_at=event.occurred_at, withdraw_reason=event.reason)
    return row


def cadence_row(row: Row | None, event: Any, position: int) -> Row | None:
    if isinstance(event, ContentCadence.Planned):
        if row is not None:
            return row
        return {"cadence_id": event.originator_id, "kind": event.kind,
                "author_id": event.author_id, "per_week": event.per_week, "set_by": event.by,
                "set_at": event.occurred_at, "last_version": event.originator_version}
    if row is None or event.originator_version <= row["last_version"]:
        return row
    return dict(row, per_week=event.per_week, set_by=event.by, set_at=event.occurred_at,
                last_version=event.originator_version)


#: The fact tables' columns and their types, for a binary COPY (projections.position_rows).
ENGAGEMENT = (("position", "int8"), ("reference", "text"), ("customer_id", "uuid"),
              ("action", "text"), ("occurred_at", "timestamptz"), ("seconds", "int4"),
              ("channel", "text"))
CONVERSION = (("position", "int8"), ("customer_id", "uuid"), ("kind", "text"),
              ("occurred_at", "timestamptz"), ("order_id", "text"), ("amount_fen", "int8"))


class ContentView:
    name = "content"
    version = VERSION
    events = (Content, ContentCadence, *_ACTIONS, *_CONVERSIONS)

    def bind(self, app: Application[Any]) -> None:
        """Folds events only."""

    def create(self, curs: Cursor[DictRow]) -> None:
        serialise_ddl(curs)
        curs.execute((Path(__file__).parent / "content.sql").read_text())

    def drop(self, curs: Cursor[DictRow]) -> None:
        curs.execute("DROP TABLE IF EXISTS content, content_cadence, content_engagement, "
                     "content_conversion CASCADE")

    def clear(self, curs: Cursor[DictRow]) -> None:
        curs.execute("TRUNCATE content, content_cadence, content_engagement, "
                     "content_conversion")

    def apply_page(self, curs: Cursor[DictRow], events: Sequence[tuple[int, Any]]) -> None:
        engaged, converted, pieces = [], [], []
        for n, e in events:  # one pass: a page is mostly customer facts, told by their class
            if type(e) in _ACTIONS:
                engaged.append(engagement_row(n, e))
            elif isinstance(e, _CONVERSIONS):
                converted.append(conversion_row(n, e))
            else:
                pieces.append((n, e))
        fold_page(curs, "content", "content_id", pieces,
                  lambda e: isinstance(e, (Content.Published, Content.Event)), content_row)
        fold_page(curs, "content_cadence", "cadence_id", pieces,
                  lambda e: isinstance(e, (ContentCadence.Planned, ContentCadence.Set)),
                  cadence_row)
        insert_once(curs, [("content_engagement", ENGAGEMENT, engaged),
                           ("content_conversion", CONVERSION, converted)])
