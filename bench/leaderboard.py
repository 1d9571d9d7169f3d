"""``leaderboard_fanout_p99`` (and ``_median``): ms from the commit of an event that changes
the ranking until each of 200 WebSocket subscribers has the new ranking; target p99 < 1,000.

A real uvicorn server (``bench.server``, its own process) serves ``leaderboardChanged`` over
graphql-transport-ws; 200 clients (the ``websockets`` library, one asyncio loop here)
subscribe to four distinct boards (new friends per day, week, month, quarter: 50 each, all
50 staff shown). The projections run in this process, as ``siyu projections`` would. Each
round records one new friend for another member (the ranking changes on every board), and
the clock stops for a subscriber when its update arrives. The commit time is taken when
``record_batch`` returns, so the figure includes the projection's page, its NOTIFY, the
recomputation and the sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import websockets

from adapters.tokens import ensure_token_table, issue_token
from bench.common import SECRET, Measure, free_port, fresh_database, measure, percentile, server
from domain.ingestion import EventItem
from projections.runner import BatchRunner
from siyu.bootstrap import build_application
from siyu.processes import prepare_read_models, read_model_views

DAY = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
STAFF = 50
SUBSCRIBERS = 200
KINDS = ("DAY", "WEEK", "MONTH", "QUARTER")
LIVE = """subscription($kind: PeriodKind!) {
  leaderboardChanged(kpi: "friendsNew", period: {kind: $kind, start: "2026-11-20"}, first: 100) {
    firstDay entries { rank staffId value } } }"""


class Clients:
    """200 subscribers; ``arrived[round]`` collects each one's receipt time."""

    def __init__(self, port: int, token: str) -> None:
        self.url = f"ws://127.0.0.1:{port}/graphql"
        self.token = token
        self.round = -1
        self.arrived: dict[int, list[float]] = {}
        self.ready = 0
        self.changed = asyncio.Event()

    async def client(self, n: int, stop: asyncio.Event) -> None:
        async with websockets.connect(self.url, subprotocols=[
                websockets.Subprotocol("graphql-transport-ws")], max_size=2**22) as ws:
            await ws.send(json.dumps({"type": "connection_init",
                                      "payload": {"authorization": f"Bearer {self.token}"}}))
            ack = json.loads(await ws.recv())
            assert ack["type"] == "connection_ack", ack
            await ws.send(json.dumps({"type": "subscribe", "id": "1", "payload": {
                "query": LIVE, "variables": {"kind": KINDS[n % len(KINDS)]}}}))
            first = json.loads(await ws.recv())
            assert first["type"] == "next" and "errors" not in first["payload"], first
            self.ready += 1
            while not stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), 0.5)
                except TimeoutError:
                    continue
                at = time.perf_counter()
                message = json.loads(raw)
                assert message["type"] == "next" and "errors" not in message["payload"], message
                self.arrived.setdefault(self.round, []).append(at)
                self.changed.set()


def _friend(staff_id: str, n: int) -> EventItem:
    return EventItem(f"lb{n}", "FRIEND_ADDED", ("wx_unionid", f"lb{n}"), DAY,
                     staff_id=staff_id, channel="qr:store-1")


def fanout(quick: bool) -> list[Measure]:
    rounds = 10 if quick else 30
    url = fresh_database()
    app = build_application(url, SECRET)
    staff = [str(app.staff.hire("sales", "front_office" if s % 2 else "middle_office", f"s{s}",
                                "staff:bench", DAY - timedelta(days=30))) for s in range(STAFF)]
    # the subscriber: a manager in the directory (a token's role is read from there)
    manager = app.staff.hire("private_domain_manager", "middle_office", "bench", "staff:bench",
                             DAY - timedelta(days=30))
    app.ingestion.record_batch([_friend(s, i) for i, s in enumerate(staff)], "service:bench")
    tracker = prepare_read_models(app)
    runners = [BatchRunner(app, view, tracker, poll_interval=0.5) for view in read_model_views()]
    for runner in runners:
        runner.catch_up()
    threads = [threading.Thread(target=r.run_forever, daemon=True) for r in runners]
    for thread in threads:
        thread.start()
    ensure_token_table(url)
    token = issue_token(url, "staff", str(manager), None, "bench")
    port = free_port()
    latencies: list[float] = []
    try:
        with server(url, port):
            latencies = asyncio.run(_run(app, staff, port, token, rounds))
    finally:
        for runner in runners:
            runner.stop()
        for thread in threads:
            thread.join(10)
        app.close()
    return [measure("leaderboard_fanout_p99", percentile(latencies, 0.99), "ms", 1000),
            measure("leaderboard_fanout_median", statistics.median(latencies), "ms", 1000)]


async def _run(app: Any, staff: list[str], port: int, token: str, rounds: int) -> list[float]:
    clients = Clients(port, token)
    stop = asyncio.Event()
    tasks = []
    for n in range(SUBSCRIBERS):  # connect in small waves (one loop does the handshakes)
        tasks.append(asyncio.create_task(clients.client(n, stop)))
        if n % 20 == 19:
            await asyncio.sleep(0.05)
    deadline = time.monotonic() + 60
    while clients.ready < SUBSCRIBERS:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {clients.ready} subscribers ready")
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)  # let the connection storm's first rankings settle
    clients.arrived.clear()
    latencies: list[float] = []
    for r in range(rounds):
        clients.round = r
        clients.changed.clear()
        item = _friend(staff[(r * 7) % len(staff)], 1000 + r)
        await asyncio.to_thread(app.ingestion.record_batch, [item], "service:bench")
        committed = time.perf_counter()
        deadline = time.monotonic() + 10
        while len(clients.arrived.get(r, [])) < SUBSCRIBERS:
            if time.monotonic() > deadline:
                raise RuntimeError(f"round {r}: {len(clients.arrived.get(r, []))} of "
                                   f"{SUBSCRIBERS} subscribers updated")
            clients.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(clients.changed.wait(), 0.5)
        latencies += [(at - committed) * 1000 for at in clients.arrived[r]]
        await asyncio.sleep(0.3)
        extra = len(clients.arrived.get(r, [])) - SUBSCRIBERS
        if extra:
            raise RuntimeError(f"round {r}: {extra} unexpected extra updates")
    stop.set()
    await asyncio.gather(*tasks)
    return latencies


BENCHMARKS: dict[str, Callable[[bool], list[Measure]]] = {
    "leaderboard": fanout,
}
