"""``/metrics`` of every process, ``/healthz`` and ``/readyz`` of the API, on PostgreSQL."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import dramatiq
import httpx
import pytest
from prometheus_client import generate_latest
from starlette.testclient import TestClient

from adapters.tokens import ensure_token_table, issue_token
from application.app import Siyu
from domain.ingestion import EventItem
from siyu.api_process import create_app
from siyu.health import readiness
from siyu.metrics import queue_depths, registry_for, serve
from siyu.processes import catch_up, prepare_read_models
from siyu.settings import Settings
from tests.conftest import SECRET
from workers.broker import make_broker

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def record_views(app: Siyu, now: datetime, n: int, prefix: str = "v") -> None:
    app.ingestion.record_batch([EventItem(f"{prefix}{k}", "CONTENT_VIEWED", ("phone", "13800000000"),
                                          now, content_id="c") for k in range(n)], "s:t")


@pytest.fixture
def client(pg_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    settings = Settings(database_url=pg_url, broker_url=None, data_dir=tmp_path, secret=SECRET,
                        ready_max_lag=3)
    ensure_token_table(pg_url)
    token = issue_token(pg_url, "service", "ingest", None, "tests")
    with TestClient(create_app(settings)) as test_client:
        yield test_client, token


def test_the_api_is_alive_and_ready_only_while_its_read_models_keep_up(
        client: tuple[TestClient, str], pg_app: Siyu, now: datetime) -> None:
    http, _ = client
    # Given an empty log, the API is alive and ready
    assert http.get("/healthz").json() == {"status": "ok"}
    assert http.get("/readyz").status_code == 200
    # When more events than the bound are recorded and not projected yet
    record_views(pg_app, now, 5)
    answer = http.get("/readyz")
    # Then it is not ready, and says which read models are behind
    assert answer.status_code == 503
    assert answer.json()["behind"]["customer_profile"] >= 5
    # And once they caught up it is ready again
    catch_up(pg_app)
    assert http.get("/readyz").json()["status"] == "ready"


def test_readiness_fails_when_the_database_cannot_be_reached() -> None:
    def unreachable() -> object:
        raise OSError("connection refused")

    ready, found = readiness(unreachable, ["customer_profile"], 10)  # type: ignore[arg-type]
    assert not ready and found["database"] == "unavailable"


def test_the_api_metrics_show_requests_by_operation_and_projection_lag(
        client: tuple[TestClient, str], pg_app: Siyu, now: datetime) -> None:
    http, token = client
    record_views(pg_app, now, 4)
    catch_up(pg_app)
    record_views(pg_app, now, 1, prefix="late")  # one event nobody applied yet
    query = "query Quarantine { quarantinedEvents { readModel } }"
    answer = http.post("/graphql", json={"query": query, "operationName": "Quarantine"},
                       headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    text = http.get("/metrics").text
    assert ('siyu_requests_seconds_count{operation="Quarantine",route="/graphql",status="200"} '
            '1.0') in text
    assert 'siyu_projection_lag_events{read_model="customer_profile"} 1.0' in text
    assert 'siyu_quarantined_events{read_model="customer_profile"} 0.0' in text
    assert "siyu_database_up 1.0" in text
    assert 'siyu_pool_connections{pool="reads",state="max"}' in text
    assert "siyu_event_log_head" in text


def test_the_worker_metrics_count_queued_messages_and_sends(pg_app: Siyu, pg_url: str,
                                                            tmp_path: Path) -> None:
    # Given the PostgreSQL broker with two messages waiting on a queue nobody consumes
    settings = Settings(database_url=pg_url, broker_url=None, data_dir=tmp_path, secret=SECRET)
    broker = make_broker(None, pg_url)
    try:
        def waiting() -> None:
            """Never consumed: no worker runs."""

        actor = dramatiq.actor(broker=broker, actor_name="waiting",
                               queue_name="metrics-test")(waiting)
        actor.send()
        actor.send()
        prepare_read_models(pg_app)
        datastore = pg_app.factory.datastore  # type: ignore[attr-defined]
        registry = registry_for(datastore.get_connection, pools={"events": datastore.pool},
                                queue_depths=queue_depths(broker, settings), sends=True)
        # When its endpoint is scraped over HTTP
        port = free_port()
        stop = serve(registry, "127.0.0.1", port)
        try:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        finally:
            stop()
    finally:
        broker.close()
    # Then the depth of that queue is there, and the send figures (none yet)
    assert 'siyu_queue_depth{queue="metrics-test"} 2.0' in text
    assert "# TYPE siyu_sends gauge" in text
    assert generate_latest(registry)  # a scrape never raises


def test_a_taken_metrics_port_leaves_the_process_running(
        pg_app: Siyu, caplog: pytest.LogCaptureFixture) -> None:
    datastore = pg_app.factory.datastore  # type: ignore[attr-defined]
    registry = registry_for(datastore.get_connection)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with caplog.at_level(logging.WARNING):
            stop = serve(registry, "127.0.0.1", taken.getsockname()[1])
        stop()
    assert "running without /metrics" in caplog.text
