"""A small demo served over real HTTP for the console's tests: the demo month loaded and
projected, the API under uvicorn on a free loopback port (a browser needs a real server),
projections following the log, and one token per kind of reader."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import uvicorn

from adapters.tokens import ensure_token_table, issue_token
from application.app import Siyu
from siyu import demo
from siyu.api_process import create_app
from siyu.bootstrap import build_application
from siyu.processes import catch_up
from siyu.settings import Settings
from tests.conftest import SECRET, reset_schema
from tests.integration.api.conftest import projections_running
from tests.support.directory import hire_as

DEPARTMENT_MANAGER = "0a6f0000-0000-4000-8000-0000000000dd"


@dataclass
class DemoServer:
    app: Siyu
    url: str  # http://127.0.0.1:<port>
    tokens: dict[str, str]  # manager, department_manager, staff, operator
    staff: dict[str, str]  # the same readers' staff ids
    front: list[str]  # front-line staff ids


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def demo_server(database_url: str, data_dir: Path, customers: int = 60) -> Iterator[DemoServer]:
    reset_schema(database_url)
    app = build_application(database_url, SECRET)
    loaded = demo.load(app, customers=customers, now=datetime.now(UTC))
    hire_as(app, DEPARTMENT_MANAGER, "department_manager", "front_office", wait=False)
    catch_up(app)
    by_role = {role: str(s) for s, role in loaded.staff}
    front = [str(s) for s, role in loaded.staff if role in ("sales", "service")]
    staff = {"manager": by_role["private_domain_manager"],
             "department_manager": DEPARTMENT_MANAGER, "staff": front[0],
             "operator": by_role["user_operator"]}
    ensure_token_table(database_url)
    tokens = {who: issue_token(database_url, "staff", sid, None, "console-tests")
              for who, sid in staff.items()}
    # The lineage test reads ~900 figures as one manager within a minute: the limits are
    # tested elsewhere (test_hardening_http, test_anonymous_limits_http), not here.
    settings = Settings(database_url=database_url, broker_url=None, data_dir=data_dir,
                        secret=SECRET, rate_limits={"default": 0, "customer": 0,
                                                    "service": 0, "anonymous": 0})
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    try:
        with projections_running(app):
            thread.start()
            deadline = time.monotonic() + 60
            while not server.started:
                assert time.monotonic() < deadline, "the API did not start"
                assert thread.is_alive(), "the API stopped while starting"
                time.sleep(0.05)
            yield DemoServer(app=app, url=f"http://127.0.0.1:{port}", tokens=tokens,
                             staff=staff, front=front)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.close()
