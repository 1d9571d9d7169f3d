"""A hash chain over the event log: proof that no stored event was edited or deleted.

Each stored event has one link in ``siyu_event_chain``: the SHA-256 of the previous
link's hash, the previous link's position, and the stored record exactly as stored —
its position (notification id), stream id, version, topic and state bytes. Nothing
decrypted is hashed: erasing a customer's vault key (crypto-shredding) leaves every
link valid.

Links are written by the recorder in the transaction that inserts the events, under
the table lock that keeps notification ids in commit order (so the chain follows the
log order, without database functions). :func:`backfill` chains a log that predates
the chain, once, serialised by the same lock; it only ever appends after the head, so
it can never paper over a broken link. :func:`verify` walks the log and the chain
together and names every broken link; :func:`head` is the anchor an auditor keeps
outside the database.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier

CHAIN_TABLE = "siyu_event_chain"
GENESIS = bytes(32)
#: Rows per page when the chain is backfilled or verified.
PAGE = 20_000

_LENGTHS = struct.Struct(">qqqI")


def chain_ddl(schema: str) -> Composed:
    return SQL(
        "CREATE TABLE IF NOT EXISTS {schema}.{chain} ("
        "notification_id bigint PRIMARY KEY, "
        "previous_id bigint NOT NULL, "
        "hash bytea NOT NULL)").format(schema=Identifier(schema), chain=Identifier(CHAIN_TABLE))


def link_hash(previous_hash: bytes, previous_id: int, notification_id: int,
              originator_id: UUID, originator_version: int, topic: str, state: bytes) -> bytes:
    """The link of one stored record: every field length-prefixed, nothing ambiguous."""
    topic_bytes = topic.encode()
    return hashlib.sha256(b"".join((
        previous_hash,
        _LENGTHS.pack(previous_id, notification_id, originator_version, len(topic_bytes)),
        originator_id.bytes, topic_bytes, len(state).to_bytes(8, "big"), state))).digest()


@dataclass(frozen=True, slots=True)
class Record:
    notification_id: int
    originator_id: UUID
    originator_version: int
    topic: str
    state: bytes


def links(records: Sequence[Record], previous_id: int, previous_hash: bytes
          ) -> tuple[list[int], list[int], list[bytes]]:
    """Links of ``records`` (in position order) after the given head: ids, previous ids,
    hashes, as column arrays for one insert."""
    ids: list[int] = []
    previous_ids: list[int] = []
    hashes: list[bytes] = []
    for r in records:
        previous_hash = link_hash(previous_hash, previous_id, r.notification_id,
                                  r.originator_id, r.originator_version, r.topic, r.state)
        ids.append(r.notification_id)
        previous_ids.append(previous_id)
        hashes.append(previous_hash)
        previous_id = r.notification_id
    return ids, previous_ids, hashes


def insert_links_statement(schema: str) -> Composed:
    return SQL("INSERT INTO {schema}.{chain} (notification_id, previous_id, hash) "
               "SELECT * FROM unnest(%b::bigint[], %b::bigint[], %b::bytea[])").format(
        schema=Identifier(schema), chain=Identifier(CHAIN_TABLE))


def head_subquery(schema: str) -> Composed:
    return SQL("(SELECT notification_id, hash FROM {schema}.{chain} "
               "ORDER BY notification_id DESC LIMIT 1)").format(
        schema=Identifier(schema), chain=Identifier(CHAIN_TABLE))


# -- backfill ----------------------------------------------------------------------------
def backfill(conn: Connection[Any], schema: str, events_table: str) -> int:
    """Chain every stored event after the chain's head (all of them on a log that predates
    the chain); returns how many links were added. Idempotent, and serialised with every
    writer by the events table's lock. Only ever appends: a broken link stays broken."""
    q = {"schema": Identifier(schema), "events": Identifier(events_table),
         "chain": Identifier(CHAIN_TABLE)}
    added = 0
    conn.execute(chain_ddl(schema))
    if _chained(conn, q):
        return 0  # the usual start: nothing to lock for
    with conn.transaction():
        conn.execute(SQL("LOCK TABLE {schema}.{events} IN EXCLUSIVE MODE").format(**q))
        head = conn.execute(SQL("SELECT notification_id, hash FROM {schema}.{chain} "
                                "ORDER BY notification_id DESC LIMIT 1").format(**q)).fetchone()
        previous_id, previous_hash = (0, GENESIS) if head is None else (
            _value(head, 0, "notification_id"), bytes(_value(head, 1, "hash")))
        insert = insert_links_statement(schema)
        while True:
            rows = conn.execute(SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state "
                "FROM {schema}.{events} WHERE notification_id > %s "
                "ORDER BY notification_id LIMIT %s").format(**q),
                (previous_id, PAGE)).fetchall()
            if not rows:
                return added
            records = [_record(r) for r in rows]
            ids, previous_ids, hashes = links(records, previous_id, previous_hash)
            conn.execute(insert, (ids, previous_ids, hashes))
            previous_id, previous_hash = ids[-1], hashes[-1]
            added += len(ids)


def _chained(conn: Connection[Any], q: dict[str, Identifier]) -> bool:
    """Whether every committed event has its link already (events and links are committed
    together, so a complete chain stays complete)."""
    row = conn.execute(SQL(
        "SELECT (SELECT max(notification_id) FROM {schema}.{events}) <= "
        "coalesce((SELECT max(notification_id) FROM {schema}.{chain}), 0) AS done").format(
        **q)).fetchone()
    return row is None or _value(row, 0, "done") is not False


def _value(row: Any, index: int, name: str) -> Any:
    return row[name] if isinstance(row, dict) else row[index]


def _record(row: Any) -> Record:
    return Record(_value(row, 0, "notification_id"), _value(row, 1, "originator_id"),
                  _value(row, 2, "originator_version"), _value(row, 3, "topic"),
                  bytes(_value(row, 4, "state")))


# -- anchor ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Anchor:
    """The chain's head: hold it outside the database; a later verify proves the log up to
    ``position`` is the one it was then."""

    position: int
    hash: str  # hex
    links: int
    taken_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {"position": self.position, "hash": self.hash, "links": self.links,
                "taken_at": self.taken_at.isoformat()}


def head(conn: Connection[Any], schema: str) -> Anchor:
    q = {"schema": Identifier(schema), "chain": Identifier(CHAIN_TABLE)}
    row = conn.execute(SQL(
        "SELECT h.notification_id, h.hash, (SELECT count(*) FROM {schema}.{chain}), now() "
        "FROM (SELECT 1) AS one LEFT JOIN {head} AS h ON true").format(
        head=head_subquery(schema), **q)).fetchone()
    assert row is not None
    position, digest, count, taken_at = (_value(row, i, k) for i, k in enumerate(
        ("notification_id", "hash", "count", "now")))
    return Anchor(position or 0, bytes(digest or GENESIS).hex(), int(count), taken_at)


# -- verification ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BrokenLink:
    """``kind``: ``altered`` (the stored record is not the one chained), ``deleted`` (a
    chained event is gone), ``unchained`` (an event with no link: inserted around the
    recorder), ``relinked`` (a link's own fields were edited), ``anchor`` (the chain
    differs from an anchor taken earlier)."""

    position: int
    kind: str
    detail: str


@dataclass(frozen=True, slots=True)
class ChainReport:
    checked: int
    head: int
    broken: tuple[BrokenLink, ...]

    @property
    def first_broken(self) -> BrokenLink | None:
        return self.broken[0] if self.broken else None


def _walk(conn: Connection[Any], schema: str, events_table: str) -> Iterator[tuple[Any, ...]]:
    """Events and links side by side in position order (either may be missing), read in
    ranges of positions (ids have gaps: a rolled-back insert burns its ids)."""
    q = {"schema": Identifier(schema), "events": Identifier(events_table),
         "chain": Identifier(CHAIN_TABLE)}
    last = conn.execute(SQL(
        "SELECT greatest((SELECT max(notification_id) FROM {schema}.{events}), "
        "(SELECT max(notification_id) FROM {schema}.{chain}))").format(**q)).fetchone()
    end = (_value(last, 0, "greatest") if last is not None else None) or 0
    statement = SQL(
        "SELECT coalesce(e.notification_id, c.notification_id) AS position, "
        "e.originator_id, e.originator_version, e.topic, e.state, c.previous_id, c.hash "
        "FROM (SELECT * FROM {schema}.{events} "
        "      WHERE notification_id > %(after)s AND notification_id <= %(upto)s) AS e "
        "FULL JOIN (SELECT * FROM {schema}.{chain} "
        "      WHERE notification_id > %(after)s AND notification_id <= %(upto)s) AS c "
        "USING (notification_id) ORDER BY 1").format(**q)
    after = 0
    with conn.cursor(row_factory=tuple_row) as curs:
        while after < end:
            upto = after + PAGE
            yield from curs.execute(statement, {"after": after, "upto": upto},
                                    prepare=True).fetchall()
            after = upto


def verify(conn: Connection[Any], schema: str, events_table: str,
           anchors: Sequence[tuple[int, str]] = ()) -> ChainReport:
    """Check every link against the stored record and the link before it; each broken
    link is reported once (an edit breaks its own link only, since each link is checked
    against the *stored* previous hash). ``anchors``: (position, hex hash) pairs taken
    earlier, which the chain must still contain."""
    broken: list[BrokenLink] = []
    expected = {position: digest for position, digest in anchors}
    previous_id = 0
    checked = 0
    known: bytes | None = GENESIS  # None: the link before was deleted, its hash is unknown
    for position, originator_id, version, topic, state, linked_to, digest in _walk(
            conn, schema, events_table):
        checked += 1
        if digest is None:
            broken.append(BrokenLink(position, "unchained", "an event with no link (its "
                                     "link was deleted, or it was written around the recorder)"))
            previous_id, known = position, None
            continue
        digest = bytes(digest)
        if linked_to != previous_id:
            if linked_to > previous_id:
                broken.append(BrokenLink(linked_to, "deleted", f"the event at {linked_to} "
                                         f"(and any after {previous_id}) and its link are "
                                         "missing"))
            else:
                broken.append(BrokenLink(position, "relinked", f"the link names {linked_to} "
                                         f"before it, the chain has {previous_id}"))
        elif originator_id is None:
            broken.append(BrokenLink(position, "deleted", "a chained event is missing"))
        elif known is not None and digest != link_hash(
                known, previous_id, position, originator_id, version, topic, bytes(state)):
            broken.append(BrokenLink(position, "altered",
                                     "the stored record differs from the one chained"))
        wanted = expected.pop(position, None)
        if wanted is not None and wanted != digest.hex():
            broken.append(BrokenLink(position, "anchor", "the chain differs from the anchor"))
        previous_id, known = position, digest
    broken.extend(BrokenLink(p, "anchor", "the anchored position is no longer in the chain")
                  for p in sorted(expected))
    broken.sort(key=lambda b: b.position)
    return ChainReport(checked, previous_id, tuple(broken))
