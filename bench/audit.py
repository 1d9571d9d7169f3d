"""Benchmarks of audit: the hash chain's cost on ingestion, ``siyu verify``'s chain rate,
and a 10,000-event customer's state at an instant (``customer(id, asOf:)``)."""

from __future__ import annotations

import json
import random
import socket
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.sql import SQL, Composed, Identifier

from adapters.recorders import SiyuPostgresRecorder
from application.app import Siyu
from bench import workload
from bench.common import (
    SECRET,
    Measure,
    dumps,
    free_port,
    fresh_database,
    http_request,
    load_distinct,
    measure,
    median,
    percentile,
    server,
)
from domain.ingestion import EventItem, OrderItem
from siyu.bootstrap import build_application, postgres_env
from siyu.processes import catch_up
from siyu.verify import check_chain

BATCH = 1000


class UnchainedRecorder(SiyuPostgresRecorder):
    """The recorder as it was before the chain: the library's insert and id fetch."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._insert_binary = _plain_insert(self)

    def _fetch_ids_after_insert_events(self, curs: Any, stored_events: Sequence[Any],
                                       **kwargs: Any) -> Sequence[int] | None:
        return [row[0] for row in curs.fetchall()]  # tuple rows (see the recorder)


def _plain_insert(recorder: SiyuPostgresRecorder) -> Composed:
    return SQL(
        "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
        "SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::text[], %b::bytea[]) "
        "RETURNING notification_id").format(schema=Identifier(recorder.datastore.schema),
                                            table=Identifier(recorder.events_table_name))


def _app(url: str, chained: bool) -> Siyu:
    if chained:
        return build_application(url, SECRET)
    from adapters.vault import AesGcmVault, derive_key

    env = {**postgres_env(url), "APPLICATION_RECORDER_TOPIC": "bench.audit:UnchainedRecorder"}
    return Siyu(env, vault=AesGcmVault(SECRET), blind_key=derive_key(SECRET, "blind-index"))


def _ingest_rate(chained: bool, total: int) -> float:
    url = fresh_database()
    app = _app(url, chained)
    try:
        events = workload.items(total, customers=total // 10)
        app.ingestion.record_batch(workload.items(BATCH, customers=100, seed=99, prefix="warm"),
                                   "service:bench")
        start = time.perf_counter()
        for i in range(0, total, BATCH):
            app.ingestion.record_batch(events[i:i + BATCH], "service:bench")
        return total / (time.perf_counter() - start)
    finally:
        app.close()


def hash_chain_overhead(quick: bool) -> list[Measure]:
    """Ingestion rate with the chain ÷ without it, interleaved rounds in one run (each on a
    fresh database); ratio ≥ 0.85 is the target."""
    total = 20_000 if quick else 100_000
    rounds = 3 if quick else 5
    rates: dict[bool, list[float]] = {True: [], False: []}
    for r in range(rounds):
        for chained in ((True, False) if r % 2 else (False, True)):
            rates[chained].append(_ingest_rate(chained, total))
    chained_rate, plain_rate = median(rates[True]), median(rates[False])
    return [measure("hash_chain_overhead", chained_rate / plain_rate, "ratio", 1.0),
            measure("ingest_app_chained", chained_rate, "events/s", plain_rate)]


def verify_rate(quick: bool) -> list[Measure]:
    """Events/s at which ``siyu verify`` checks the chain, against a plain read of the same
    rows (the floor any check pays)."""
    total = 100_000 if quick else 1_000_000
    url = fresh_database()
    app = build_application(url, SECRET)
    try:
        for i in range(0, total, 5 * BATCH):
            app.ingestion.record_batch(workload.items(5 * BATCH, customers=total // 10,
                                                      seed=i), "service:bench")
        seconds = []
        for _ in range(3):
            report, spent = check_chain(app)
            assert not report.broken, report.broken[:3]
            seconds.append(spent)
        checked = report.checked
        with psycopg.connect(url) as conn:
            start = time.perf_counter()
            with conn.cursor(name="all") as cur:
                cur.execute("SELECT notification_id, originator_id, originator_version, topic, "
                            "state FROM siyu_events ORDER BY notification_id")
                while cur.fetchmany(20_000):
                    pass
            read = checked / (time.perf_counter() - start)
    finally:
        app.close()
    return [measure("verify_rate", checked / median(seconds), "events/s", read)]


AS_OF_QUERY = ("query($id: ID!, $at: DateTime) { customer(id: $id, asOf: $at) { id asOf "
               "lifecycle tags consents { purpose wordingVersion } owner orderCount gmvFen "
               "eventCount doNotDisturb segments { name ruleVersion } } }")
LIVE_QUERY = AS_OF_QUERY.replace("customer(id: $id, asOf: $at)", "customer(id: $id)").replace(
    "query($id: ID!, $at: DateTime)", "query($id: ID!)")
START = datetime(2025, 1, 1, tzinfo=UTC)


def _long_customer(events: int, backfill: int) -> list[EventItem]:
    """One customer's year: views, tags, consent, DND, owners, orders, in business order
    as they happened; then ``backfill`` older events imported afterwards."""
    rng = random.Random(16)
    who = ("wx_unionid", "long-customer")
    step = timedelta(days=365) / events
    out: list[EventItem] = []
    for n in range(events):
        at = START + step * n
        if n >= events - backfill:  # an import of old history, recorded last
            at = START + timedelta(days=rng.uniform(0, 180))
        roll, eid = rng.random(), f"long-{n}"
        if roll < 0.6:
            out.append(EventItem(eid, "CONTENT_VIEWED", who, at, channel="h5",
                                 content_id=f"a-{n % 40}"))
        elif roll < 0.7:
            out.append(EventItem(eid, "TAGGED" if n % 2 else "UNTAGGED", who, at,
                                 tag=f"t{n % 6}"))
        elif roll < 0.72:
            out.append(EventItem(eid, "CONSENT_GIVEN", who, at, purpose="marketing",
                                 wording_version=f"v{n % 3}"))
        elif roll < 0.73:
            out.append(EventItem(eid, "DND_SET" if n % 2 else "DND_CLEARED", who, at))
        elif roll < 0.75:
            out.append(EventItem(eid, "FRIEND_ADDED", who, at, channel="qr",
                                 staff_id=f"wecom_user:staff-{n % 4}", state="st"))
        else:
            out.append(EventItem(eid, "ORDER_PAID", who, at, order_id=f"o-{n}",
                                 amount_fen=rng.randrange(100, 50_000),
                                 items=[OrderItem("sku-1", 1, 100)]))
    return out


def http_get_body(port: int, request: bytes) -> bytes:
    """The body of one answer to a raw request (to check it is not a refusal)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length"))
        while len(body) < length:
            body += conn.recv(65536)
        return body[:length]


def profile_as_of_latency(quick: bool) -> list[Measure]:
    """p99 ms of ``customer(id, asOf:)`` for a customer with 10,000 events (2% of them a
    backfill recorded last), at random instants of its year, one client; against the
    live ``customer(id:)`` of the same customer."""
    url = fresh_database()
    app = build_application(url, SECRET)
    try:
        items = _long_customer(10_000, backfill=200)
        for i in range(0, len(items), BATCH):
            result = app.ingestion.record_batch(items[i:i + BATCH], "service:bench")
            assert not result.count("rejected"), result.outcomes[:3]
        customer_id = str(result.outcomes[0].customer_id)
        # a reader: service tokens only ingest (docs/access.md); roles come from the directory
        manager = app.staff.hire("private_domain_manager", "middle_office", "bench",
                                 "system:bench", START)
        catch_up(app)
    finally:
        app.close()
    from adapters.tokens import ensure_token_table, issue_token

    ensure_token_table(url)
    token = issue_token(url, "staff", str(manager), None, "bench")
    rng = random.Random(7)
    count = 300 if quick else 1000
    instants = [START + timedelta(days=rng.uniform(0, 400)) for _ in range(count)]
    requests = {
        "as_of": [http_request("POST", "/graphql", dumps({"query": AS_OF_QUERY, "variables": {
            "id": customer_id, "at": at.isoformat()}}), token) for at in instants],
        "live": [http_request("POST", "/graphql", dumps({"query": LIVE_QUERY, "variables": {
            "id": customer_id}}), token)] * count,
    }
    port = free_port()
    p99: dict[str, list[float]] = {"as_of": [], "live": []}
    with server(url, port):
        for batch in requests.values():
            answer = json.loads(http_get_body(port, batch[0]))
            assert "errors" not in answer, answer  # a refusal is fast: never measure one
            load_distinct(port, batch[:50], 1)
        for _ in range(3 if quick else 5):
            for path, batch in requests.items():
                p99[path].append(percentile(load_distinct(port, batch, 1)[1], 0.99) * 1000)
    return [measure("profile_as_of_p99", median(p99["as_of"]), "ms", median(p99["live"]))]


BENCHMARKS: dict[str, Callable[[bool], list[Measure]]] = {
    "hash_chain_overhead": hash_chain_overhead,
    "verify_rate": verify_rate,
    "profile_as_of_p99": profile_as_of_latency,
}
