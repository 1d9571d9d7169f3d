"""``funnel_customer`` and its rollups ``funnel_daily``, ``funnel_owner_daily`` and
``cohort_daily``; ``survey_answer``.

A page takes the rows of the customers it touches with their whole OneID merge trees
(:mod:`.merges`) — kept in memory from the pages before (:mod:`.kept`), or read back —
folds their events (:mod:`.rows`), writes the changed rows back in one statement and adds
to the rollups the difference between each changed tree's new and old contributions — all
in the page's transaction, with the tracking position.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import add, itemgetter, sub
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.application import Application
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb, set_json_loads

from adapters.binary_arrays import column, register, text_or_null_array
from domain.customer import Customer
from domain.referral import InviteCode
from projections.funnels import merges, rows
from projections.funnels.kept import LIMIT, KeptTrees, Tree
from projections.postgres_views import _dumps
from projections.schema_lock import serialise_ddl

VERSION = 3  # 3: no all-zero rollup rows (a deploy rebuilds the old ones away)
TABLES = ("funnel_customer, funnel_daily, funnel_owner_daily, cohort_daily, "
          "survey_answer")
Delta = dict[tuple[str, rows.Key], tuple[int, ...]]


def survey_row(position: int, event: Any) -> rows.Row:
    return {"position": position, "customer_id": event.originator_id,
            "staff_id": event.staff_id, "survey_kind": event.survey_kind, "score": event.score,
            "occurred_at": event.occurred_at, "day": rows.business_day(event.occurred_at)}


def delta(before: Iterable[merges.Contributions], after: Iterable[merges.Contributions]
          ) -> Delta:
    """What the rollups gain when trees contributing ``before`` become trees contributing
    ``after``."""
    out: dict[tuple[str, rows.Key], tuple[int, ...]] = {}
    for contributions in after:
        for key, counts in contributions.items():
            known = out.get(key)
            out[key] = counts if known is None else tuple(map(add, known, counts))
    for contributions in before:
        for key, counts in contributions.items():
            known = out.get(key)
            out[key] = (tuple(-v for v in counts) if known is None
                        else tuple(map(sub, known, counts)))
    return {k: v for k, v in out.items() if any(v)}


def _add(curs: Cursor[DictRow], table: str, key: str, columns: Sequence[str],
         records: list[rows.Row]) -> None:
    if not records:
        return
    sums = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in columns)
    nothing = " AND ".join(f"{table}.{c} = 0" for c in columns)
    curs.execute(f"INSERT INTO {table} SELECT * FROM jsonb_populate_recordset(null::{table}, %s) "
                 f"ORDER BY {key} ON CONFLICT ({key}) DO UPDATE SET {sums} "
                 f"RETURNING {key}, {nothing}", (Jsonb(records, dumps=_dumps),))
    # A row a page takes back to nothing goes: whether it exists must not depend on where
    # pages split the log (a rebuild in one page never writes it)
    emptied = [tuple(r.values())[:-1] for r in curs.fetchall() if tuple(r.values())[-1]]
    if emptied:
        width = len(emptied[0])
        marks = ", ".join("(" + ", ".join(["%s"] * width) + ")" for _ in emptied)
        curs.execute(f"DELETE FROM {table} WHERE ({key}) IN ({marks}) AND {nothing}",
                     [v for k in emptied for v in k])


def apply_delta(curs: Cursor[DictRow], changes: Delta) -> None:
    daily, owners, cohort = [], [], []
    for (table, key), counts in sorted(changes.items()):
        if table == "funnel_daily":
            daily.append({"day": key[0], "channel": key[1],
                          **dict(zip(rows.FUNNEL_COUNTS, counts, strict=True))})
        elif table == "funnel_owner_daily":
            owners.append({"day": key[0], "owner": key[1],
                           **dict(zip(rows.FUNNEL_COUNTS, counts, strict=True))})
        else:
            cohort.append({"touchpoint": key[0], "day": key[1], "channel": key[2],
                           **dict(zip(rows.COHORT_COUNTS, counts, strict=True))})
    _add(curs, "funnel_daily", "day, channel", rows.FUNNEL_COUNTS, daily)
    _add(curs, "funnel_owner_daily", "day, owner", rows.FUNNEL_COUNTS, owners)
    _add(curs, "cohort_daily", "touchpoint, day, channel", rows.COHORT_COUNTS, cohort)


#: ``funnel_customer``'s columns (as :func:`rows.empty` names them), each with its type
#: and how it is sent: an array built in binary of the type named (``merged_into`` as text:
#: a survivor's id as its event gave it), or, for jsonb, one JSON array of the column's
#: values (one C encoding of all of them, where a call per value cost more than it saved).
_COLUMNS = (("customer_id", "uuid", "uuid"), ("acquired_at", "timestamptz", "timestamptz"),
            ("channel", "text", "text"), ("channel_at", "timestamptz", "timestamptz"),
            ("first_engaged_at", "timestamptz", "timestamptz"),
            ("last_engaged_at", "timestamptz", "timestamptz"),
            ("paid_orders", "integer", "integer"), ("paid_fen", "bigint", "bigint"),
            ("refunded_fen", "bigint", "bigint"), ("invite_codes", "integer", "integer"),
            ("invitees", "integer", "integer"), ("touchpoints", "jsonb", "jsonb"),
            ("last_position", "bigint", "bigint"), ("owners", "jsonb", "jsonb"),
            ("merged_into", "uuid", "text"), ("root_id", "uuid", "uuid"))
_UPSERT = (
    f"INSERT INTO funnel_customer ({', '.join(c for c, _, _ in _COLUMNS)}) "
    f"SELECT {', '.join(f'c{i}::{t}' for i, (_, t, _) in enumerate(_COLUMNS))} "
    "FROM ROWS FROM ("
    + ", ".join("jsonb_array_elements(%s::jsonb)" if sent == "jsonb" else f"unnest(%b::{sent}[])"
                for _, _, sent in _COLUMNS)
    + f") AS u({', '.join(f'c{i}' for i in range(len(_COLUMNS)))}) "
    "ON CONFLICT (customer_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c, _, _ in _COLUMNS[1:]))

_FIELDS = itemgetter(*(name for name, _, _ in _COLUMNS))


def upsert_customers(curs: Cursor[DictRow], changed: Sequence[rows.Row]) -> None:
    """The changed rows in one statement, each column sent as one value (the upsert from
    one JSON document of the rows, ``jsonb_populate_recordset``, was the group's dearest
    statement: the server parsed every row's JSON and each field's text)."""
    if not changed:
        return
    register(curs.adapters)
    arrays: list[Any] = []
    for (_, _, sent), values in zip(_COLUMNS, zip(*map(_FIELDS, changed), strict=True),
                                    strict=True):
        if sent == "jsonb":
            arrays.append(Jsonb(values, dumps=_dumps))
        elif sent == "text":
            arrays.append(text_or_null_array([None if v is None else str(v) for v in values]))
        else:
            arrays.append(column(sent, values))
    curs.execute(_UPSERT, arrays)


def _load(curs: Cursor[DictRow], ids: Iterable[UUID]) -> dict[int, rows.Row]:
    """The rows of the whole merge trees of ``ids``: every stream whose facts count with
    one of them, by their UUID's int."""
    set_json_loads(orjson.loads, curs)  # the touchpoints: several times the stdlib's speed
    register(curs.adapters)  # the ids go as one array built in binary
    curs.execute("SELECT * FROM funnel_customer WHERE root_id IN (SELECT root_id FROM "
                 "funnel_customer WHERE customer_id = ANY(%b)) "
                 "ORDER BY customer_id FOR UPDATE", (column("uuid", sorted(ids, key=_order)),))
    return {r["customer_id"].int: dict(r) for r in curs.fetchall()}


def _trees(loaded: dict[int, rows.Row]) -> list[list[rows.Row]]:
    """:func:`merges.trees` for rows whose ``root_id`` is a UUID (as read, as folded), without
    a UUID's text per row (a Python call each) where a tree has one stream."""
    out: dict[int, list[rows.Row]] = {}
    for row in loaded.values():
        out.setdefault(row["root_id"].int, []).append(row)
    return [tree if len(tree) == 1 else merges.trees({r["customer_id"]: r for r in tree})[0]
            for tree in out.values()]


#: The OneID classes, by exact class as the page's events are counted (``kinds``).
_MERGES = frozenset((Customer.MergedInto, Customer.UnmergedFrom))


def _uuid(value: Any) -> UUID:
    """A stream id as a UUID (most are already: rebuilding one from its text is a cost per
    event)."""
    return value if isinstance(value, UUID) else UUID(str(value))


def _order(customer_id: UUID) -> int:
    """``UUID.__lt__``'s order, without a Python comparison per step of the sort."""
    return customer_id.int


class FunnelView:
    name = "funnel_customer"
    version = VERSION
    events: tuple[type[Any], ...] = (*rows.COUNTED, *rows.CREDITING, InviteCode.Issued)

    def __init__(self, kept: int = LIMIT) -> None:
        self.kept = KeptTrees(kept)  # merge trees kept between pages

    def bind(self, app: Application[Any]) -> None:
        """Folds events only."""

    def create(self, curs: Cursor[DictRow]) -> None:
        serialise_ddl(curs)
        curs.execute((Path(__file__).parent / "funnels.sql").read_text())

    def drop(self, curs: Cursor[DictRow]) -> None:
        curs.execute(f"DROP TABLE IF EXISTS {TABLES} CASCADE")

    def clear(self, curs: Cursor[DictRow]) -> None:
        curs.execute(f"TRUNCATE {TABLES}")

    def apply_page(self, curs: Cursor[DictRow], events: Sequence[tuple[int, Any]]) -> None:
        surveys = [survey_row(n, e) for n, e in events  # its events are of its classes
                   if type(e) is Customer.SurveyAnswered]
        changed, changes = self._fold(curs, events)
        # The page's writes sent together: one round trip, not one per statement (on a
        # loaded machine each costs a wait for the scheduler, on both sides).
        with curs.connection.pipeline():
            if surveys:
                curs.execute("INSERT INTO survey_answer SELECT * FROM "
                             "jsonb_populate_recordset(null::survey_answer, %s) "
                             "ON CONFLICT (position) DO NOTHING",
                             (Jsonb(surveys, dumps=_dumps),))
            upsert_customers(curs, changed)
            apply_delta(curs, changes)

    def _fold(self, curs: Cursor[DictRow], events: Sequence[tuple[int, Any]]
              ) -> tuple[list[rows.Row], Delta]:
        """The rows the page changes, and what the rollups gain; the page's trees staged.

        Streams are keyed by their UUID's int here: a UUID hashes and compares in Python,
        a call per look-up (~100,000 a 10,000-event log), an int in C."""
        kinds, issued = frozenset(self.events), InviteCode.Issued
        counted = []  # (position, event, subject: rows.subject_of as a UUID), inline
        for n, e in events:
            kind = type(e)
            if kind in kinds:
                subject = e.inviter_id if kind is issued else e.originator_id
                counted.append((n, e, subject if type(subject) is UUID else _uuid(subject)))
        if not counted:
            return [], {}
        streams = {c.int: c for _, _, c in counted}  # the page's streams, first seen first
        survivors = [_uuid(e.survivor_id) for _, e, _ in counted if type(e) in _MERGES]
        for survivor in survivors:
            streams.setdefault(survivor.int, survivor)
        ids = set(streams)
        kept, missing = self.kept.find(ids)
        before: dict[int, rows.Row] = {r["customer_id"].int: r for t in kept for r in t.rows}
        loaded = _load(curs, [streams[i] for i in missing]) if missing else {}
        if loaded.keys() & before.keys():  # cannot be (trees are kept whole): read them all
            self.kept.forget()
            kept, loaded = [], _load(curs, streams.values())
            before = {}
        before.update(loaded)
        # what each tree added to the rollups before the page: kept, or computed once
        was = {t.rows[0]["root_id"].int: t for t in kept}
        was.update((t[0]["root_id"].int, Tree(tuple(t), merges.tree_contributions(t)))
                   for t in _trees(loaded))
        after = dict(before)
        for customer_id in ids - before.keys():
            after[customer_id] = rows.empty(streams[customer_id])
        copied: set[int] = set()  # rows this page folds into: copied once, not per event
        for position, event, stream in counted:
            customer_id = stream.int
            row = after[customer_id]
            if position <= row["last_position"]:
                continue  # seen before: the row stays the one loaded
            if customer_id not in copied:
                copied.add(customer_id)
                row = after[customer_id] = rows.own_copy(row)
            rows.fold_into(row, position, event)
        if survivors:  # merges or unmerges: the streams' survivors may have changed
            by_stream = {r["customer_id"]: r for r in after.values()}
            for stream, root in merges.roots(by_stream).items():
                if str(by_stream[stream]["root_id"]) != root:
                    after[stream.int] = dict(by_stream[stream], root_id=UUID(root))
        changed = [r for c, r in after.items() if r is not before.get(c)]
        gone, new, staged = [], [], []
        for tree in _trees(after):
            old = was.pop(tree[0]["root_id"].int, None)
            if (old is not None and len(old.rows) == len(tree)
                    and (tree[0] is before.get(tree[0]["customer_id"].int) if len(tree) == 1
                         else all(r is before.get(r["customer_id"].int) for r in tree))):
                staged.append(old)  # the same streams, unchanged
                continue
            now = Tree(tuple(tree), merges.tree_contributions(tree))
            staged.append(now)
            if old is not None:
                if old.contributions == now.contributions:
                    continue  # a fact that moves no rollup (most: a later engagement)
                gone.append(old.contributions)
            new.append(now.contributions)
        gone.extend(t.contributions for t in was.values())  # trees merged into others
        self.kept.stage_all(staged)
        return changed, delta(gone, new)

    def page_begins(self, curs: Cursor[Any], runner: object, committed: int) -> None:
        self.kept.begin(curs, runner, committed)

    def page_committed(self, runner: object, position: int) -> None:
        self.kept.committed(runner, position)

    def forget(self) -> None:
        self.kept.forget()
