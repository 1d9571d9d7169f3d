"""Prometheus metrics of one process: built at its wiring point, served on ``/metrics``.

Each process has a registry of its own (no module-level singletons). Figures read from
the database — projection positions and lag, quarantined events, queue depths, send
outcomes — are collected at scrape time by :class:`DatabaseCollector` (a short
transaction with a 2 s statement timeout on a pooled connection); request latencies are
observed as requests finish (:class:`RequestMetrics`). docs/operations.md lists every
metric and its meaning.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from projections import operations

log = logging.getLogger(__name__)

#: Seconds a scrape's queries may take before the figures are reported missing.
SCRAPE_TIMEOUT_MS = 2000
#: Operation names become label values: at most this many distinct ones, then "other".
MAX_OPERATIONS = 200
_OPERATION = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")

Connect = Callable[[], contextlib.AbstractContextManager[Any]]


class RequestMetrics:
    """``siyu_requests_seconds{route, operation, status}``: one observation per request.

    ``operation`` is the GraphQL operation name a client gave (``anonymous`` without one,
    ``other`` past :data:`MAX_OPERATIONS` distinct names or when it is not a name), so a
    client cannot grow the label set without bound."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.histogram = Histogram(
            "siyu_requests_seconds", "Time to answer an HTTP request, by route, GraphQL "
            "operation and status", ("route", "operation", "status"), registry=registry,
            buckets=(0.002, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def operation(self, name: str | None) -> str:
        if not name:
            return "anonymous"
        if not _OPERATION.fullmatch(name):
            return "other"
        with self._lock:
            if name not in self._known and len(self._known) >= MAX_OPERATIONS:
                return "other"
            self._known.add(name)
        return name

    def observe(self, route: str, operation: str | None, status: int, seconds: float) -> None:
        self.histogram.labels(route, self.operation(operation), str(status)).observe(seconds)


def pool_stats(pool: Any) -> Mapping[str, int]:
    """psycopg_pool's figures of a (sync or async) pool."""
    stats: Mapping[str, int] = pool.get_stats()
    return stats


class DatabaseCollector(Collector):
    """Figures read at scrape time; a failed read reports ``siyu_database_up 0``."""

    def __init__(self, connect: Connect, *, pools: Mapping[str, Any] | None = None,
                 queue_depths: Callable[[Any], Mapping[str, int]] | None = None,
                 sends: bool = False) -> None:
        self.connect = connect
        self.pools = dict(pools or {})
        self.queue_depths = queue_depths
        self.sends = sends

    def collect(self) -> Iterable[Metric]:
        yield from self._pools()
        up = GaugeMetricFamily("siyu_database_up", "1 when this scrape could read the "
                               "database, 0 when it could not")
        try:
            figures = list(self._database())
        except Exception as error:  # a scrape never fails: it says so
            log.warning("metrics: the database could not be read (%s)", type(error).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from figures

    def _pools(self) -> Iterator[Metric]:
        size = GaugeMetricFamily("siyu_pool_connections", "Connections of a pool by state "
                                 "(open, idle, max)", labels=["pool", "state"])
        waiting = GaugeMetricFamily("siyu_pool_requests_waiting", "Callers waiting for a "
                                    "connection of a pool", labels=["pool"])
        for name, pool in self.pools.items():
            stats = pool_stats(pool)
            size.add_metric([name, "open"], stats.get("pool_size", 0))
            size.add_metric([name, "idle"], stats.get("pool_available", 0))
            size.add_metric([name, "max"], stats.get("pool_max", getattr(pool, "max_size", 0)))
            waiting.add_metric([name], stats.get("requests_waiting", 0))
        yield size
        yield waiting

    def _database(self) -> Iterator[Metric]:
        with self.connect() as conn, conn.transaction():
            conn.execute(f"SET LOCAL statement_timeout = {SCRAPE_TIMEOUT_MS}")
            head = operations.log_head(conn)
            positions = operations.projection_positions(conn)
            quarantined = operations.open_quarantine(conn)
            depths = self.queue_depths(conn) if self.queue_depths else None
            sends = operations.send_outcomes(conn) if self.sends else None
        yield GaugeMetricFamily("siyu_event_log_head", "Position of the last event recorded",
                                value=head)
        position = GaugeMetricFamily("siyu_projection_position", "Position of the last event "
                                     "a read model applied", labels=["read_model"])
        lag = GaugeMetricFamily("siyu_projection_lag_events", "Events recorded that a read "
                                "model has not applied yet", labels=["read_model"])
        for name, at in sorted(positions.items()):
            position.add_metric([name], at)
            lag.add_metric([name], max(head - at, 0))
        yield position
        yield lag
        open_ = GaugeMetricFamily("siyu_quarantined_events", "Events a read model set aside "
                                  "and that are not resolved", labels=["read_model"])
        for name in sorted(set(positions) | set(quarantined)):
            open_.add_metric([name], quarantined.get(name, 0))
        yield open_
        if depths is not None:
            queue = GaugeMetricFamily("siyu_queue_depth", "Messages waiting in a Dramatiq "
                                      "queue", labels=["queue"])
            for name, n in sorted(depths.items()):
                queue.add_metric([name], n)
            yield queue
        if sends is not None:
            outcome = GaugeMetricFamily("siyu_sends", "Sends by kind (welcome, campaign, sop), "
                                        "channel and outcome (status)",
                                        labels=["kind", "channel", "outcome"])
            for kind, channel, status, n in sends:
                outcome.add_metric([kind, channel, status], n)
            yield outcome


def queue_depths(broker: Any, settings: Any) -> Callable[[Any], Mapping[str, int]] | None:
    """How to read the depth of each queue of ``broker``: dramatiq-postgres on the
    application's database by SQL, RabbitMQ by its queue counts (ready + delayed); None
    for a broker whose depths are not read (Redis)."""
    from dramatiq.brokers.rabbitmq import RabbitmqBroker
    from dramatiq_postgres import PostgresBroker

    from workers.broker import POSTGRES_SCHEMA

    if isinstance(broker, PostgresBroker) and settings.broker_url in (None, "",
                                                                       settings.database_url):
        return lambda conn: operations.postgres_queue_depths(conn, POSTGRES_SCHEMA)
    if isinstance(broker, RabbitmqBroker):
        def rabbitmq(_: Any) -> Mapping[str, int]:
            depths: dict[str, int] = {}
            for queue in sorted(broker.get_declared_queues()):
                ready, delayed, _dead = broker.get_queue_message_counts(queue)
                depths[queue] = ready + delayed
            return depths
        return rabbitmq
    return None


def registry_for(connect: Connect, **collector: Any) -> CollectorRegistry:
    """A process's registry with its database figures."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(connect, **collector))
    return registry


def serve(registry: CollectorRegistry, host: str, port: int | None
          ) -> Callable[[], None]:
    """Serve ``/metrics`` on ``host:port`` in a thread; returns how to stop it. No port, or
    one taken (another process of the same kind on this machine): the process runs on
    without an endpoint and says so — metrics never stop a process."""
    if not port:
        return lambda: None
    try:
        server, thread = start_http_server(port, host, registry=registry)
    except OSError as error:
        log.warning("metrics: cannot listen on %s:%s (%s); running without /metrics",
                    host, port, error.strerror or type(error).__name__)
        return lambda: None
    log.info("metrics on http://%s:%s/metrics", host, port)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(5)

    return stop
