"""Segment membership on PostgreSQL: load a page's memberships, apply, write back.

Called by :class:`projections.postgres_views.CustomerProfileView` inside the transaction
that updates the profiles and the tracking position, so a profile and its segment
memberships never disagree, and a crash loses or repeats nothing. Definitions
(``Segment.*``) and clock ticks are log events handled in log order; the four lifecycle
stages are built-in segments, so a customer's lifecycle history is their ledger for those.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.persistence import StoredEvent
from psycopg import Cursor
from psycopg.rows import DictRow, dict_row, tuple_row
from psycopg.types.json import Jsonb

from adapters.binary_arrays import (
    BinaryArray,
    int4_array,
    int8_array,
    register,
    timestamptz_array,
    uuid_int_array,
    uuid_pair_arrays,
)
from domain.segment_rules import LIFECYCLES, is_time_dependent
from projections.customer_profile.cache import ProfileCache
from projections.json_codec import use_fast_loads
from projections.segments import ledger_copy, library, plans
from projections.segments.backfill import replay
from projections.segments.engine import (
    CUSTOMER_BITS,
    Cause,
    Key,
    Memberships,
    Segmentation,
    SegmentEngine,
    Spec,
    key,
)

Row = dict[str, Any]
TABLES = ("segment", "segment_membership", "segment_ledger", "segment_check", "segment_product")
VIEWS = ("segment_size_daily", "customer_lifecycle_history")
CHUNK = 5000

_NS = uuid5(NAMESPACE_URL, "https://siyu.invalid/segments")
#: Built-in segments: one per lifecycle stage (their ledger is the lifecycle history).
LIFECYCLE_SEGMENTS = {stage: uuid5(_NS, f"lifecycle:{stage}") for stage in LIFECYCLES}


def _split(keys: Sequence[Key]) -> list[BinaryArray]:
    """The segment ids and the customer ids of ``keys``, as two ``uuid[]`` parameters (a
    key's high and low 128 bits: :func:`key`)."""
    return list(uuid_pair_arrays(keys))


def create(curs: Cursor[DictRow]) -> None:
    curs.execute((Path(__file__).parent / "segments.sql").read_text())
    _insert_built_ins(curs)


def drop(curs: Cursor[DictRow]) -> None:
    curs.execute("DROP VIEW IF EXISTS " + ", ".join(VIEWS))
    curs.execute("DROP TABLE IF EXISTS " + ", ".join(TABLES) + " CASCADE")


def clear(curs: Cursor[DictRow]) -> None:
    curs.execute("TRUNCATE " + ", ".join(TABLES) + " RESTART IDENTITY")
    _insert_built_ins(curs)


def _insert_built_ins(curs: Cursor[DictRow]) -> None:
    for stage, segment_id in LIFECYCLE_SEGMENTS.items():
        curs.execute(
            "INSERT INTO segment (segment_id, name, description, rule, rule_version, "
            "time_dependent, built_in, defined_by, defined_at, position) "
            "VALUES (%s, %s, %s, %s, 1, true, true, 'system', 'epoch', 0) "
            "ON CONFLICT (segment_id) DO NOTHING",
            (segment_id, f"Lifecycle: {stage}", f"Built in: customers at lifecycle stage {stage}",
             Jsonb({"lifecycle": stage})))


def load_specs(curs: Cursor[DictRow]) -> list[Spec]:
    """The live segment versions, their rules resolved against the library as it stands."""
    curs.execute("SELECT segment_id, rule_version, rule FROM segment "
                 "WHERE archived_at IS NULL ORDER BY position, segment_id")
    found = curs.fetchall()
    products = library.load(curs) if any(library.categories(r["rule"]) for r in found) else {}
    return [Spec.of(r["segment_id"], r["rule_version"], library.resolved(r["rule"], products))
            for r in found]


def load_state(curs: Cursor[DictRow], state: Memberships, customer_ids: Iterable[UUID]) -> None:
    """The stored members and checks of ``customer_ids`` into ``state`` (binary tuples, each
    key's bytes joined by the server: docs/benchmarks.md, ``rebuild_10m``)."""
    ids = sorted({i.int for i in customer_ids})
    if not ids:
        return
    wanted = uuid_int_array(ids)
    with curs.connection.cursor(binary=True, row_factory=tuple_row) as pairs:
        register(pairs.adapters)  # it copied its connection's, perhaps never taught them
        # One round trip for both (a membership's rule version is never null, a check's is).
        pairs.execute("SELECT uuid_send(segment_id) || uuid_send(customer_id), rule_version, "
                      "NULL::timestamptz FROM segment_membership WHERE customer_id = ANY(%b) "
                      "UNION ALL SELECT uuid_send(segment_id) || uuid_send(customer_id), NULL, "
                      "check_at FROM segment_check WHERE customer_id = ANY(%b)", (wanted, wanted))
        found = pairs.fetchall()
    members, checks, from_bytes, customer = state.members, state.checks, int.from_bytes, CUSTOMER_BITS
    stored: dict[int, Segmentation] = {i: ({}, {}) for i in ids}
    for pair_bytes, version, check_at in found:
        pair = from_bytes(pair_bytes, "big")
        if version is None:
            checks[pair] = stored[pair & customer][1][pair] = check_at
        else:
            members[pair] = stored[pair & customer][0][pair] = version
    state.stored.update(stored)


class Also(NamedTuple):
    """Writes that go with a flush's (on rows no other part touches): statements, their
    parameters, and how many rows the last one returns (checked; None: not checked)."""
    parts: list[str]
    params: list[Any]
    returned: int | None = None


def flush(curs: Cursor[DictRow], state: Memberships, also: Also | None = None) -> None:
    """Write what changed in ``state`` (ledger, members, checks, counts), and ``also``."""
    if state.entries:
        with curs.copy(ledger_copy.STATEMENT) as copy:
            copy.write(ledger_copy.copy_buffer(state.entries))
    # The arrays below go as built (adapters.binary_arrays): the cursor copied its
    # connection's adapters when it opened, perhaps before anyone taught them.
    register(curs.adapters)
    parts, params = _membership_writes(state)
    expected = None if also is None else also.returned
    if also is not None:
        parts += also.parts
        params += also.params
    if parts:  # one statement for the rest (disjoint rows), its joins by index (plans)
        found = plans.execute_by_index(curs, "WITH " + ", ".join(
            f"w{n} AS ({p})" for n, p in enumerate(parts)) + (
            " SELECT 1 AS n" if expected is None
            else f" SELECT count(*) AS n FROM w{len(parts) - 1}"), params)
        if expected is not None and (n := found[0]["n"]) != expected:
            raise RuntimeError(f"{n} rows written where {expected} were expected: the "
                               "page's idea of the stored rows is wrong")
    state.entries.clear()
    state.entered.clear()
    state.exited.clear()
    state.checks_set.clear()


def _membership_writes(state: Memberships) -> tuple[list[str], list[Any]]:
    """The writes of members who left and entered, checks cleared and set, and member
    counts, as parts of one statement (each key is in one part at most).

    A key known absent from its table is inserted, one known present updated, and only
    the others (customers not loaded as a whole) upserted: ``INSERT … ON CONFLICT``'s
    speculative insertion was ~40 % of the server's time for those rows, measured. A
    member known absent (who came and left since loading) is not deleted."""
    parts: list[str] = []
    params: list[Any] = []
    left = _kinds(sorted(state.exited), MEMBERS, state)
    if gone := sorted(left.get(UPDATE, []) + left.get(UPSERT, [])):
        parts.append("DELETE FROM segment_membership m USING unnest(%b::uuid[], %b::uuid[]) "
                     "AS g(s, c) WHERE m.segment_id = g.s AND m.customer_id = g.c")
        params += _split(gone)
    members = ("segment_membership", "rule_version, since, entry_position",
               "%b::int[], %b::timestamptz[], %b::bigint[]")
    for kind, keys in _kinds(sorted(state.entered), MEMBERS, state).items():
        came = [state.entered[k] for k in keys]
        parts.append(_write(kind, *members))
        params += [*_split(keys), int4_array([e.rule_version for e in came]),
                   timestamptz_array([e.at for e in came]),
                   int8_array([e.cause.position for e in came])]
    changed = state.checks_set
    cleared = sorted(k for k, v in changed.items() if v is None)
    if cleared:
        parts.append("DELETE FROM segment_check c USING unnest(%b::uuid[], %b::uuid[]) "
                     "AS g(s, c) WHERE c.segment_id = g.s AND c.customer_id = g.c")
        params += _split(cleared)
    due = {k: v for k, v in changed.items() if v is not None}
    for kind, keys in _kinds(sorted(due), CHECKS, state).items():  # ints sorted
        parts.append(_write(kind, "segment_check", "check_at", "%b::timestamptz[]"))
        params += [*_split(keys), timestamptz_array([due[k] for k in keys])]
    counts = sorted((s, d) for s, d in state.delta().items() if d)
    if counts:
        parts.append("UPDATE segment s SET member_count = s.member_count + d.delta "
                     "FROM unnest(%b::uuid[], %b::int[]) AS d(id, delta) "
                     "WHERE s.segment_id = d.id")
        params += [uuid_int_array([s for s, _ in counts]), int4_array([d for _, d in counts])]
    return parts, params


INSERT, UPDATE, UPSERT = "insert", "update", "upsert"
MEMBERS, CHECKS = 0, 1  # which half of a customer's Segmentation


def _kinds(keys: list[Key], table: int, state: Memberships) -> dict[str, list[Key]]:
    """``keys`` (in order) by how to write them, as ``state.stored``'s ``table`` tells."""
    out: dict[str, list[Key]] = {}
    known, customer = state.stored, CUSTOMER_BITS
    for k in keys:
        found = known.get(k & customer)
        kind = UPSERT if found is None else UPDATE if k in found[table] else INSERT
        out.setdefault(kind, []).append(k)
    return out


def _write(kind: str, table: str, columns: str, types: str) -> str:
    """Rows of ``table`` keyed by (segment_id, customer_id), from arrays of the keys'
    two halves and of ``columns`` (of SQL ``types``)."""
    source = f"unnest(%b::uuid[], %b::uuid[], {types})"
    if kind == INSERT:
        return f"INSERT INTO {table} SELECT * FROM {source}"
    names = [c.strip() for c in columns.split(",")]
    if kind == UPDATE:
        assigned = ", ".join(f"{c} = u.{c}" for c in names)
        return (f"UPDATE {table} t SET {assigned} FROM {source} AS u(segment_id, "
                f"customer_id, {columns}) WHERE t.segment_id = u.segment_id "
                "AND t.customer_id = u.customer_id")
    assigned = ", ".join(f"{c} = excluded.{c}" for c in names)
    return (f"INSERT INTO {table} SELECT * FROM {source} "
            f"ON CONFLICT (segment_id, customer_id) DO UPDATE SET {assigned}")


class SegmentPage:
    """The segment side of one projection page: state for the customers it touches."""

    def __init__(self, curs: Cursor[DictRow],
                 decode: Callable[[StoredEvent], Any] | None = None,
                 replay_topics: Sequence[str] | None = None,
                 cache: ProfileCache | None = None) -> None:
        self.curs = curs
        self.decode = decode  # to backfill new segments from the log (None: no backfill)
        self.replay_topics = replay_topics  # what a backfill reads (None: derived per use)
        self.cache = cache  # what the last committed pages left in memory (None: nothing)
        specs = cache.known_specs() if cache is not None else None
        if specs is None:
            specs = load_specs(curs)
            if cache is not None:
                cache.specs_read(specs)
        self._engine(specs)

    def _engine(self, specs: list[Spec]) -> None:
        self.state = Memberships()
        self.loaded: set[UUID] = set()
        self.engine = SegmentEngine(specs, self.state)

    def reload_specs(self) -> None:
        """After a segment or the product library changed: versions read again, and
        every membership kept in memory forgotten (customers not loaded changed too)."""
        self._engine(load_specs(self.curs))
        if self.cache is not None:
            self.cache.segments_reset(self.engine.specs)

    def load(self, customer_ids: Iterable[UUID]) -> None:
        missing = set(customer_ids) - self.loaded
        unknown = missing if self.cache is None else self.cache.known_segments(missing,
                                                                               self.state)
        load_state(self.curs, self.state, unknown)
        self.loaded |= missing

    def flush(self, also: Also | None = None) -> None:
        if self.cache is not None:  # before the flush: from what changed since loading
            self.cache.segments_flushed(self.state, self.loaded)
        flush(self.curs, self.state, also)
        state = self.state
        for kept in (state.members, state.checks, state.stored, self.loaded):
            kept.clear()

    # -- log events that are not customer events -----------------------------------
    def tick(self, at: datetime, position: int) -> None:
        """Re-evaluate every (segment, customer) whose answer may have changed by ``at``."""
        self.flush()
        cause = Cause("TICK", position, "Tick.Struck")
        while True:
            self.curs.execute("SELECT segment_id, customer_id FROM segment_check "
                              "WHERE check_at <= %s ORDER BY check_at, segment_id, customer_id "
                              "LIMIT %s", (at, CHUNK))
            found = self.curs.fetchall()
            if not found:
                return
            keys = [key(r["segment_id"], r["customer_id"]) for r in found]
            customers = {r["customer_id"] for r in found}
            self.load(customers)
            rows = _rows(self.curs, customers)
            self.engine.due(rows, keys, at, cause)
            for pair in keys:  # a pair whose horizon is still due would loop forever
                if self.state.checks.get(pair) is not None and self.state.checks[pair] <= at:
                    self.state.set_check(pair, None)
            self.flush()

    def define(self, segment_id: UUID, name: str, description: str, rule: dict[str, Any],
               version: int, by: str, at: datetime, position: int, kind: str,
               occurred_at: datetime | None = None) -> None:
        """A segment defined (``kind`` DEFINED) or revised (REVISED): evaluate everyone."""
        self.flush()
        self.curs.execute(
            "INSERT INTO segment (segment_id, name, description, rule, rule_version, "
            "time_dependent, defined_by, defined_at, position) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (segment_id) DO UPDATE "
            "SET name = excluded.name, description = excluded.description, "
            "rule = excluded.rule, rule_version = excluded.rule_version, "
            "time_dependent = excluded.time_dependent, revised_at = excluded.defined_at, "
            "position = excluded.position",
            (segment_id, name, description, Jsonb(rule), version, is_time_dependent(rule), by,
             at, position))
        spec = Spec.of(segment_id, version, library.resolved(rule, library.load(self.curs)))
        state = Memberships()
        self.curs.execute("SELECT customer_id, rule_version FROM segment_membership "
                          "WHERE segment_id = %s", (segment_id,))
        base = segment_id.int << 128
        state.members = {base | r["customer_id"].int: r["rule_version"]
                         for r in self.curs.fetchall()}
        if kind == "DEFINED" and self.decode is not None:
            replay(self.curs, self.decode, spec, position, state,
                   lambda replayed: flush(self.curs, replayed), self.replay_topics)
        self.curs.execute("DELETE FROM segment_check WHERE segment_id = %s", (segment_id,))
        state.checks.clear()
        engine = SegmentEngine([spec], state)
        cause = Cause(kind, position, "Segment.Defined" if kind == "DEFINED" else "Segment.Revised",
                      occurred_at=occurred_at)
        for chunk in _all_rows(self.curs):
            for row in chunk:
                engine.assess(spec, row["customer_id"], row, at, cause)
            flush(self.curs, state)
        self.reload_specs()

    def product_moved(self, product_id: UUID, category: str, at: datetime, cause: Cause,
                      sku: str | None = None) -> None:
        """A product listed (``sku`` given) or revised: when that files it under another
        category, its buyers are re-evaluated for every segment whose rule counts either
        category (docs/segments.md)."""
        self.flush()
        sku, before = library.placed(self.curs, product_id, sku, category)
        if before == category:
            return
        self.reload_specs()
        specs = [s for s in self.engine.specs if library.reads_category(s.rule, before, category)]
        if not specs:
            return
        for chunk in _all_rows(self.curs, sku):
            self.load(r["customer_id"] for r in chunk)
            for row in chunk:
                for spec in specs:
                    self.engine.assess(spec, row["customer_id"], row, at, cause)
            self.flush()

    def archive(self, segment_id: UUID, at: datetime, position: int,
                occurred_at: datetime | None = None) -> None:
        self.flush()
        self.curs.execute("UPDATE segment SET archived_at = %s WHERE segment_id = %s "
                          "RETURNING rule_version", (at, segment_id))
        found = self.curs.fetchone()
        if found is None:
            return
        state = Memberships()
        self.curs.execute("SELECT customer_id FROM segment_membership WHERE segment_id = %s",
                          (segment_id,))
        for r in self.curs.fetchall():
            state.members[key(segment_id, r["customer_id"])] = found["rule_version"]
        SegmentEngine([], state).release(segment_id, found["rule_version"], at,
                                         Cause("ARCHIVED", position, "Segment.Archived",
                                               occurred_at=occurred_at))
        self.curs.execute("DELETE FROM segment_check WHERE segment_id = %s", (segment_id,))
        flush(self.curs, state)
        self.reload_specs()


def _rows(curs: Cursor[DictRow], customer_ids: Iterable[UUID]) -> dict[UUID, Row]:
    curs.execute("SELECT * FROM customer_profile WHERE customer_id = ANY(%b)",
                 (sorted(set(customer_ids)),))
    return {r["customer_id"]: dict(r) for r in curs.fetchall()}


def _all_rows(curs: Cursor[DictRow], bought: str | None = None) -> Iterable[Sequence[Row]]:
    """Every profile (of the buyers of SKU ``bought`` if given), in chunks, by a server-side
    cursor inside the current transaction."""
    with curs.connection.cursor(name="segment_scan", row_factory=dict_row) as scan:
        use_fast_loads(scan)
        scan.itersize = CHUNK
        if bought is None:
            scan.execute("SELECT * FROM customer_profile ORDER BY customer_id")
        else:
            scan.execute("SELECT * FROM customer_profile WHERE sku_quantities ? %s "
                         "ORDER BY customer_id", (bought,))
        while True:
            chunk = scan.fetchmany(CHUNK)
            if not chunk:
                return
            yield [dict(r) for r in chunk]
