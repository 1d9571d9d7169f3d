"""Event recorders that also write the ingestion side tables in the same transaction.

``SideWrites`` passed to ``Application.save(..., side_writes=...)`` arrive here as a
keyword argument and are written inside the transaction that inserts the events (identity
blind index, client event ids, vault keys, sealed values). A conflicting row aborts the
whole transaction with ``IntegrityError`` and the application decides again."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import Connection, Cursor
from psycopg.pq import TransactionStatus
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL, Identifier

from adapters import (
    binary_arrays,
    event_chain,
    event_positions,
    pooled_connections,
    stream_reads,
)
from adapters.binary_arrays import bytea_array, int8_array, text_array, uuid_array
from adapters.event_store_schema import create_once
from adapters.pooled_connections import stale_retry
from adapters.side_tables import SIDE_TABLES_DDL
from domain.ports import BatchLookup, SideWrites, TagClaim
from domain.storable import stored_event

BEGIN, COMMIT = SQL("BEGIN"), SQL("COMMIT")


class SiyuPostgresRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        if not getattr(datastore, "checks_stale", False):
            datastore.get_connection = pooled_connections.checked(  # type: ignore[method-assign]
                datastore.get_connection, attempts=(datastore.pool.max_size or 1) + 1)
            datastore.checks_stale = True  # type: ignore[attr-defined]
        schema = Identifier(datastore.schema)
        for statement in SIDE_TABLES_DDL.split(";"):
            if statement.strip():
                self.sql_create_statements.append(SQL(statement).format(schema=schema))
        self.sql_create_statements.append(event_chain.chain_ddl(datastore.schema))
        q = {"schema": schema}
        # Events and their chain links go at positions reserved under the lock.
        self._reserve = event_positions.reserve_statement(datastore.schema,
                                                          self.events_table_name)
        self._insert_events_at = event_positions.insert_events_statement(
            datastore.schema, self.events_table_name)
        self._notify = SQL("NOTIFY {0}").format(Identifier(self.channel_name))
        self._insert_links = event_chain.insert_links_statement(datastore.schema)
        self._insert_identities = SQL(
            "INSERT INTO {schema}.siyu_identity (blind_index, namespace, customer_id) "
            "SELECT * FROM unnest(%b::text[], %b::text[], %b::uuid[])").format(**q)
        self._insert_event_keys = SQL(
            "INSERT INTO {schema}.siyu_event_key (event_key, customer_id) "
            "SELECT * FROM unnest(%b::text[], %b::uuid[])").format(**q)
        self._insert_keys = SQL(
            "INSERT INTO {schema}.siyu_vault_key (subject_id, wrapped) "
            "SELECT * FROM unnest(%b::uuid[], %b::bytea[])").format(**q)
        self._upsert_sealed = SQL(
            "INSERT INTO {schema}.siyu_vault_value (subject_id, field, ciphertext) "
            "SELECT * FROM unnest(%b::uuid[], %b::text[], %b::bytea[]) "
            "ON CONFLICT (subject_id, field) DO UPDATE SET ciphertext = excluded.ciphertext"
        ).format(**q)
        self._reown = SQL(
            "UPDATE {schema}.siyu_identity AS i SET customer_id = r.owner "
            "FROM unnest(%b::text[], %b::uuid[]) AS r(blind, owner) "
            "WHERE i.blind_index = r.blind").format(**q)
        self._insert_merges = SQL(
            "INSERT INTO {schema}.siyu_customer_merge (absorbed_id, survivor_id) "
            "SELECT * FROM unnest(%b::uuid[], %b::uuid[])").format(**q)
        self._delete_merges = SQL(
            "DELETE FROM {schema}.siyu_customer_merge WHERE absorbed_id = ANY(%b::uuid[])"
        ).format(**q)
        self._insert_claims = SQL(
            "INSERT INTO {schema}.siyu_tag_claim (tag, group_id, exclusive) "
            "SELECT * FROM unnest(%b::text[], %b::uuid[], %b::boolean[])").format(**q)
        self._delete_claims = SQL(
            "DELETE FROM {schema}.siyu_tag_claim AS c USING unnest(%b::text[], %b::uuid[]) "
            "AS r(tag, group_id) WHERE c.tag = r.tag AND c.group_id = r.group_id").format(**q)
        self._archive_claims = SQL(
            "UPDATE {schema}.siyu_tag_claim SET live = false WHERE group_id = ANY(%b::uuid[])"
        ).format(**q)
        # Snapshots cache identities too: an erased customer's go (folded from events then).
        snapshots_table = self.events_table_name.removesuffix("_events") + "_snapshots"
        snapshots = Identifier(snapshots_table)
        self._erase = [SQL(statement).format(**q, snapshots=snapshots) for statement in (
            "DELETE FROM {schema}.siyu_identity WHERE customer_id = ANY(%b::uuid[])",
            "DELETE FROM {schema}.siyu_vault_value WHERE subject_id = ANY(%b::uuid[])",
            "DELETE FROM {schema}.siyu_vault_key WHERE subject_id = ANY(%b::uuid[])",
            "DELETE FROM {schema}.{snapshots} WHERE originator_id = ANY(%b::uuid[])")]
        self._select_tag_claims = SQL(
            "SELECT tag, group_id, exclusive, live FROM {schema}.siyu_tag_claim "
            "WHERE tag = ANY(%s) ORDER BY tag, group_id").format(**q)
        self._select_group_claims = SQL(
            "SELECT tag, group_id, exclusive, live FROM {schema}.siyu_tag_claim "
            "WHERE group_id = ANY(%s) ORDER BY group_id, tag").format(**q)
        self._select_owners = SQL(
            "SELECT blind_index, customer_id FROM {schema}.siyu_identity "
            "WHERE blind_index = ANY(%s)").format(**q)
        # Owners with their stream's latest version: one index probe each, however long.
        self._select_owner_versions = SQL(
            "SELECT i.blind_index, i.customer_id, (SELECT max(e.originator_version) FROM "
            "{schema}.{table} e WHERE e.originator_id = i.customer_id) AS version "
            "FROM {schema}.siyu_identity i WHERE i.blind_index = ANY(%b::text[])").format(
            schema=schema, table=Identifier(self.events_table_name))
        self._lookup_event_keys = SQL(  # a batch's keys, sent as a binary array
            "SELECT event_key, customer_id FROM {schema}.siyu_event_key "
            "WHERE event_key = ANY(%b::text[])").format(**q)
        self._select_event_keys = SQL(
            "SELECT event_key, customer_id FROM {schema}.siyu_event_key "
            "WHERE event_key = ANY(%s)").format(**q)
        # A bare (pre-scoping) client event id belongs to the source of the events written
        # in the same transaction (same xmin) on the same customer: their "by".
        self._select_legacy_event_keys = SQL(
            "SELECT k.event_key, k.customer_id, (SELECT convert_from(e.state, 'UTF8')::jsonb ->> 'by' "
            "FROM {schema}.{table} e WHERE e.originator_id = k.customer_id AND e.xmin = k.xmin "
            "ORDER BY e.originator_version LIMIT 1) AS source "
            "FROM {schema}.siyu_event_key k WHERE k.event_key = ANY(%s)").format(
            schema=schema, table=Identifier(self.events_table_name))
        self._select_keys = SQL(
            "SELECT subject_id, wrapped FROM {schema}.siyu_vault_key "
            "WHERE subject_id = ANY(%s)").format(**q)
        self._select_versions = SQL(
            "SELECT i.id, v.last FROM unnest(%s::uuid[]) AS i(id), LATERAL (SELECT max("
            "originator_version) AS last FROM {schema}.{table} WHERE originator_id = i.id) AS v "
            "WHERE v.last IS NOT NULL").format(  # one index probe a stream, however long
            schema=schema, table=Identifier(self.events_table_name))
        self._select_fields = SQL(
            "SELECT v.subject_id, v.field, v.ciphertext FROM {schema}.siyu_vault_value v "
            "JOIN unnest(%s::uuid[], %s::text[]) AS w(subject_id, field) "
            "USING (subject_id, field)").format(**q)
        self._select_short_streams = SQL(
            "SELECT e.originator_id, e.originator_version, e.topic, e.state "
            "FROM unnest(%s::uuid[]) AS i(id) JOIN {schema}.{table} e ON e.originator_id = i.id "
            "WHERE (SELECT max(l.originator_version) FROM {schema}.{table} l WHERE "
            "l.originator_id = i.id) <= %s ORDER BY e.originator_id, e.originator_version").format(
            schema=schema, table=Identifier(self.events_table_name))
        reads = stream_reads.statements(datastore.schema, self.events_table_name,
                                        snapshots_table)
        self._select_tail, self._select_tails, self._warm = reads
        self._select_sealed = SQL(
            "SELECT field, ciphertext FROM {schema}.siyu_vault_value "
            "WHERE subject_id = %s").format(**q)

    # -- bounded retries: answer fast while the database is away ---------------
    select_events = stale_retry(PostgresApplicationRecorder.select_events)
    select_notifications = stale_retry(PostgresApplicationRecorder.select_notifications)
    max_notification_id = stale_retry(PostgresApplicationRecorder.max_notification_id)

    def create_table(self) -> None:
        """The library's DDL, only when the store's shape changed (adapters.event_store_schema)."""
        create_once(self.datastore, self.sql_create_statements, self.events_table_name,
                    super().create_table)

    # -- writes: side rows, then the events, in one transaction -------------------
    def _insert_positioned(self, stored_events: Sequence[StoredEvent], **kwargs: Any
                        ) -> Sequence[int] | None:
        """``BEGIN``, side rows, the table lock, the NOTIFY and the positions' reservation
        sent in one pipeline, then the events at their positions, their chain links and
        ``COMMIT`` (:mod:`adapters.event_positions`); returns the events' positions, in
        order. Two waits (the positions, the commit); the client builds the events' columns
        while the server writes the side rows and takes the lock, and hashes the links while
        it inserts the events. Any failure rolls back what the connection still holds.

        A conflicting side row (an identity, an event id, a tag claim written concurrently)
        or stream version (stored concurrently) is raised when its result is read (at the
        positions or at the commit) as the unique violation it is, and rolls the whole
        transaction back (``IntegrityError``: the unit of work decides again).
        Nothing in the write is a prepared statement: when a unique violation aborts a
        pipeline, a statement prepared in it could stay in psycopg's cache while the
        server never had it, and the pooled connection then answered "prepared statement
        … does not exist" to later writes (planning these statements costs microseconds).
        """
        writes: SideWrites | None = kwargs.get("side_writes")
        if not stored_events and not writes:
            return None
        positions: list[int] | None = None
        with self.datastore.get_connection() as conn, \
                binary_arrays.ready(conn).cursor() as curs, \
                conn.cursor(row_factory=tuple_row) as reserve:
            try:  # BEGIN and COMMIT ride in the pipeline: two round trips fewer
                with conn.pipeline():
                    curs.execute(BEGIN, prepare=False)
                    if writes:
                        self._write_side(curs, writes)
                    if stored_events:
                        for lock_statement in self.lock_table_statements:
                            curs.execute(lock_statement, prepare=False)
                        curs.execute(self._notify, prepare=False)
                        reserve.execute(self._reserve, (len(stored_events),), prepare=False)
                        columns = event_positions.event_columns(stored_events)
                        reserved = event_positions.fetch_reserved(reserve)  # waits
                        positions = event_positions.reserved_positions(reserved,
                                                                       len(stored_events))
                        at = int8_array(positions)
                        curs.execute(self._insert_events_at, (at, *columns), prepare=False)
                        links = event_positions.chain_links(reserved, positions, stored_events)
                        curs.execute(self._insert_links, (at, *links), prepare=False)
                    curs.execute(COMMIT, prepare=False)
            except BaseException:
                if not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE:
                    with contextlib.suppress(psycopg.Error):
                        conn.rollback()
                raise
        return positions

    insert_events = stale_retry(_insert_positioned)

    def _write_side(self, curs: Cursor[DictRow], writes: SideWrites) -> None:
        def run(statement: Any, params: Sequence[Any]) -> None:
            curs.execute(statement, params, prepare=False)  # never prepared: see above

        if writes.identities:
            blinds, namespaces, owners = zip(*writes.identities, strict=True)
            run(self._insert_identities, (text_array(blinds), text_array(namespaces),
                                          uuid_array(owners)))
        if writes.event_keys:
            keys, customers = zip(*writes.event_keys, strict=True)
            run(self._insert_event_keys, (text_array(keys), uuid_array(customers)))
        if writes.keys:
            run(self._insert_keys, (uuid_array([k.subject_id for k in writes.keys]),
                                    bytea_array([k.wrapped for k in writes.keys])))
        if writes.sealed:
            latest = {(s.subject_id, s.field): s.ciphertext for s in writes.sealed}
            subjects, fields = zip(*latest, strict=True)
            run(self._upsert_sealed, (uuid_array(subjects), text_array(fields),
                                      bytea_array(list(latest.values()))))
        if writes.reowned:
            blinds, owners = zip(*writes.reowned, strict=True)
            run(self._reown, (list(blinds), list(owners)))
        if writes.unmerges:
            run(self._delete_merges, (list(writes.unmerges),))
        if writes.merges:
            absorbed, survivors = zip(*writes.merges, strict=True)
            run(self._insert_merges, (list(absorbed), list(survivors)))
        if writes.tag_releases:
            tags, groups = zip(*writes.tag_releases, strict=True)
            run(self._delete_claims, (list(tags), list(groups)))
        if writes.archived_groups:
            run(self._archive_claims, (list(writes.archived_groups),))
        if writes.tag_claims:  # a tag claimed by another live group: IntegrityError
            claims = writes.tag_claims
            run(self._insert_claims, ([c.tag for c in claims], [c.group_id for c in claims],
                                      [c.exclusive for c in claims]))
        for statement in self._erase if writes.erased else ():  # crypto-shredding: keys go
            run(statement, (list(writes.erased),))

    # -- look-ups ---------------------------------------------------------------
    def _select_map(self, statement: Any, values: Sequence[Any]) -> dict[Any, Any]:
        if not values:
            return {}
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, (list(values),), prepare=True)
            return {row[0]: row[1] for row in (tuple(r.values()) for r in curs.fetchall())}

    def batch_lookup(self, event_keys: Sequence[str], blind_indexes: Sequence[str],
                     tails_of: Sequence[str] = ()) -> BatchLookup:
        """The reads pipelined on one connection. Not prepared: a failed statement in a
        pipeline could leave psycopg believing a statement prepared that the server lacks."""
        tails: dict[UUID, list[StoredEvent]] = {}
        with self.datastore.get_connection() as conn, binary_arrays.ready(conn).pipeline(), \
                conn.cursor(row_factory=tuple_row) as keys, \
                conn.cursor(row_factory=tuple_row) as owners, \
                conn.cursor(row_factory=tuple_row) as tail:
            keys.execute(self._lookup_event_keys, (text_array(event_keys),), prepare=False)
            owners.execute(self._select_owner_versions, (text_array(blind_indexes),),
                           prepare=False)
            if tails_of:
                tail.execute(self._select_tails, (text_array(tails_of),), prepare=False,
                             binary=True)  # states as bytes, not hex to decode
            found: dict[str, UUID] = dict(keys.fetchall())  # (event key, customer) rows
            rows = owners.fetchall()  # (blind index, customer, version) rows
            for stream, version, topic, state in tail.fetchall() if tails_of else ():
                tails.setdefault(stream, []).append(stored_event(stream, version, topic,
                                                                 bytes(state)))
        return BatchLookup(found, {blind: owner for blind, owner, _ in rows},
                           {owner: version for _, owner, version in rows
                            if version is not None}, tails)

    def owners_of(self, blind_indexes: Sequence[str]) -> Mapping[str, UUID]:
        return self._select_map(self._select_owners, blind_indexes)

    def known_event_keys(self, keys: Sequence[str]) -> Mapping[str, UUID]:
        return self._select_map(self._select_event_keys, keys)

    def legacy_event_keys(self, event_ids: Sequence[str]) -> Mapping[str, tuple[UUID, str | None]]:
        # Sources only for ids stored bare: planned for a whole batch, that query set off JIT.
        if not (found := self._select_map(self._select_event_keys, event_ids)):
            return {}
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_legacy_event_keys, (list(found),), prepare=True)
            return {r["event_key"]: (r["customer_id"], r["source"]) for r in curs.fetchall()}

    def wrapped_keys(self, subject_ids: Sequence[UUID]) -> Mapping[UUID, bytes]:
        return {k: bytes(v) for k, v in self._select_map(self._select_keys, subject_ids).items()}

    def stream_versions(self, stream_ids: Sequence[UUID]) -> Mapping[UUID, int]:
        return self._select_map(self._select_versions, stream_ids)

    def sealed_values(self, subject_id: UUID) -> Mapping[str, bytes]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_sealed, (subject_id,), prepare=True)
            return {row["field"]: bytes(row["ciphertext"]) for row in curs.fetchall()}

    def sealed_fields(self, fields: Sequence[tuple[UUID, str]]
                      ) -> Mapping[tuple[UUID, str], bytes]:
        if not fields:
            return {}
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_fields, ([s for s, _ in fields], [f for _, f in fields]),
                         prepare=True)
            return {(r["subject_id"], r["field"]): bytes(r["ciphertext"])
                    for r in curs.fetchall()}

    def short_streams(self, stream_ids: Sequence[UUID], longest: int
                      ) -> Mapping[UUID, Sequence[StoredEvent]]:
        if not stream_ids:
            return {}
        streams: dict[UUID, list[StoredEvent]] = {}
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_short_streams, (list(stream_ids), longest), prepare=True)
            for r in curs.fetchall():
                streams.setdefault(r["originator_id"], []).append(StoredEvent(
                    originator_id=r["originator_id"], originator_version=r["originator_version"],
                    topic=r["topic"], state=bytes(r["state"])))
        return streams

    def warm_connections(self) -> int:
        """Borrow every connection the pool holds, at once, and read each table a write
        touches on it; returns how many. A fresh backend loads its catalogue caches on
        first use and the pool lends connections in turn, so a fresh process's first
        command (a look-up, a load, an insert) paid that on up to four new backends.

        Every connection, not the pool's minimum: the pool opens its minimum in the
        background, and a caller that waited for one meanwhile (the store's set-up) made
        it open one more — six, of which five were warmed, and the sixth, queued first,
        took the first command's look-up (the cold append's backend spent 4-7 ms of CPU
        on it, a used one ~1.4). The minimum is awaited first; then as many are borrowed
        as the pool manages, those still being opened included, until it manages no more
        than were warmed: a borrower that waits makes the pool open one more, which would
        join it cold (about one start in eight did)."""
        pool = self.datastore.pool
        pool.wait(pool.timeout)
        warmed = 0
        while (managed := max(pool.min_size, pool.get_stats()["pool_size"])) > warmed:
            with contextlib.ExitStack() as borrowed:
                for conn in [borrowed.enter_context(self.datastore.get_connection())
                             for _ in range(managed)]:
                    self._warm_one(conn)
            warmed = managed
        return warmed

    def _warm_one(self, conn: Connection[Any]) -> None:
        conn.execute(self._warm, {"id": UUID(int=0)})
        # The look-up's stream read, and the write's inserts with nothing to insert
        # (they open the tables and indexes they write): a first batch makes them.
        binary_arrays.ready(conn).execute(self._select_tails, (text_array([""]),))
        nothing = event_positions.positioned((0, None, None), [])
        conn.execute(self._insert_events_at, nothing[2])
        conn.execute(self._insert_links, nothing[1])

    def stream_tail(self, stream_id: UUID) -> Sequence[StoredEvent]:
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(self._select_tail, {"id": stream_id}, prepare=True)
            return [stored_event(stream, version, topic, bytes(state))
                    for _, stream, version, topic, state in curs.fetchall()]

    def _select_claims(self, statement: Any, values: Sequence[Any]) -> list[TagClaim]:
        if not values:
            return []
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, (list(values),))
            return [TagClaim(r["tag"], r["group_id"], r["exclusive"], r["live"])
                    for r in curs.fetchall()]

    def tag_claims(self, tags: Sequence[str]) -> Sequence[TagClaim]:
        return self._select_claims(self._select_tag_claims, tags)

    def group_claims(self, group_ids: Sequence[UUID]) -> Sequence[TagClaim]:
        return self._select_claims(self._select_group_claims, group_ids)
