"""An empty test database in milliseconds: the schema built once, emptied per test.

Dropping ``public`` and creating the event store and every read model again cost an
integration test about 0.7 s of DDL (the tables, their indexes, functions and views, ~270
relations). A worker's database instead keeps **the schema** — the one the application
builds at start (:func:`build_schema`): the event store, every read model, the token and
rate-limit tables — and each test gets it **emptied**: the tables that hold rows emptied
(:func:`_empty`: a ``DELETE`` for most, ``TRUNCATE`` for the log and any large table), the
rows that creating the schema wrote put back (the library's tracking migration marker, the
read-model versions, the built-in segments), every sequence where the build left it.

A test that changes the schema (drops or alters a table, leaves an old version, a build
schema, a grant) leaves a catalogue unlike the one recorded: the next test's
:meth:`CleanDatabase.empty` sees it (:data:`FINGERPRINT`, one query) and builds the schema
again from nothing. A test that needs a database with no schema at all (one that creates,
migrates or upgrades it) is marked ``fresh_database`` and gets an empty ``public``
(:meth:`CleanDatabase.fresh`), as every test did before.

Nothing else a test could see survives it: sessions, and with them advisory locks and
LISTEN channels, end with the test that opened them; there are no materialised views.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from adapters import rate_buckets
from adapters.tokens import ensure_token_table
from projections.runner import Tracker
from siyu.bootstrap import build_application
from tests.support.read_models import grouped_runners

#: Every schema but the system's.
_OWN = "n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'"

#: A digest of the catalogue of the database's own schemas: relations (with kind,
#: persistence, grants, options), columns, functions, triggers, constraints, and the
#: database's settings. Equal digests: the same schema, whatever rows it holds.
FINGERPRINT = f"""
SELECT md5(concat_ws('|',
  (SELECT string_agg(n.nspname, ',' ORDER BY n.nspname) FROM pg_namespace n WHERE {_OWN}),
  (SELECT string_agg(concat_ws(':', n.nspname, c.relname, c.relkind, c.relpersistence,
                               c.relacl::text, c.reloptions::text),
                     ',' ORDER BY n.nspname, c.relname)
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {_OWN}),
  (SELECT string_agg(concat_ws(':', n.nspname, c.relname, a.attnum, a.attname,
                               format_type(a.atttypid, a.atttypmod), a.attnotnull,
                               a.atthasdef),
                     ',' ORDER BY n.nspname, c.relname, a.attnum)
     FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {_OWN} AND a.attnum > 0),
  (SELECT string_agg(concat_ws(':', n.nspname, p.proname, md5(p.prosrc)),
                     ',' ORDER BY n.nspname, p.proname, md5(p.prosrc))
     FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {_OWN}),
  (SELECT string_agg(concat_ws(':', c.relname, t.tgname), ',' ORDER BY c.relname, t.tgname)
     FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {_OWN} AND NOT t.tgisinternal),
  (SELECT string_agg(concat_ws(':', n.nspname, o.conname, o.contype),
                     ',' ORDER BY n.nspname, o.conname)
     FROM pg_constraint o JOIN pg_namespace n ON n.oid = o.connamespace WHERE {_OWN}),
  (SELECT string_agg(array_to_string(s.setconfig, ','), ';' ORDER BY s.setrole)
     FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
    WHERE d.datname = current_database())))
"""

_TABLES = f"""
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE {_OWN} AND c.relkind IN ('r', 'p') ORDER BY 1, 2
"""

#: The database's own objects that DDL names: (kind for ``DROP``, schema, name for ``DROP``).
_OBJECTS = f"""
SELECT 'SCHEMA', n.nspname, format('%I', n.nspname) FROM pg_namespace n WHERE {_OWN}
UNION ALL
SELECT CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                      WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE'
                      WHEN 'c' THEN 'TYPE' ELSE 'TABLE' END,
       n.nspname, format('%I.%I', n.nspname, c.relname)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE {_OWN} AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c')
UNION ALL
SELECT CASE p.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE'
                      ELSE 'FUNCTION' END,
       n.nspname, format('%I.%I(%s)', n.nspname, p.proname,
                         pg_get_function_identity_arguments(p.oid))
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {_OWN}
"""

#: Tables a ``DELETE`` may not empty alone: those in a foreign key (the order would
#: matter) or with triggers of their own (a ``DELETE`` fires them).
_TRUNCATE_ONLY = f"""
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE {_OWN} AND c.relkind IN ('r', 'p') AND (
   EXISTS (SELECT FROM pg_constraint o WHERE o.contype = 'f'
            AND c.oid IN (o.conrelid, o.confrelid))
   OR EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal))
"""

#: Always truncated: the event log. Tests count the index entries its reads go through
#: (tests/support/log_reads.py), and a deleted row's entries stay until a vacuum.
_ALWAYS_TRUNCATED = frozenset({("public", "siyu_events")})

#: A table at least this large on disk is truncated rather than deleted from: a
#: ``DELETE`` leaves its rows dead until autovacuum comes by.
_LARGE_BYTES = 1 << 20

_SEQUENCES = """
SELECT schemaname, sequencename, start_value, last_value FROM pg_sequences
 WHERE schemaname NOT LIKE 'pg\\_%' ORDER BY 1, 2
"""

#: A sequence's place: (start value, last value — None before its first ``nextval``).
Place = tuple[int, int | None]
#: A table: (schema, name).
Table = tuple[str, str]
#: An object of :data:`_OBJECTS`.
Object = tuple[str, str, str]


def build_schema(url: str, secret: bytes) -> None:
    """What the processes create as they start, on an empty ``public``: the event store
    (its hash chain included), the tracking table, every read model of every group, the
    token and rate-limit tables."""
    app = build_application(url, secret)
    try:
        grouped_runners(app, Tracker(app.factory.datastore))  # type: ignore[attr-defined]
    finally:
        app.close()
    ensure_token_table(url)
    with psycopg.connect(url) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (rate_buckets.SCHEMA_LOCK,))
        conn.execute(rate_buckets.DDL)


def drop_everything(conn: psycopg.Connection[Any]) -> None:
    """Every schema of the database's own dropped, an empty ``public`` created."""
    schemas = [r[0] for r in conn.execute(
        f"SELECT n.nspname FROM pg_namespace n WHERE {_OWN}").fetchall()]
    for schema in schemas:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    conn.execute("CREATE SCHEMA public")


@dataclass
class Snapshot:
    """What the freshly built schema was: its digest, its tables, the rows building it
    wrote (per table, ``COPY`` binary), and where it left each sequence."""

    fingerprint: str
    objects: frozenset[Object]
    tables: list[Table]
    seeds: dict[Table, bytes] = field(default_factory=dict)
    sequences: dict[str, Place] = field(default_factory=dict)
    #: Tables emptied by ``TRUNCATE`` whatever their size (:data:`_TRUNCATE_ONLY`).
    truncated: frozenset[Table] = frozenset()

    @classmethod
    def take(cls, conn: psycopg.Connection[Any]) -> Snapshot:
        tables = [(s, t) for s, t in conn.execute(_TABLES).fetchall()]
        truncated = frozenset((s, t) for s, t in conn.execute(_TRUNCATE_ONLY).fetchall())
        snapshot = cls(_fingerprint(conn), _objects(conn), tables, sequences=_sequences(conn),
                       truncated=truncated | _ALWAYS_TRUNCATED)
        for table in _holding_rows(conn, tables):
            with conn.cursor().copy(sql.SQL("COPY {} TO STDOUT (FORMAT binary)")
                                    .format(sql.Identifier(*table))) as copy:
                snapshot.seeds[table] = b"".join(bytes(block) for block in copy)
        return snapshot


class CleanDatabase:
    """A worker's test database: :meth:`empty` before a test, or :meth:`fresh`.

    ``build``: creates the schema on an empty ``public`` (given the database's URL).
    """

    def __init__(self, url: str, build: Callable[[str], None]) -> None:
        self.url = url
        self.build = build
        self.snapshot: Snapshot | None = None
        #: How often :meth:`empty` found the schema changed and built it again.
        self.rebuilds = 0
        self._conn: psycopg.Connection[Any] | None = None

    def fresh(self) -> None:
        """No schema at all: an empty ``public``, as on a new database."""
        self._on_connection(drop_everything)
        self.snapshot = None

    def empty(self) -> None:
        """The schema, holding only the rows its creation wrote."""
        self._on_connection(self._empty)

    def _empty(self, conn: psycopg.Connection[Any]) -> None:
        snapshot = self.snapshot
        if snapshot is None or not _as_built(conn, snapshot):
            self.rebuilds += snapshot is not None
            drop_everything(conn)
            self.build(self.url)
            self.snapshot = Snapshot.take(conn)
            return
        with conn.transaction():
            _empty(conn, snapshot)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _on_connection(self, work: Callable[[psycopg.Connection[Any]], None]) -> None:
        """``work`` on the worker's own connection, kept from test to test (its queries
        prepared after a few uses, no connection set up per test), opened again when a
        test ended it (some end every backend of the database, as a restart would). It
        holds no lock and listens to nothing between tests."""
        for attempt in (1, 2):
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self.url, autocommit=True)
            try:
                work(self._conn)
                return
            except psycopg.OperationalError:
                if not self._conn.broken or attempt == 2:
                    raise
                self._conn.close()
                self._conn = None


def _as_built(conn: psycopg.Connection[Any], snapshot: Snapshot) -> bool:
    """Whether the schema is the one built, once what a test added to it (a table of its
    own, a worker's tables, a build schema) is dropped: none of it is on a new database."""
    if _fingerprint(conn) == snapshot.fingerprint:
        return True
    now = _objects(conn)
    if not now >= snapshot.objects:
        return False
    added = now - snapshot.objects
    schemas = {schema for kind, schema, _ in added if kind == "SCHEMA"}
    for kind, schema, name in sorted(added, key=lambda o: o[0] != "SCHEMA"):
        if kind == "SCHEMA" or schema not in schemas:
            conn.execute(f"DROP {kind} IF EXISTS {name} CASCADE".encode())
    return _fingerprint(conn) == snapshot.fingerprint


def _empty(conn: psycopg.Connection[Any], snapshot: Snapshot) -> None:
    """Every table emptied, the build's rows put back. ``TRUNCATE`` gives each table and
    index a new file (about 3 ms a table: ~110 ms for the 40 an API test leaves rows in),
    while a ``DELETE`` of every table, in one round trip, costs ~2 ms when few rows are in
    them (less than finding which hold rows). A ``DELETE`` leaves the rows dead until
    autovacuum comes by, so a large table is truncated still, and so is a table of
    :data:`Snapshot.truncated` that was written to (its file is empty after a ``TRUNCATE``)."""
    tables = snapshot.tables
    sizes = dict(zip(tables, _sizes(conn, tables), strict=True))
    truncated = [t for t in tables if sizes[t] >= _LARGE_BYTES
                 or (t in snapshot.truncated and sizes[t] > 0)]
    if truncated:
        conn.execute(sql.SQL("TRUNCATE {} CASCADE").format(
            sql.SQL(", ").join(sql.Identifier(*t) for t in truncated)))
    deleted = [t for t in tables if t not in truncated and t not in snapshot.truncated]
    if deleted:  # one round trip: statements without parameters
        conn.execute(sql.SQL("; ").join(sql.SQL("DELETE FROM {}").format(sql.Identifier(*t))
                                        for t in deleted))
    for table, rows in snapshot.seeds.items():
        with conn.cursor().copy(sql.SQL("COPY {} FROM STDIN (FORMAT binary)")
                                .format(sql.Identifier(*table))) as copy:
            copy.write(rows)
    # A sequence moves without a row to show for it (an insert rolled back), and a
    # seed's own ids were taken at the build: each goes back where the build left it.
    for name, place in _sequences(conn).items():
        start, last = snapshot.sequences[name]
        if place != (start, last):
            conn.execute("SELECT setval(%s, %s, %s)",
                         (name, start if last is None else last, last is not None))


def _sizes(conn: psycopg.Connection[Any], tables: list[Table]) -> list[int]:
    """The bytes on disk of each of ``tables`` (one query)."""
    if not tables:
        return []
    rows = conn.execute(
        "SELECT pg_relation_size(name::regclass) FROM unnest(%s::text[]) "
        "WITH ORDINALITY AS t(name, i) ORDER BY i",
        ([sql.Identifier(*t).as_string(conn) for t in tables],)).fetchall()
    return [int(r[0]) for r in rows]


def _holding_rows(conn: psycopg.Connection[Any], tables: list[Table]) -> list[Table]:
    """The tables of ``tables`` with at least one row (one query)."""
    if not tables:
        return []
    probe = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {n} WHERE EXISTS (SELECT FROM {t})").format(
            n=sql.Literal(i), t=sql.Identifier(*t))
        for i, t in enumerate(tables))
    return [tables[r[0]] for r in conn.execute(probe).fetchall()]


def _fingerprint(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute(FINGERPRINT).fetchone()
    return str(row[0]) if row else ""


def _objects(conn: psycopg.Connection[Any]) -> frozenset[Object]:
    return frozenset((str(k), str(s), str(n)) for k, s, n in conn.execute(_OBJECTS).fetchall())


def _sequences(conn: psycopg.Connection[Any]) -> dict[str, Place]:
    return {sql.Identifier(s, n).as_string(conn): (int(start), last)
            for s, n, start, last in conn.execute(_SEQUENCES).fetchall()}
