"""The ``private_domain_link`` read model (see ``private_domain.sql``).

Each customer event that opens or closes a link to a touchpoint is kept as a change
(:func:`link_changes`, pure); a customer's links are re-derived from all its changes in
business-time order whenever one arrives (:func:`link_intervals`, pure), so late and
out-of-order callbacks, and history imported afterwards, land on the right days. A stream
absorbed by a merge counts as its survivor (on every day: one customer, once).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from operator import itemgetter
from pathlib import Path
from typing import Any, NamedTuple
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.application import Application
from psycopg import Cursor
from psycopg.rows import DictRow, tuple_row

from adapters.binary_arrays import column, register, uuid_array
from domain.customer import Customer

VERSION = 2  # 2: daily deltas of presence (the company series reads days, not links)
SHANGHAI = ZoneInfo("Asia/Shanghai")
TOUCHPOINTS = ("mini_program", "groups", "members", "wecom_friends", "personal_wechat")


class Change(NamedTuple):
    touchpoint: str
    link_key: str
    opens: bool


class Link(NamedTuple):
    touchpoint: str
    link_key: str
    since: datetime
    until: datetime | None


def link_changes(event: Any) -> list[Change]:
    """The touchpoint links one customer event opens or closes."""
    for kind in type(event).__mro__:  # its own class first: one look-up for most
        rule = _LINKING.get(kind)
        if rule is not None:
            return rule(event)
    return []


def _first_channel(event: Any) -> list[Change]:
    return [Change("mini_program", "", True)] if event.first_channel == "mini_program" else []


def _identity(event: Any) -> list[Change]:
    return [Change("mini_program", "", True)] if event.namespace.startswith("wx_openid") else []


def _link(touchpoint: str, attribute: str | None, opens: bool) -> Callable[[Any], list[Change]]:
    if attribute is None:
        return lambda event: [Change(touchpoint, "", opens)]
    return lambda event: [Change(touchpoint, getattr(event, attribute), opens)]


#: What each class of customer event does to links (isinstance's answer, by the class's
#: MRO: an isinstance on the library's event classes costs a call each).
_LINKING: dict[type, Callable[[Any], list[Change]]] = {
    Customer.Registered: _first_channel, Customer.IdentityLinked: _identity,
    Customer.MemberRegistered: _link("members", None, True),
    Customer.GroupJoined: _link("groups", "group_id", True),
    Customer.GroupLeft: _link("groups", "group_id", False),
    Customer.FriendAdded: _link("wecom_friends", "staff_id", True),
    Customer.FriendDeleted: _link("wecom_friends", "staff_id", False),
    Customer.PersonalWeChatFriendAdded: _link("personal_wechat", "staff_id", True),
    Customer.PersonalWeChatFriendDeleted: _link("personal_wechat", "staff_id", False)}


def link_intervals(changes: Iterable[tuple[datetime, Change]]) -> list[Link]:
    """A customer's link intervals from its changes (sorted by business time): a link opens
    at an opening change while closed and closes at a closing change while open."""
    return [Link(*link) for link in _intervals(
        [(None, change.touchpoint, change.link_key, change.opens, at) for at, change in changes])]


def _intervals(changes: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """:func:`link_intervals` of changes as the page reads them — ``(owner, touchpoint,
    link_key, opens, at)`` — each link a plain tuple (equal to its :class:`Link`): no
    named tuple built per change and per link."""
    open_since: dict[tuple[str, str], datetime] = {}
    links: list[tuple[Any, ...]] = []
    for _, touchpoint, link_key, opens, at in changes:
        key = (touchpoint, link_key)
        if opens:
            if key not in open_since:
                open_since[key] = at
        elif key in open_since:
            since = open_since.pop(key)
            if since < at:  # a link closed at the instant it opened held no day
                links.append((touchpoint, link_key, since, at))
    links.extend((*key, since, None) for key, since in open_since.items())
    return links


class Presence(NamedTuple):
    """A customer in a touchpoint (or ``total``: in any) at the end of each business day
    from ``first`` up to the day before ``last`` (None: still in)."""
    touchpoint: str
    first: date
    last: date | None


def _day(at: datetime) -> date:
    return at.astimezone(SHANGHAI).date()


def presence(links: Iterable[Link]) -> list[Presence]:
    """Merge a customer's links into the business-day spans it is in each touchpoint and in
    any: a link counts at a day's end when it opened before and had not closed by then."""
    return [Presence(*span) for span in _spans(links)]


def _spans(links: Iterable[tuple[Any, ...]]) -> list[tuple[str, date, date | None]]:
    """:func:`presence` of links as tuples ``(touchpoint, link_key, since, until)``, the
    spans as plain tuples."""
    spans: dict[str, list[tuple[date, date | None]]] = {}
    for touchpoint, _, since, until in links:
        first, last = _day(since), None if until is None else _day(until)
        if last is None or last > first:
            span = (first, last)
            spans.setdefault(touchpoint, []).append(span)
            spans.setdefault("total", []).append(span)
    merged: list[tuple[str, date, date | None]] = []
    for touchpoint, items in spans.items():
        if len(items) > 1:
            items.sort(key=_start)
        first, last = items[0]
        for start, end in items[1:]:
            if last is not None and start > last:
                merged.append((touchpoint, first, last))
                first, last = start, end
            elif last is not None and (end is None or end > last):
                last = end
        merged.append((touchpoint, first, last))
    return merged


_start = itemgetter(0)


def deltas(spans: Iterable[Presence], sign: int) -> dict[tuple[str, date], int]:
    """What spans add to (``sign`` 1) or take from (-1) each touchpoint's daily deltas."""
    out: dict[tuple[str, date], int] = {}
    for span in spans:
        out[(span.touchpoint, span.first)] = out.get((span.touchpoint, span.first), 0) + sign
        if span.last is not None:
            out[(span.touchpoint, span.last)] = out.get((span.touchpoint, span.last), 0) - sign
    return out


def _order(customer_id: UUID) -> int:
    """``UUID.__lt__``'s order, without a Python comparison per step of the sort."""
    return customer_id.int


def _insert(curs: Cursor[DictRow], table: str, types: tuple[str, ...],
            rows: Sequence[tuple[Any, ...]], conflict: str) -> None:
    """One statement per table and page: the rows sent as one array per column, each
    built in binary at once (psycopg's list dumping, element by element in Python, was
    a fifth of the read model's time)."""
    if rows:
        register(curs.adapters)  # the cursor copied its connection's adapters
        arrays = ", ".join(f"%b::{t}[]" for t in types)
        curs.execute(f"INSERT INTO {table} SELECT * FROM unnest({arrays}) {conflict}",
                     [column(t, [row[i] for row in rows]) for i, t in enumerate(types)])


_STREAMS = """
SELECT o AS stream_id FROM unnest(%(owners)b::uuid[]) o
WHERE NOT EXISTS (SELECT 1 FROM siyu_private_domain_alias a
                  WHERE a.stream_id = o AND a.customer_id <> o)
UNION SELECT stream_id FROM siyu_private_domain_alias WHERE customer_id = ANY(%(owners)b)
"""
_CHANGES = f"""
SELECT coalesce(a.customer_id, c.stream_id) AS owner, c.touchpoint, c.link_key, c.opens, c.at
FROM siyu_private_domain_change c LEFT JOIN siyu_private_domain_alias a USING (stream_id)
WHERE c.stream_id IN ({_STREAMS}) ORDER BY c.at, c.stream_id, c.version, c.touchpoint
"""


class PrivateDomainView:
    name = "private_domain_link"
    #: Only these are decoded (messages, orders … are not a touchpoint's).
    events = (Customer.Registered, Customer.IdentityLinked, Customer.MemberRegistered,
              Customer.GroupJoined, Customer.GroupLeft, Customer.FriendAdded,
              Customer.FriendDeleted, Customer.PersonalWeChatFriendAdded,
              Customer.PersonalWeChatFriendDeleted, Customer.MergedInto, Customer.UnmergedFrom)
    version = VERSION

    def bind(self, app: Application[Any]) -> None:
        """Folds events only: needs nothing from the application."""

    def create(self, curs: Cursor[DictRow]) -> None:
        curs.execute((Path(__file__).parent / "private_domain.sql").read_text())

    def drop(self, curs: Cursor[DictRow]) -> None:
        curs.execute("DROP TABLE IF EXISTS private_domain_link, siyu_private_domain_change, "
                     "siyu_private_domain_alias, siyu_private_domain_delta CASCADE")

    def clear(self, curs: Cursor[DictRow]) -> None:
        curs.execute("TRUNCATE private_domain_link, siyu_private_domain_change, "
                     "siyu_private_domain_alias, siyu_private_domain_delta")

    def apply_page(self, curs: Cursor[DictRow], events: Sequence[tuple[int, Any]]) -> None:
        rows: list[tuple[Any, ...]] = []
        owners: set[UUID] = set()
        for _, event in events:
            stream = event.originator_id
            if not isinstance(stream, UUID):  # a UUID from its text is a cost per event
                stream = UUID(str(stream))
            if (type(event) not in _LINKING  # most: a link's event, never a merge's
                    and isinstance(event, (Customer.MergedInto, Customer.UnmergedFrom))):
                owners |= self._realias(curs, stream, event)
            for change in link_changes(event):
                rows.append((stream, event.originator_version, *change, event.occurred_at))
                owners.add(stream)
        _insert(curs, "siyu_private_domain_change",
                ("uuid", "bigint", "text", "text", "boolean", "timestamptz"), rows,
                "ON CONFLICT DO NOTHING")
        if owners:
            self._relink(curs, owners)

    @staticmethod
    def _realias(curs: Cursor[DictRow], stream: UUID, event: Any) -> set[UUID]:
        """Point ``stream`` (and the streams counted as it) at the survivor, or back at
        itself on an unmerge; returns the customers whose links change."""
        curs.execute("SELECT customer_id FROM siyu_private_domain_alias WHERE stream_id = %s",
                     (stream,))
        before = curs.fetchone()
        old = stream if before is None else before["customer_id"]
        if isinstance(event, Customer.MergedInto):
            curs.execute("SELECT customer_id FROM siyu_private_domain_alias WHERE stream_id = %s",
                         (UUID(event.survivor_id),))
            found = curs.fetchone()
            new = UUID(event.survivor_id) if found is None else found["customer_id"]
            curs.execute("UPDATE siyu_private_domain_alias SET customer_id = %s "
                         "WHERE customer_id = %s", (new, stream))
        else:
            new = stream
        curs.execute("INSERT INTO siyu_private_domain_alias VALUES (%s, %s) ON CONFLICT "
                     "(stream_id) DO UPDATE SET customer_id = excluded.customer_id",
                     (stream, new))
        return {old, new, stream}

    @staticmethod
    def _relink(curs: Cursor[DictRow], owners: set[UUID]) -> None:
        """Re-derive the owners' links; write (and count the deltas of) only what changed —
        a repeated add or a leave of a group never joined changes nothing, and a new link
        or one closing leaves the owner's other links where they are."""
        order = sorted(owners, key=_order)
        ids = uuid_array(order)
        register(curs.adapters)  # the arrays go as built (adapters.binary_arrays)
        # Same transaction, no dicts. A new cursor copies its connection's adapters, not
        # this cursor's: taught the arrays on its own (a rebuild's connection was never).
        rows = curs.connection.cursor(row_factory=tuple_row)
        register(rows.adapters)
        rows.execute(_CHANGES, {"owners": ids})
        by_owner: dict[UUID, list[tuple[Any, ...]]] = {o: [] for o in order}
        for row in rows.fetchall():  # (owner, touchpoint, link_key, opens, at)
            by_owner.setdefault(row[0], []).append(row)
        rows.execute("SELECT customer_id, touchpoint, link_key, since, until "
                     "FROM private_domain_link WHERE customer_id = ANY(%b)", (ids,))
        old: dict[UUID, list[tuple[Any, ...]]] = {}
        for row in rows.fetchall():  # the links as tuples: equal to their Link
            old.setdefault(row[0], []).append(row[1:])
        change: dict[tuple[str, date], int] = {}
        added: list[tuple[Any, ...]] = []
        gone: list[tuple[Any, ...]] = []
        for owner, changes in by_owner.items():
            new = _intervals(changes)
            before = old.get(owner, [])
            now, was = set(new), set(before)
            if now == was:
                continue
            added.extend((owner, *link) for link in new if link not in was)
            gone.extend((owner, *link[:3]) for link in before if link not in now)
            for sign, links in ((-1, before), (1, new)):  # deltas(presence(…), sign)
                for touchpoint, first, last in _spans(links):
                    change[(touchpoint, first)] = change.get((touchpoint, first), 0) + sign
                    if last is not None:
                        change[(touchpoint, last)] = change.get((touchpoint, last), 0) - sign
        if not added and not gone:
            return
        with curs.connection.pipeline():  # the page's writes in one round trip
            if gone:  # by primary key: the links that closed, or are no longer derived
                curs.execute("DELETE FROM private_domain_link WHERE (customer_id, touchpoint, "
                             "link_key, since) IN (SELECT * FROM unnest(%b::uuid[], "
                             "%b::text[], %b::text[], %b::timestamptz[]))",
                             [column(t, [row[i] for row in gone]) for i, t in
                              enumerate(("uuid", "text", "text", "timestamptz"))])
            _insert(curs, "private_domain_link", ("uuid", "text", "text", "timestamptz",
                                                  "timestamptz"), added, "")
            _insert(curs, "siyu_private_domain_delta", ("text", "date", "bigint"),
                    [(t, d, n) for (t, d), n in sorted(change.items()) if n],
                    "ON CONFLICT (touchpoint, day) DO UPDATE "
                    "SET delta = siyu_private_domain_delta.delta + excluded.delta")
