"""The statements that read a stream's tail: its latest snapshot and the events after it.

One statement reads both (one round trip, one consistent read), so a cold stream costs
what a short one does; another does the same for the owners of many blind indexes at
once (ingestion's look-up); a third reads every table a write touches, to warm a fresh
connection (:meth:`adapters.recorders.SiyuPostgresRecorder.warm_connections`).
"""

from __future__ import annotations

from psycopg.sql import SQL, Composed, Identifier

from adapters import event_chain

#: The events after a stream's latest snapshot are read between that snapshot's version
#: and the largest version (``bigint``). PostgreSQL plans the statement before it knows
#: the snapshot's version: with the lower bound alone it assumed a third of the stream's
#: rows follow it, and for a customer holding most of the table (10,000 events in the
#: ``append_cost`` bench) it scanned the whole table — 2.0 ms, growing with the history —
#: instead of the index range after the snapshot (0.18 ms). With both bounds it takes
#: its estimate for a range (0.5 %) and the primary key's range: the read stays the size
#: of the tail, whatever the stream's share of the table.
LAST_VERSION = SQL("9223372036854775807")


def statements(schema_name: str, events_table: str, snapshots_table: str
               ) -> tuple[Composed, Composed, Composed]:
    """The tail of one stream (``%(id)s``), the tails of the owners of blind indexes
    (``%b`` text array), and the warming read (``%(id)s``)."""
    schema, table = Identifier(schema_name), Identifier(events_table)
    snapshots = Identifier(snapshots_table)
    tail = SQL(
        "WITH s AS (SELECT originator_id, originator_version, topic, state "
        "FROM {schema}.{snapshots} WHERE originator_id = %(id)s "
        "ORDER BY originator_version DESC LIMIT 1) "
        "SELECT 0 AS part, * FROM s UNION ALL "
        "SELECT 1, e.originator_id, e.originator_version, e.topic, e.state "
        "FROM {schema}.{table} e WHERE e.originator_id = %(id)s "
        "AND e.originator_version <= {last} AND e.originator_version > "
        "coalesce((SELECT originator_version FROM s), 0) "
        "ORDER BY part, originator_version").format(
        schema=schema, snapshots=snapshots, table=table, last=LAST_VERSION)
    tails = SQL(
        "SELECT i.customer_id, t.originator_version, t.topic, t.state "
        "FROM (SELECT DISTINCT customer_id FROM {schema}.siyu_identity "
        "WHERE blind_index = ANY(%b::text[])) AS i CROSS JOIN LATERAL ("
        "(SELECT 0 AS part, originator_version, topic, state FROM {schema}.{snapshots} "
        "WHERE originator_id = i.customer_id ORDER BY originator_version DESC LIMIT 1) "
        "UNION ALL SELECT 1, e.originator_version, e.topic, e.state "
        "FROM {schema}.{table} e WHERE e.originator_id = i.customer_id "
        "AND e.originator_version <= {last} "
        "AND e.originator_version > coalesce((SELECT max(originator_version) FROM "
        "{schema}.{snapshots} WHERE originator_id = i.customer_id), 0)) AS t "
        "ORDER BY i.customer_id, t.part, t.originator_version").format(
        schema=schema, snapshots=snapshots, table=table, last=LAST_VERSION)
    # Plans reading every table (and index) a write touches.
    warm = SQL(
        "SELECT (SELECT max(originator_version) FROM {schema}.{table} "
        "WHERE originator_id = %(id)s), (SELECT max(originator_version) FROM "
        "{schema}.{snapshots} WHERE originator_id = %(id)s), "
        "(SELECT count(*) FROM {schema}.siyu_identity WHERE blind_index = '' "
        "OR customer_id = %(id)s), (SELECT count(*) FROM {schema}.siyu_event_key "
        "WHERE event_key = ''), (SELECT count(*) FROM {schema}.siyu_vault_key WHERE "
        "subject_id = %(id)s), (SELECT count(*) FROM {schema}.siyu_vault_value WHERE "
        "subject_id = %(id)s), (SELECT max(notification_id) FROM {schema}.{chain})").format(
        schema=schema, table=table, snapshots=snapshots,
        chain=Identifier(event_chain.CHAIN_TABLE))
    return tail, tails, warm
