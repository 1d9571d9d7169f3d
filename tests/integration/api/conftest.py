"""End-to-end fixtures: the ASGI app over HTTP, live projections, one token per principal."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from adapters.tokens import ensure_token_table, issue_token
from application.app import Siyu
from siyu.api_process import create_app
from siyu.settings import Settings
from tests.conftest import SECRET
from tests.support.directory import hire_as
from tests.support.read_models import read_models_running

STAFF_ID = "0a6f0000-0000-4000-8000-000000000001"
OTHER_STAFF_ID = "0a6f0000-0000-4000-8000-000000000002"
MANAGER_ID = "0a6f0000-0000-4000-8000-0000000000aa"
#: In the directory from the start (tokens name principals; the role comes from there).
FIXTURE_STAFF = frozenset({STAFF_ID, OTHER_STAFF_ID, MANAGER_ID})


@dataclass
class Api:
    client: TestClient
    tokens: dict[str, str]

    def gql(self, query: str, variables: dict[str, Any] | None = None, *,
            as_: str = "manager", token: str | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token or self.tokens[as_]}"}
        response = self.client.post("/graphql", json={"query": query, "variables": variables},
                                    headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


#: (kept under this name: test modules import it from here)
projections_running = read_models_running


@pytest.fixture
def live_projections(pg_app: Siyu) -> Iterator[None]:
    with projections_running(pg_app):
        yield


@pytest.fixture
def api(pg_url: str, pg_app: Siyu, live_projections: None, tmp_path: Path) -> Iterator[Api]:
    """The API with a company manager, a salesperson (STAFF_ID) and another one
    (OTHER_STAFF_ID) in the directory, and tokens for the first two and an ingest service.
    Requests go as the manager unless ``as_`` says otherwise."""
    settings = Settings(database_url=pg_url, broker_url=None, data_dir=tmp_path, secret=SECRET)
    with serving(settings, pg_url, pg_app) as served:
        yield served


@contextmanager
def serving(settings: Settings, pg_url: str, pg_app: Siyu) -> Iterator[Api]:
    """The app of ``settings`` with the directory and tokens of :func:`api`."""
    ensure_token_table(pg_url)
    hire_as(pg_app, MANAGER_ID, "private_domain_manager", "middle_office", wait=False)
    hire_as(pg_app, OTHER_STAFF_ID, "sales", wait=False)
    hire_as(pg_app, STAFF_ID, "sales")
    tokens = {
        "service": issue_token(pg_url, "service", "ingest", None, "tests"),
        "manager": issue_token(pg_url, "staff", MANAGER_ID, None, "tests"),
        "staff": issue_token(pg_url, "staff", STAFF_ID, None, "tests"),
    }
    with TestClient(create_app(settings), follow_redirects=False) as client:
        yield Api(client=client, tokens=tokens)
