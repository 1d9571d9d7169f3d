"""``customer_group``: one row per WeCom customer group; ``customer_group_member``: the
customers known in it now.

Fed by the WeCom facts already recorded: ``CustomerGroup.Created`` (chat id, owner's UserID)
and ``Dismissed`` from the group callbacks, and the customers' ``GroupJoined`` /
``GroupLeft`` from the member-change callbacks (only external members: staff in a group are
not counted). A page is folded to its net effect per (group, customer) (:func:`membership`,
a pure function), applied with ``INSERT … ON CONFLICT`` / ``DELETE``, and each touched
group's ``member_count`` recounted from ``customer_group_member`` — so folding a page again
changes nothing and a rebuild equals the live rows. WeCom's callbacks carry no group name;
the directory has none until the group sync (``groupchat/get``, :mod:`workers.group_sync`)
records one (``Renamed``), with the owner as WeCom has it now (``OwnerChanged``: a transfer
or an inheritance) and WeCom's own counts of customers and staff (``MembersCounted``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from psycopg import Cursor
from psycopg.rows import DictRow

from adapters.binary_arrays import column, register
from domain.customer import Customer
from domain.wecom_directory import CustomerGroup

#: 2: name, owner changes and WeCom's counts from the group sync; 3: ``updated_at`` the
#: latest business time of a page's membership events, not its last event's.
VERSION = 3

#: (chat id, customer id) → the customer's net membership after a page: joined at, or None
#: (left).
Membership = dict[tuple[str, UUID], datetime | None]


def membership(events: Sequence[tuple[int, Any]]) -> Membership:
    """The net effect of a page's joins and leaves: the last one per (group, customer)."""
    out: Membership = {}
    for _, event in events:
        if isinstance(event, Customer.GroupJoined):
            out[event.group_id, event.originator_id] = event.occurred_at
        elif isinstance(event, Customer.GroupLeft):
            out[event.group_id, event.originator_id] = None
    return out


def groups_of(events: Sequence[tuple[int, Any]]) -> list[dict[str, Any]]:
    """Creation and dismissal facts in page order, as partial rows."""
    rows: list[dict[str, Any]] = []
    for position, event in events:
        if isinstance(event, CustomerGroup.Created):
            rows.append({"stream_id": event.originator_id, "chat_id": event.chat_id,
                         "corp_id": event.corp_id, "owner_user_id": event.owner,
                         "created_at": event.occurred_at, "position": position,
                         "at": event.occurred_at})
        elif isinstance(event, CustomerGroup.Dismissed):
            rows.append({"stream_id": event.originator_id, "dismissed_at": event.occurred_at,
                         "at": event.occurred_at})
        elif isinstance(event, CustomerGroup.Renamed):
            rows.append({"stream_id": event.originator_id, "name": event.name,
                         "at": event.occurred_at})
        elif isinstance(event, CustomerGroup.OwnerChanged):
            rows.append({"stream_id": event.originator_id, "owner_user_id": event.owner,
                         "at": event.occurred_at})
        elif isinstance(event, CustomerGroup.MembersCounted):
            rows.append({"stream_id": event.originator_id, "customer_count": event.customers,
                         "staff_count": event.staff, "at": event.occurred_at})
    return rows


#: A later fact about a created group: the columns it sets (its creation is earlier in its
#: stream, so the row exists).
_UPDATES = {
    "dismissed_at": "dismissed_at = %(dismissed_at)s",
    "name": "name = %(name)s",
    "owner_user_id": "owner_user_id = %(owner_user_id)s",
    "customer_count": "customer_count = %(customer_count)s, staff_count = %(staff_count)s, "
                      "counted_at = %(at)s",
}


class CustomerGroupView:
    name = "customer_group"
    events = (CustomerGroup, Customer.GroupJoined, Customer.GroupLeft)
    version = VERSION

    def bind(self, app: Application[Any]) -> None:
        """Folds events only: needs nothing from the application."""

    def create(self, curs: Cursor[DictRow]) -> None:
        curs.execute((Path(__file__).parent / "customer_groups.sql").read_text())

    def drop(self, curs: Cursor[DictRow]) -> None:
        curs.execute("DROP TABLE IF EXISTS customer_group, customer_group_member CASCADE")

    def clear(self, curs: Cursor[DictRow]) -> None:
        curs.execute("TRUNCATE customer_group, customer_group_member")

    def apply_page(self, curs: Cursor[DictRow], events: Sequence[tuple[int, Any]]) -> None:
        for fact in groups_of(events):
            update = next((sql for key, sql in _UPDATES.items() if key in fact
                           and "chat_id" not in fact), None)
            if update is not None:
                curs.execute(f"UPDATE customer_group SET {update}, "
                             "updated_at = greatest(updated_at, %(at)s) "
                             "WHERE stream_id = %(stream_id)s", fact)
                continue
            curs.execute(
                "INSERT INTO customer_group (chat_id, stream_id, corp_id, owner_user_id, "
                "created_at, first_seen, updated_at) VALUES (%(chat_id)s, %(stream_id)s, "
                "%(corp_id)s, %(owner_user_id)s, %(created_at)s, %(position)s, %(at)s) "
                "ON CONFLICT (chat_id) DO UPDATE SET stream_id = excluded.stream_id, "
                "corp_id = excluded.corp_id, owner_user_id = excluded.owner_user_id, "
                "created_at = excluded.created_at, "
                "first_seen = least(customer_group.first_seen, excluded.first_seen), "
                "updated_at = greatest(customer_group.updated_at, excluded.updated_at)",
                fact)
        net = membership(events)
        if not net:
            return
        first: dict[str, tuple[int, datetime]] = {}
        for position, event in events:
            if isinstance(event, Customer.GroupJoined | Customer.GroupLeft):
                first.setdefault(event.group_id, (position, event.occurred_at))
        chats = sorted({chat for chat, _ in net})
        register(curs.adapters)  # the arrays below go as built (adapters.binary_arrays)
        curs.execute(
            "INSERT INTO customer_group (chat_id, first_seen, updated_at) "
            "SELECT * FROM unnest(%b::text[], %b::bigint[], %b::timestamptz[]) "
            "ON CONFLICT (chat_id) DO NOTHING",
            (column("text", chats), column("bigint", [first[c][0] for c in chats]),
             column("timestamptz", [first[c][1] for c in chats])))
        joined = [(c, m, at) for (c, m), at in net.items() if at is not None]
        left = [(c, m) for (c, m), at in net.items() if at is None]
        if joined:
            curs.execute(
                "INSERT INTO customer_group_member (chat_id, customer_id, joined_at) "
                "SELECT * FROM unnest(%b::text[], %b::uuid[], %b::timestamptz[]) "
                "ON CONFLICT DO NOTHING",
                (column("text", [c for c, _, _ in joined]),
                 column("uuid", [m for _, m, _ in joined]),
                 column("timestamptz", [at for _, _, at in joined])))
        if left:
            curs.execute(
                "DELETE FROM customer_group_member WHERE (chat_id, customer_id) IN "
                "(SELECT * FROM unnest(%b::text[], %b::uuid[]))",
                (column("text", [c for c, _ in left]), column("uuid", [m for _, m in left])))
        # The latest business time, not the page's last event: callbacks arrive out of
        # order, and a page's last event stood for the page's latest only when pages were
        # one event long (a rebuild's long pages set earlier times than live had).
        last: dict[str, datetime] = {}
        for _, event in events:
            if isinstance(event, Customer.GroupJoined | Customer.GroupLeft):
                at = last.get(event.group_id)
                last[event.group_id] = event.occurred_at if at is None else max(
                    at, event.occurred_at)
        curs.execute(
            "UPDATE customer_group g SET member_count = (SELECT count(*) FROM "
            "customer_group_member m WHERE m.chat_id = g.chat_id), "
            "updated_at = greatest(g.updated_at, t.at) "
            "FROM unnest(%s::text[], %s::timestamptz[]) AS t(chat_id, at) "
            "WHERE g.chat_id = t.chat_id", (chats, [last[c] for c in chats]))

