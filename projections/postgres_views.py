"""PostgreSQL views of the read models: load the page's rows, fold, upsert in one statement."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from domain.clock import Tick
from domain.customer import Customer
from domain.product import Product
from domain.segment import Segment
from domain.staff import Staff
from projections import customer_profile
from projections.customer_profile import copy_rows
from projections.customer_profile.cache import CACHE_CUSTOMERS, ProfileCache
from projections.page_collector import PageCollector
from projections.page_memory import lease_term
from projections.schema_lock import serialise_ddl
from projections.segments import store as segment_store
from projections.segments.backfill import replayed_topics
from projections.segments.engine import Cause, new_cause
from projections.segments.store import Also, SegmentPage

Row = dict[str, Any]
EVENTS = "siyu_events"  # the application's events table (Siyu.name + _events)


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (UUID, Decimal)):
        return str(value)  # a JSON string: jsonb_populate_recordset reads numerics exactly
    raise TypeError(f"cannot encode {type(value).__name__}")


def _dumps(value: Any) -> bytes | str:
    """JSON for ``jsonb_populate_recordset``: orjson (about 8 times faster than the standard
    library on read-model rows — the projections' main Python cost), falling back to
    :mod:`json` for what orjson refuses (integers beyond 64 bits, lone surrogates)."""
    try:
        return orjson.dumps(value, default=_json_default, option=orjson.OPT_NON_STR_KEYS)
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(value, default=_json_default, ensure_ascii=False)


def schema_sql() -> str:
    return (Path(__file__).parent / "schema.sql").read_text()


def create_schema(curs: Cursor[DictRow]) -> None:
    # Serialise concurrent creators (several processes start at once).
    serialise_ddl(curs)
    curs.execute(schema_sql())


def upsert_rows(curs: Cursor[DictRow], table: str, key: str, rows: Sequence[Row]) -> None:
    if rows:
        curs.execute(*upsert_statement(table, key, rows))


def upsert_statement(table: str, key: str, rows: Sequence[Row]) -> tuple[str, list[Any]]:
    """``INSERT … ON CONFLICT`` of ``rows`` (not empty) and its parameters."""
    columns = list(rows[0])
    assignments = ", ".join(f"{c} = excluded.{c}" for c in columns if c != key)
    names = ", ".join(columns)
    # One JSON encoding, straight to the server (no parse-and-dump round trip here).
    payload = Jsonb(list(rows), dumps=_dumps)
    return (f"INSERT INTO {table} ({names}) "
            f"SELECT {names} FROM jsonb_populate_recordset(null::{table}, %s) "
            f"ON CONFLICT ({key}) DO UPDATE SET {assignments}", [payload])


def fold_page(
    curs: Cursor[DictRow],
    table: str,
    key: str,
    events: Sequence[tuple[int, Any]],
    handles: Callable[[Any], bool],
    fold: Callable[[Row | None, Any, int], Row | None],
) -> None:
    """Load the rows a page touches, fold its events in order, write them back."""
    relevant = [(n, e) for n, e in events if handles(e)]
    if not relevant:
        return
    ids = sorted({e.originator_id for _, e in relevant})
    curs.execute(
        f"SELECT * FROM {table} WHERE {key} = ANY(%s) FOR UPDATE",
        (ids,),
    )
    rows: dict[UUID, Row | None] = {r[key]: dict(r) for r in curs.fetchall()}
    for position, event in relevant:
        rows[event.originator_id] = fold(rows.get(event.originator_id), event, position)
    upsert_rows(curs, table, key, [r for r in rows.values() if r is not None])


class CustomerProfileView:
    """``customer_profile`` (one row per customer group, OneID) and segment membership.

    Pages are folded incrementally; a merge or un-merge event regroups the
    streams (``customer_profile_member``) and re-folds the affected rows from the
    event log *up to that event's position*, so a rebuild passes through the same
    states as the live projection. Segment memberships and their ledger
    (:mod:`projections.segments.store`) follow each row change in the same
    transaction; segment definitions and clock ticks are handled in log order.
    """

    name = "customer_profile"
    version = customer_profile.VERSION
    events = (Customer, Segment, Tick, Product)

    def __init__(self, cache_customers: int = CACHE_CUSTOMERS) -> None:
        self.app: Application[Any] | None = None
        self.replay_topics: list[str] = []
        # Rows, roots and memberships of the last committed pages (projections.page_memory).
        self.cache = ProfileCache(cache_customers)
        # Off while a page folds, what it keeps frozen after (projections.page_collector).
        self.collector = PageCollector()

    def bind(self, app: Application[Any]) -> None:
        self.app = app
        self.replay_topics = replayed_topics()  # after every register_topic (at import)

    def create(self, curs: Cursor[DictRow]) -> None:
        create_schema(curs)
        segment_store.create(curs)

    def drop(self, curs: Cursor[DictRow]) -> None:
        self.cache.clear()
        curs.execute("DROP TABLE IF EXISTS customer_profile, customer_profile_member CASCADE")
        segment_store.drop(curs)

    def clear(self, curs: Cursor[DictRow]) -> None:
        self.cache.clear()
        curs.execute("TRUNCATE customer_profile, customer_profile_member")
        segment_store.clear(curs)

    # -- projections.page_memory: the cache follows the commits of the pages --------------
    def page_begins(self, curs: Cursor[Any], runner: object, committed: int) -> None:
        self.cache.begin(curs, committed, lease_term(runner))

    def page_committed(self, runner: object, position: int) -> None:
        self.cache.promote(position)

    def forget(self) -> None:
        self.cache.clear()

    def apply_page(self, curs: Cursor[DictRow], events: Sequence[tuple[int, Any]]) -> None:
        if self.cache.page is None:  # not a page the runner stages: nothing kept can hold
            self.cache.clear()
        with self.collector.paused():
            self._apply_page(curs, events)

    def _apply_page(self, curs: Cursor[DictRow], events: Sequence[tuple[int, Any]]) -> None:
        assert self.app is not None, "CustomerProfileView.bind(app) first"
        segments = SegmentPage(curs, self.app.mapper.to_domain_event, self.replay_topics,
                               self.cache)
        run: list[tuple[int, Any]] = []
        for position, event in events:
            if isinstance(event, (Customer.Event, Customer.Registered)) and not isinstance(
                    event, (Customer.CustomerMerged, Customer.CustomerUnmerged)):
                run.append((position, event))
                continue
            if not isinstance(event, (Customer.CustomerMerged, Customer.CustomerUnmerged,
                                      Segment.Event, Tick.Struck, Product.Listed,
                                      Product.Revised)):
                continue
            self._fold(curs, run, segments)
            run = []
            if isinstance(event, (Customer.CustomerMerged, Customer.CustomerUnmerged)):
                self._regroup(curs, position, event, segments)
            elif isinstance(event, Tick.Struck):
                segments.tick(event.at, position)
            elif isinstance(event, Product.Listed | Product.Revised):
                segments.product_moved(event.originator_id, event.category, event.timestamp,
                                       Cause("PRODUCT", position, type(event).__qualname__,
                                             occurred_at=event.occurred_at),
                                       event.sku if isinstance(event, Product.Listed) else None)
            else:
                _segment_changed(segments, position, event)
        # The page's last rows go with its membership writes: one statement, one round trip
        # (the rows staged by COPY first: projections.customer_profile.copy_rows).
        # Rows stored already are updated in the columns that changed only.
        last, stored = self._fold(curs, run, segments, write=False)
        if last:
            staged = copy_rows.stage_changes(curs, last, stored)
            segments.flush(Also(copy_rows.write_statements(staged), [], staged.updates))
        else:
            segments.flush()

    def _fold(self, curs: Cursor[DictRow], events: Sequence[tuple[int, Any]],
              segments: SegmentPage, *, write: bool = True
              ) -> tuple[list[Row], list[Row | None]]:
        """Fold a run of customer events; write the rows they changed (or, ``write``
        False, return them for the caller to write, each with the row it replaces as
        stored, None if new)."""
        if not events:
            return [], []
        cache = self.cache
        # Streams told apart by their ids' ints: a UUID hashes in Python code, an int in C.
        streams = {e.originator_id.int: e.originator_id for _, e in events}
        roots, unknown = cache.known_roots(streams.values())
        if unknown:
            read = _roots(curs, unknown)
            cache.roots_read(read)
            roots.update(read)
        rows, missing = cache.known_rows(set(roots.values()))
        if missing:
            curs.execute("SELECT * FROM customer_profile WHERE customer_id = ANY(%b) "
                         "FOR UPDATE", (sorted(missing, key=_int),))
            rows.update({r["customer_id"]: r for r in curs.fetchall()})  # dict_row: new dicts
        segments.load(roots.values())
        engine, apply = segments.engine, customer_profile.apply
        # One slot per group, [root, row, row as stored (_UNSET: unchanged)], found by each
        # event's stream id's int: the dicts by root took five UUID hashes an event (~3 %
        # of the group's Python, sampled).
        by_root: dict[UUID, list[Any]] = {root: [root, rows.get(root), _UNSET]
                                          for root in set(roots.values())}
        slots = {number: by_root[roots[stream]] for number, stream in streams.items()}
        changed: list[list[Any]] = []  # in the order of their first change
        for position, event in events:
            slot = slots[event.originator_id.int]
            old = slot[1]
            new = apply(old, event, position, slot[0])
            if new is not old:
                if slot[2] is _UNSET:
                    slot[2] = old
                    changed.append(slot)
                slot[1] = new
                engine.customer_changed(slot[0], old, new, event.timestamp,
                                        new_cause(("EVENT", position, type(event).__qualname__,
                                                   False, event.occurred_at)))
        cache.rows_written({root: slot[1] for root, slot in by_root.items()})
        # Written once each, and only the rows the events changed.
        written = [(slot[1], slot[2]) for slot in changed if slot[1] is not None]
        if write:
            upsert_rows(curs, "customer_profile", "customer_id", [r for r, _ in written])
            return [], []
        return [r for r, _ in written], [s for _, s in written]

    def _regroup(self, curs: Cursor[DictRow], position: int, event: Any,
                 segments: SegmentPage) -> None:
        survivor, absorbed = event.originator_id, UUID(event.absorbed_id)
        self.cache.regrouped()
        kind = "MERGED" if isinstance(event, Customer.CustomerMerged) else "UNMERGED"
        cause = Cause(kind, position, type(event).__qualname__, occurred_at=event.occurred_at)
        if isinstance(event, Customer.CustomerMerged):
            curs.execute("INSERT INTO customer_profile_member VALUES (%s, %s) "
                         "ON CONFLICT (stream_id) DO UPDATE SET parent_id = excluded.parent_id",
                         (absorbed, survivor))
            curs.execute("DELETE FROM customer_profile WHERE customer_id = %s", (absorbed,))
            root = _roots(curs, {survivor})[survivor]
            changed = {root: self._refold(curs, root, position), absorbed: None}
        else:
            curs.execute("DELETE FROM customer_profile_member WHERE stream_id = %s", (absorbed,))
            root = _roots(curs, {survivor})[survivor]
            changed = {root: self._refold(curs, root, position),
                       absorbed: self._refold(curs, absorbed, position)}
        self.cache.rows_written(changed)
        segments.load(changed)
        for customer_id, row in sorted(changed.items()):
            segments.engine.customer_reassessed(customer_id, row, event.timestamp, cause)

    def _refold(self, curs: Cursor[DictRow], root: UUID, position: int) -> Row | None:
        """Rebuild one group's row from its streams' events up to ``position``."""
        assert self.app is not None, "CustomerProfileView.bind(app) first"
        curs.execute(
            "WITH RECURSIVE g(id) AS (SELECT %s::uuid UNION SELECT m.stream_id "
            "FROM customer_profile_member m JOIN g ON m.parent_id = g.id) "
            "SELECT e.notification_id, e.originator_id, e.originator_version, e.topic, e.state "
            f"FROM {EVENTS} e JOIN g ON e.originator_id = g.id "
            "WHERE e.notification_id <= %s ORDER BY e.notification_id", (root, position))
        row: Row | None = None
        mapper = self.app.mapper
        for r in curs.fetchall():
            stored = StoredEvent(r["originator_id"], r["originator_version"], r["topic"],
                                 bytes(r["state"]))
            event = mapper.to_domain_event(stored)
            if not isinstance(event, (Customer.CustomerMerged, Customer.CustomerUnmerged)):
                row = customer_profile.apply(row, event, r["notification_id"], root)
        curs.execute("DELETE FROM customer_profile WHERE customer_id = %s", (root,))
        if row is not None:
            upsert_rows(curs, "customer_profile", "customer_id", [row])
        return row


_UNSET = object()  # a slot's stored row before the group's first change


def _segment_changed(segments: SegmentPage, position: int, event: Any) -> None:
    if isinstance(event, Segment.Defined):
        segments.define(event.originator_id, event.name, event.description, event.rule, 1,
                        event.by, event.timestamp, position, "DEFINED", event.occurred_at)
    elif isinstance(event, Segment.Revised):
        segments.define(event.originator_id, event.name, event.description, event.rule,
                        event.rule_version, event.by, event.timestamp, position, "REVISED",
                        event.occurred_at)
    elif isinstance(event, Segment.Archived):
        segments.archive(event.originator_id, event.timestamp, position, event.occurred_at)
    elif isinstance(event, Segment.AutoTagChanged):
        segments.curs.execute("UPDATE segment SET auto_tag = %s WHERE segment_id = %s",
                              (event.tag, event.originator_id))


def _int(value: UUID) -> int:
    return value.int  # the order of sorting the UUIDs themselves, without Python comparisons


def _roots(curs: Cursor[DictRow], streams: set[UUID]) -> dict[UUID, UUID]:
    """Each stream's group root (itself unless merged into another customer)."""
    roots = {s: s for s in streams}
    pending = set(streams)
    while pending:
        curs.execute("SELECT stream_id, parent_id FROM customer_profile_member "
                     "WHERE stream_id = ANY(%b)", (sorted(pending, key=_int),))
        parents = {r["stream_id"]: r["parent_id"] for r in curs.fetchall()}
        pending = set()
        for stream, root in roots.items():
            parent = parents.get(root)
            if parent is not None:
                roots[stream] = parent
                pending.add(parent)
    return roots


def fold_staff(row: Row | None, event: Any, position: int) -> Row | None:
    if isinstance(event, Staff.Hired):
        return {"staff_id": event.originator_id, "role": event.role,
                "department": event.department, "wecom_user_id": event.wecom_user_id,
                "hired_at": event.occurred_at, "left_at": None,
                "last_version": event.originator_version}
    if row is None or event.originator_version <= row["last_version"]:
        return row
    row = dict(row, last_version=event.originator_version)
    if isinstance(event, Staff.Left):
        row["left_at"] = event.occurred_at
    elif isinstance(event, Staff.Moved):
        row["department"] = event.department
    elif isinstance(event, Staff.RoleChanged):
        row["role"] = event.role
    return row


class StaffDirectoryView:
    name = "staff_directory"
    version = 3  # v3: current department and role follow Staff.Moved / RoleChanged
    events = (Staff,)

    def bind(self, app: Application[Any]) -> None:
        """Folds events only: needs nothing from the application."""

    def drop(self, curs: Cursor[DictRow]) -> None:
        curs.execute("DROP TABLE IF EXISTS staff_directory CASCADE")

    def create(self, curs: Cursor[DictRow]) -> None:
        create_schema(curs)

    def apply_page(self, curs: Cursor[DictRow], events: Sequence[tuple[int, Any]]) -> None:
        fold_page(curs, "staff_directory", "staff_id", events,
                  lambda e: isinstance(e, (Staff.Hired, Staff.Left, Staff.Moved,
                                           Staff.RoleChanged)), fold_staff)

    def clear(self, curs: Cursor[DictRow]) -> None:
        curs.execute("TRUNCATE staff_directory")
