"""Tracking benchmark: mini-program behaviour events through GraphQL, with retries and bad items.

A mini-program tracking SDK reports views, cart adds, store visits … through a collector that
forwards batches to ``recordCustomerEvents``. Real traffic is not clean: 10% of the items are
re-sent event ids (retries after a timeout: answered ``DUPLICATE``), 5% are invalid (unknown
type, missing field, bad identity, a device clock in the future: answered ``REJECTED``).

``ingest_tracking`` is items handled per second (all of them); ``ingest_tracking_stored`` only
counts the accepted ones. Both against the same baseline: a raw binary COPY of the rows this
run stored (:func:`bench.common.copy_baseline`). Target ratio ≥ 0.25.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench.common import Measure, copy_baseline, dumps, free_port, fresh_database, measure, server

BATCH = 1000
DUPLICATES = 0.10
INVALID = 0.05
APP = "wx_openid:wxapp-brand"
QUERY = ("mutation($e: [CustomerEventInput!]!) { recordCustomerEvents(input: {events: $e})"
         " { accepted duplicates rejected } }")


def _event(rng: random.Random, n: int, customers: int, now: datetime) -> dict[str, Any]:
    """One valid mini-program event, shaped like a month of a brand's traffic."""
    event: dict[str, Any] = {
        "eventId": f"mp-{n}", "channel": "mini_program",
        "customer": {"namespace": APP, "value": f"oMp{rng.randrange(customers):07d}"},
        "occurredAt": (now - timedelta(seconds=rng.randrange(30 * 86400))).isoformat(),
    }
    roll = rng.random()
    sku = f"sku-{rng.randrange(300)}"
    if roll < 0.45:
        event.update(type="CONTENT_VIEWED", contentId=f"article-{rng.randrange(80)}",
                     seconds=rng.randrange(3, 240))
    elif roll < 0.75:
        event.update(type="PRODUCT_VIEWED", sku=sku)
    elif roll < 0.85:
        event.update(type="ADDED_TO_CART", sku=sku, quantity=rng.randrange(1, 4))
    elif roll < 0.92:
        event.update(type="ACTIVITY_JOINED", activityId=f"act-{rng.randrange(12)}",
                     activityKind=rng.choice(["quiz", "lottery", "check_in"]))
    elif roll < 0.97:
        event.update(type="LIVE_STREAM_WATCHED", streamId=f"live-{rng.randrange(6)}",
                     watchSeconds=rng.randrange(10, 3600))
    else:
        event.update(type="STORE_VISITED", storeId=f"store-{rng.randrange(40)}")
    return event


def _invalid(rng: random.Random, n: int, now: datetime) -> dict[str, Any]:
    """A schema-valid item the domain refuses."""
    event: dict[str, Any] = {"eventId": f"bad-{n}", "type": "PRODUCT_VIEWED", "sku": "sku-1",
                             "customer": {"namespace": APP, "value": f"oMpBad{n}"},
                             "occurredAt": (now - timedelta(hours=1)).isoformat()}
    kind = rng.randrange(5)
    if kind == 0:
        event["type"] = "PAGE_SCROLLED"  # UNKNOWN_EVENT_TYPE
    elif kind == 1:
        del event["sku"]  # MISSING_FIELD
    elif kind == 2:
        event["occurredAt"] = (now + timedelta(days=1)).isoformat()  # INVALID_TIME
    elif kind == 3:
        event["customer"] = {"namespace": "wx_openid", "value": "oNoScope"}  # INVALID_IDENTITY
    else:
        event.update(type="ADDED_TO_CART", quantity=0)  # INVALID_INPUT
    return event


def traffic(total: int, customers: int, seed: int = 7) -> tuple[list[dict[str, Any]], int, int]:
    """``total`` items: new events, re-sent ones (recent retries) and invalid ones."""
    rng = random.Random(seed)
    now = datetime.now(UTC) - timedelta(minutes=1)
    items: list[dict[str, Any]] = []
    sent: list[dict[str, Any]] = []
    duplicates = invalid = 0
    for n in range(total):
        roll = rng.random()
        if roll < DUPLICATES and sent:
            items.append(rng.choice(sent[-2 * BATCH:]))
            duplicates += 1
        elif roll < DUPLICATES + INVALID:
            items.append(_invalid(rng, n, now))
            invalid += 1
        else:
            event = _event(rng, n, customers, now)
            items.append(event)
            sent.append(event)
    return items, duplicates, invalid


def _service_token(url: str) -> str:
    from adapters.tokens import ensure_token_table, issue_token

    ensure_token_table(url)
    return issue_token(url, "service", "bench-tracking", None, "bench")


def ingest_tracking(quick: bool) -> list[Measure]:
    url = fresh_database()
    total = 20_000 if quick else 100_000
    items, duplicates, invalid = traffic(total, customers=total // 10)
    warm, _, _ = traffic(200, customers=50, seed=99)
    for event in warm:
        event["eventId"] = "warm-" + event["eventId"]
    token = _service_token(url)
    port = free_port()
    counts = {"accepted": 0, "duplicates": 0, "rejected": 0}
    with server(url, port), httpx.Client(base_url=f"http://127.0.0.1:{port}",
                                         headers={"Authorization": f"Bearer {token}"},
                                         timeout=120) as client:
        client.post("/graphql", json={"query": QUERY, "variables": {"e": warm}})
        start = time.perf_counter()
        for i in range(0, total, BATCH):
            body = dumps({"query": QUERY, "variables": {"e": items[i:i + BATCH]}})
            response = client.post("/graphql", content=body,
                                   headers={"Content-Type": "application/json"})
            data = response.json()["data"]["recordCustomerEvents"]
            for key in counts:
                counts[key] += data[key]
        elapsed = time.perf_counter() - start
    assert counts == {"accepted": total - duplicates - invalid, "duplicates": duplicates,
                      "rejected": invalid}, counts
    baseline = copy_baseline(url)
    return [measure("ingest_tracking", total / elapsed, "events/s", baseline),
            measure("ingest_tracking_stored", counts["accepted"] / elapsed, "events/s", baseline)]


BENCHMARKS: dict[str, Callable[[bool], list[Measure]]] = {"ingest_tracking": ingest_tracking}
