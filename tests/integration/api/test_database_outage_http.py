"""While the database is away the API answers UNAVAILABLE (503, Retry-After) at once, and
recovers on its own when it is back: never INTERNAL, never a hang.

The database here is a throwaway cluster of the test's own, stopped and killed at will.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from starlette.testclient import TestClient

from adapters.tokens import ensure_token_table, issue_token
from siyu.api_process import create_app
from siyu.bootstrap import build_application
from siyu.processes import catch_up, prepare_read_models
from siyu.settings import Settings
from tests.conftest import SECRET
from tests.support.directory import hire_as
from tests.support.throwaway_pg import ThrowawayCluster, started_cluster

pytestmark = pytest.mark.integration

READ = "{ staffMembers { id } }"
HIRE = """mutation($n: String!) { hireStaff(input: {displayName: $n, role: "sales",
  department: "front_office"}) { staffId } }"""
MANAGER = "0a6f0000-0000-4000-8000-0000000000aa"


@pytest.fixture
def cluster() -> Iterator[ThrowawayCluster]:
    with started_cluster() as throwaway:
        yield throwaway


def ask(client: TestClient, token: str, query: str,
        variables: dict[str, Any] | None = None) -> tuple[Any, float]:
    started = time.monotonic()
    response = client.post("/graphql", json={"query": query, "variables": variables},
                           headers={"Authorization": f"Bearer {token}"})
    return response, time.monotonic() - started


def assert_unavailable(response: Any, seconds: float) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "2"
    codes = {e["extensions"]["code"] for e in response.json()["errors"]}
    assert codes == {"UNAVAILABLE"}
    assert seconds < 3.0


def recovered(client: TestClient, token: str, name: str, within: float) -> float:
    """Seconds until a read and a write have both succeeded again (a write acknowledged
    once is not sent again: the hires stored are the acknowledged ones)."""
    started = time.monotonic()
    read_ok = wrote = False
    while True:
        responses = []
        if not read_ok:
            read, _ = ask(client, token, READ)
            read_ok = read.status_code == 200
            responses.append(read)
        if not wrote:
            write, _ = ask(client, token, HIRE, {"n": name})
            wrote = write.status_code == 200 and "errors" not in write.json()
            responses.append(write)
        if read_ok and wrote:
            return time.monotonic() - started
        for response in responses:
            assert response.status_code in (200, 503), response.text
            assert "INTERNAL" not in response.text
        assert time.monotonic() - started < within, [r.text for r in responses]
        time.sleep(0.2)


@pytest.mark.parametrize("outage", ["restart", "kill -9 of the postmaster"])
def test_an_outage_is_answered_unavailable_and_the_api_recovers_by_itself(
        cluster: ThrowawayCluster, tmp_path: Path, outage: str) -> None:
    settings = Settings(database_url=cluster.url, broker_url=None, data_dir=tmp_path,
                        secret=SECRET)
    ensure_token_table(cluster.url)
    directory = build_application(cluster.url, SECRET)
    prepare_read_models(directory)
    hire_as(directory, MANAGER, "private_domain_manager", "middle_office", wait=False)
    catch_up(directory)  # the manager is in staff_directory: their token resolves
    directory.close()
    manager = issue_token(cluster.url, "staff", MANAGER, None, "tests")
    with TestClient(create_app(settings)) as client:
        # Given an API that reads and writes
        assert ask(client, manager, READ)[0].status_code == 200
        assert "errors" not in ask(client, manager, HIRE, {"n": "甲"})[0].json()
        unseen = issue_token(cluster.url, "service", "later", None, "tests")
        # When the database goes away
        if outage == "restart":
            cluster.stop("fast")
        else:
            cluster.kill_postmaster()
        # Then reads, writes and token checks are answered UNAVAILABLE, within seconds
        for query, variables, token in ((READ, None, manager), (HIRE, {"n": "乙"}, manager),
                                        (READ, None, unseen)):
            response, seconds = ask(client, token, query, variables)
            assert_unavailable(response, seconds)
        # And when it is back, the API serves again within 10 s, with no restart of its own
        cluster.start()
        assert recovered(client, manager, "丙", within=10) < 10
    # And exactly the acknowledged hires are stored: 甲 and 丙, not the refused 乙
    # (and the manager, hired before the API started)
    with psycopg.connect(cluster.url) as conn:
        hired = conn.execute("SELECT count(*) FROM siyu_events WHERE topic LIKE "
                             "'domain.staff:%' AND originator_version = 1").fetchone()
    assert hired is not None and hired[0] == 3
