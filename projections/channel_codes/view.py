"""``channel_code``: one row per channel code; ``channel_code_friend``: one per add through one.

A code's row is a pure function of the previous row and one of its events
(:func:`apply`); a ``Customer.FriendAdded`` whose ``state`` is a code's state adds a
``channel_code_friend`` row (keyed by the add, so folding it again changes nothing) — the
code's stream id derives from the state, so no lookup is needed. Bump :data:`VERSION` when
the row shape changes: the runner then drops the tables and rebuilds them from the log.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eventsourcing.application import Application
from psycopg import Cursor
from psycopg.rows import DictRow

from domain.channel_code import ChannelCode, is_code_state
from domain.customer import Customer
from projections.postgres_views import fold_page

VERSION = 1

Row = dict[str, Any]
CODE_EVENTS: tuple[type[Any], ...] = (
    ChannelCode.Created, ChannelCode.Changed, ChannelCode.Deleted, ChannelCode.Registered,
    ChannelCode.RegistrationRefused, ChannelCode.WeComUpdated, ChannelCode.WeComRemoved)


def apply(row: Row | None, event: Any, position: int) -> Row | None:
    """Fold one of a code's events into its row; an event already folded changes nothing."""
    if isinstance(event, ChannelCode.Created):
        if row is not None:
            return row
        return {"code_id": event.originator_id, "position": position, "state": event.state,
                "name": event.name, "channel": event.channel, "user_ids": list(event.user_ids),
                "staff_ids": list(event.staff_ids), "welcome_text": event.welcome_text,
                "tags": list(event.tags), "skip_verify": event.skip_verify, "revision": 0,
                "synced_revision": 0, "config_id": None, "qr_code": None,
                "wecom_status": "pending", "refused_reason": None, "deleted_at": None,
                "created_by": event.by, "created_at": event.occurred_at,
                "updated_by": event.by, "updated_at": event.occurred_at,
                "last_version": event.originator_version}
    if row is None or event.originator_version <= row["last_version"]:
        return row
    row = dict(row, last_version=event.originator_version, updated_by=event.by,
               updated_at=event.occurred_at)
    if isinstance(event, ChannelCode.Changed):
        row.update(name=event.name, user_ids=list(event.user_ids),
                   staff_ids=list(event.staff_ids), welcome_text=event.welcome_text,
                   tags=list(event.tags), skip_verify=event.skip_verify,
                   revision=event.revision)
    elif isinstance(event, ChannelCode.Registered):
        row.update(config_id=event.config_id, qr_code=event.qr_code,
                   synced_revision=event.revision, wecom_status="registered")
    elif isinstance(event, ChannelCode.RegistrationRefused):
        row.update(wecom_status="refused", refused_reason=event.reason)
    elif isinstance(event, ChannelCode.WeComUpdated):
        row["synced_revision"] = event.revision
    elif isinstance(event, ChannelCode.Deleted):
        row["deleted_at"] = event.occurred_at
    elif isinstance(event, ChannelCode.WeComRemoved):
        row["wecom_status"] = "removed"
    return row


def friend_row(event: Any) -> Row | None:
    """The add through a code a ``FriendAdded`` stands for (None: through no code of ours)."""
    if not isinstance(event, Customer.FriendAdded) or not is_code_state(event.state):
        return None
    return {"code_id": ChannelCode.create_id(event.state or ""),
            "customer_id": event.originator_id, "version": event.originator_version,
            "staff_id": event.staff_id, "added_at": event.occurred_at}


class ChannelCodeView:
    name = "channel_code"
    events = (ChannelCode, Customer.FriendAdded)
    version = VERSION

    def bind(self, app: Application[Any]) -> None:
        """Folds events only: needs nothing from the application."""

    def create(self, curs: Cursor[DictRow]) -> None:
        curs.execute((Path(__file__).parent / "channel_codes.sql").read_text())

    def drop(self, curs: Cursor[DictRow]) -> None:
        curs.execute("DROP TABLE IF EXISTS channel_code, channel_code_friend CASCADE")

    def clear(self, curs: Cursor[DictRow]) -> None:
        curs.execute("TRUNCATE channel_code, channel_code_friend")

    def apply_page(self, curs: Cursor[DictRow], events: Sequence[tuple[int, Any]]) -> None:
        fold_page(curs, "channel_code", "code_id", events,
                  lambda e: isinstance(e, CODE_EVENTS), apply)
        friends = [r for r in (friend_row(e) for _, e in events) if r]
        if friends:
            curs.execute(
                "INSERT INTO channel_code_friend (code_id, customer_id, version, staff_id, "
                "added_at) SELECT * FROM unnest(%s::uuid[], %s::uuid[], %s::bigint[], "
                "%s::text[], %s::timestamptz[]) ON CONFLICT DO NOTHING",
                [[r[c] for r in friends] for c in ("code_id", "customer_id", "version",
                                                   "staff_id", "added_at")])
