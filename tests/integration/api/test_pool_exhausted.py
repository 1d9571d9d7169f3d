"""A request that finds its pool full waits at most 2 s and is answered UNAVAILABLE (503,
Retry-After); the process serves on, and the request holding the connection completes."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from starlette.testclient import TestClient

from adapters.tokens import ensure_token_table, issue_token
from siyu.api_process import create_app
from siyu.bootstrap import build_application
from siyu.processes import catch_up, prepare_read_models
from siyu.settings import DEFAULT_POOLS, Settings
from tests.conftest import SECRET
from tests.support.directory import hire_as

pytestmark = pytest.mark.integration

READ = "{ staffMembers { id } }"
MANAGER = "0a6f0000-0000-4000-8000-0000000000ac"


def test_a_request_that_finds_the_read_pool_full_is_answered_unavailable(
        pg_url: str, tmp_path: Path) -> None:
    # Given an API whose read pool holds one connection
    ensure_token_table(pg_url)
    app = build_application(pg_url, SECRET)
    prepare_read_models(app)
    hire_as(app, MANAGER, "private_domain_manager", "middle_office", wait=False)
    catch_up(app)
    app.close()
    token = issue_token(pg_url, "staff", MANAGER, None, "tests")
    settings = dataclasses.replace(
        Settings(database_url=pg_url, broker_url=None, data_dir=tmp_path, secret=SECRET),
        pools={**DEFAULT_POOLS, "api_reads": 1})
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(settings)) as client:
        assert client.post("/graphql", json={"query": READ}, headers=headers).status_code == 200
        # When one request holds that connection (blocked on a locked table) and another
        # comes
        answers: dict[str, Any] = {}
        with psycopg.connect(pg_url) as locker:
            locker.execute("LOCK TABLE staff_directory IN ACCESS EXCLUSIVE MODE")
            first = threading.Thread(target=lambda: answers.setdefault(
                "first", client.post("/graphql", json={"query": READ}, headers=headers)))
            first.start()
            time.sleep(0.5)
            started = time.monotonic()
            second = client.post("/graphql", json={"query": READ}, headers=headers)
            waited = time.monotonic() - started
            locker.rollback()
        first.join(30)
        # Then the second is answered UNAVAILABLE within about 2 s, with Retry-After
        assert second.status_code == 503, second.text
        assert {e["extensions"]["code"] for e in second.json()["errors"]} == {"UNAVAILABLE"}
        assert second.headers["retry-after"] == "2"
        assert waited < 5
        # And the first completes once the table is free, and the process serves on
        assert answers["first"].status_code == 200
        assert client.post("/graphql", json={"query": READ}, headers=headers).status_code == 200
