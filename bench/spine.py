"""Benchmarks of the spine: ingestion (app and GraphQL), append cost, profile query
(throughput and latency)."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import httpx

from bench import tracking, workload
from bench.common import (
    SECRET,
    Measure,
    copy_baseline,
    dumps,
    free_port,
    fresh_database,
    http_request,
    load,
    load_distinct,
    measure,
    median,
    percentile,
    server,
    serving_processes,
)
from domain.ingestion import EventItem
from projections.postgres_views import CustomerProfileView, StaffDirectoryView
from projections.runner import BatchRunner, Tracker
from siyu.bootstrap import build_application
from siyu.garbage import settle_garbage_collector

BATCH = 1000


def _service_token(url: str) -> str:
    from adapters.tokens import ensure_token_table, issue_token

    ensure_token_table(url)
    return issue_token(url, "service", "bench", None, "bench")


@contextmanager
def _settled_garbage_collector() -> Iterator[None]:
    """The collector as the API process settles it once started (siyu.api_process), for
    one benchmark: the benchmarks after it run as before."""
    threshold = gc.get_threshold()
    settle_garbage_collector()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def ingest_app(quick: bool) -> list[Measure]:
    url = fresh_database()
    app = build_application(url, SECRET)
    total = 20_000 if quick else 100_000
    events = workload.items(total, customers=total // 10)
    batches = [events[i:i + BATCH] for i in range(0, total, BATCH)]
    app.ingestion.record_batch(workload.items(BATCH, customers=100, seed=99, prefix="warm"), "bench")
    with _settled_garbage_collector():
        start = time.perf_counter()
        for batch in batches:
            app.ingestion.record_batch(batch, "service:bench")
        rate = total / (time.perf_counter() - start)
    app.close()
    return [measure("ingest_app", rate, "events/s", copy_baseline(url))]


def ingest_graphql(quick: bool) -> list[Measure]:
    url = fresh_database()
    total = 20_000 if quick else 60_000
    events = [workload.as_graphql(e) for e in workload.items(total, customers=total // 10)]
    token = _service_token(url)
    port = free_port()
    query = ("mutation($e: [CustomerEventInput!]!) { recordCustomerEvents(input: {events: $e})"
             " { accepted rejected } }")
    with server(url, port), httpx.Client(base_url=f"http://127.0.0.1:{port}",
                                         headers={"Authorization": f"Bearer {token}"},
                                         timeout=120) as client:
        client.post("/graphql", json={"query": query, "variables": {"e": events[:10]}})
        start = time.perf_counter()
        for i in range(0, total, BATCH):
            body = dumps({"query": query, "variables": {"e": events[i:i + BATCH]}})
            response = client.post("/graphql", content=body,
                                   headers={"Content-Type": "application/json"})
            data = response.json()["data"]["recordCustomerEvents"]
            assert data["rejected"] == 0, data
        rate = total / (time.perf_counter() - start)
    return [measure("ingest_graphql", rate, "events/s", copy_baseline(url))]


def _append_seconds(record: Callable[[int], None], first: int, count: int) -> float:
    times = []
    for n in range(first, first + count):
        start = time.perf_counter()
        record(n)
        times.append(time.perf_counter() - start)
    return median(times)


def append_cost(quick: bool) -> list[Measure]:
    """One event per transaction on one customer: at its 1st events vs after 10,000."""
    url = fresh_database()
    app = build_application(url, SECRET)
    who = ("wx_unionid", "hot-customer")
    now = datetime.now(UTC)

    def record(n: int) -> None:
        result = app.ingestion.record_batch([EventItem(f"a{n}", "CONTENT_VIEWED", who, now,
                                             content_id="c")], "service:bench")
        assert result.outcomes[0].status == "accepted"

    probes = 30 if quick else 100
    early = _append_seconds(record, 0, probes)
    filler = 10_000 - probes
    for i in range(0, filler, BATCH):
        app.ingestion.record_batch([EventItem(f"f{i + j}", "CONTENT_VIEWED", who, now, content_id="c")
                          for j in range(min(BATCH, filler - i))], "service:bench")
    late = _append_seconds(record, 20_000, probes)
    app.close()
    # A fresh process (empty cache) loads the latest snapshot plus < 100 events.
    cold_app = build_application(url, SECRET)
    cold_start = time.perf_counter()
    cold_app.ingestion.record_batch([EventItem("cold", "CONTENT_VIEWED", who, now, content_id="c")],
                          "service:bench")
    cold = time.perf_counter() - cold_start
    cold_app.close()
    return [
        measure("append_cost", late * 1000, "ms/event", early * 1000),
        measure("append_cost_cold_after_10k", cold * 1000, "ms/event", early * 1000),
    ]


PROFILE_QUERY = ("query($id: ID!) { customer(id: $id) { id firstChannel lifecycle tags groups "
                 "orderCount gmvFen refundedFen lastInteractionAt currentStaffIds } }")


PROFILE_CUSTOMERS = 200


def _profile_fixture() -> tuple[str, list[str], str]:
    """A projected database (5,000 events over 500 customers): its URL, the ids of the
    PROFILE_CUSTOMERS customers with most orders (most first) and a manager's token."""
    url = fresh_database()
    app = build_application(url, SECRET)
    for i in range(0, 5000, BATCH):
        app.ingestion.record_batch(workload.items(BATCH, customers=500, seed=i), "service:bench")
    # the reader: service tokens only ingest, and a staff role comes from the directory
    manager = app.staff.hire("private_domain_manager", "middle_office", "bench",
                             "system:bench", datetime.now(UTC))
    tracker = Tracker(app.factory.datastore)  # type: ignore[attr-defined]
    for view in (CustomerProfileView(), StaffDirectoryView()):
        BatchRunner(app, view, tracker).catch_up()
    with app.factory.datastore.transaction() as curs:  # type: ignore[attr-defined]
        curs.execute("SELECT customer_id FROM customer_profile "
                     "ORDER BY order_count DESC, customer_id LIMIT %s", (PROFILE_CUSTOMERS,))
        ids = [str(row["customer_id"]) for row in curs.fetchall()]
    assert len(ids) == PROFILE_CUSTOMERS, len(ids)
    app.close()
    from adapters.tokens import ensure_token_table, issue_token

    ensure_token_table(url)
    return url, ids, issue_token(url, "staff", str(manager), None, "bench")


def _profile_requests(ids: list[str], token: str) -> dict[str, list[bytes]]:
    """Per customer id: the GraphQL profile query and the plain endpoint's GET."""
    return {
        "graphql": [http_request("POST", "/graphql", dumps(
            {"query": PROFILE_QUERY, "variables": {"id": i}}), token) for i in ids],
        "plain": [http_request("GET", f"/plain/{i}") for i in ids],
    }


def profile_query(quick: bool) -> list[Measure]:
    url, ids, token = _profile_fixture()
    requests = _profile_requests(ids[:1], token)
    graphql, plain = requests["graphql"][0], requests["plain"][0]
    port = free_port()
    total = 3000 if quick else 20000
    with server(url, port):
        load(port, graphql, 400, 4)  # warm both paths
        load(port, plain, 400, 4)
        rates = {"graphql": [], "plain": []}  # type: dict[str, list[float]]
        for _ in range(3):  # interleave to share the machine's noise
            rates["plain"].append(load(port, plain, total, 8)[0])
            rates["graphql"].append(load(port, graphql, total, 8)[0])
    return [measure("profile_query", median(rates["graphql"]), "req/s", median(rates["plain"]))]


CLIENTS = 50
#: API processes serving the latency benchmark (``siyu serve --workers 2`` in production).
API_WORKERS = 2


def profile_query_latency(quick: bool) -> list[Measure]:
    """p99 and p50 ms of the profile query by id under CLIENTS keep-alive clients (closed
    loop), against /plain/{id} under the same clients; each request names another of
    PROFILE_CUSTOMERS customers. Medians over interleaved rounds of per-round quantiles.
    Served by API_WORKERS processes; ``profile_query_processes`` says how many served."""
    url, ids, token = _profile_fixture()
    per_round = 2000 if quick else 4000
    rounds = 3 if quick else 7
    requests = {path: [reqs[n % len(reqs)] for n in range(per_round)]
                for path, reqs in _profile_requests(ids, token).items()}
    port = free_port()
    quantiles: dict[tuple[str, float], list[float]] = {
        (path, q): [] for path in requests for q in (0.5, 0.99)}
    with server(url, port, workers=API_WORKERS) as proc:
        for batch in requests.values():  # warm: fill both pools, prepare the statements
            load_distinct(port, batch[:1000], CLIENTS)
        for r in range(rounds):  # interleaved, alternating which path goes first
            for path in sorted(requests, reverse=r % 2 == 1):
                latencies = load_distinct(port, requests[path], CLIENTS)[1]
                for q in (0.5, 0.99):
                    quantiles[path, q].append(percentile(latencies, q) * 1000)
        processes = serving_processes(proc)
    return [*(measure(f"profile_query_p{round(q * 100)}", median(quantiles["graphql", q]), "ms",
                      median(quantiles["plain", q])) for q in (0.99, 0.5)),
            measure("profile_query_processes", processes, "processes")]


BENCHMARKS: dict[str, Callable[[bool], list[Measure]]] = {
    "ingest_app": ingest_app,
    "ingest_graphql": ingest_graphql,
    "append_cost": append_cost,
    "profile_query": profile_query,
    "profile_query_p99": profile_query_latency,
    "ingest_tracking": tracking.ingest_tracking,
}
