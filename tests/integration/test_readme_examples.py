"""Every GraphQL example of README.md and docs/*.md runs, as a new user would run it, on demo data.

The examples are collected from every ```graphql block of README.md, then of docs/*.md in name
order, and executed in that order over HTTP against the ASGI app, on a small demo
(:func:`siyu.demo.load`) with live projections. Conventions of a block, all GraphQL comments so
that the block pastes into GraphiQL as it is:

* ``# as: manager`` (or ``staff``, ``customer``, ``service``) — required: the demo token to send;
* ``<…>`` — a value from the reader's data, filled in here from :data:`PLACEHOLDERS` or from an
  earlier ``keep``; a ```json block right after the example holds its variables, placeholders
  allowed;
* ``# keep: path.in.the.answer as <name>`` — keeps a value of the answer for later examples;
* ``# may be empty`` — the answer's lists may be empty (the rest of the line says why).

Every example must answer without errors, every top-level field non-null, and (unless it may be
empty) every top-level list, and the ``edges`` of every top-level connection, non-empty. A
``subscription`` runs over WebSocket (graphql-transport-ws) and its first result is checked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg_pool import ConnectionPool
from starlette.testclient import TestClient

from adapters.tokens import ensure_token_table, issue_token
from application.app import Siyu
from domain.ingestion import EventItem
from siyu import demo
from siyu.api_process import create_app
from siyu.bootstrap import build_application
from siyu.demo_staff import TERMS
from siyu.processes import catch_up
from siyu.settings import Settings
from tests.conftest import SECRET, reset_schema
from tests.integration.api.conftest import projections_running
from tests.integration.api.test_alerts_http import FakeStaffGateway, run_alert_worker
from workers.daily_report import ReportDeps, ReportStore, build_daily_reports

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PROTOCOL = ["graphql-transport-ws"]
SHANGHAI = ZoneInfo("Asia/Shanghai")
#: What each placeholder stands for in the demo (filled in by the ``world`` fixture).
PLACEHOLDERS = {
    "<staff id>": "a front-line member owning customers with orders (the staff token)",
    "<other staff id>": "another front-line member",
    "<leaving staff id>": "a third front-line member who owns customers",
    "<customer id>": "a paying customer owned by <staff id>, their friend (the customer token)",
    "<segment id>": "the demo segment 已购客户 (paid at least once)",
    "<open task id>": "an open marketing task of <staff id>",
    "<alert id>": "a sensitive-word alert raised and delivered by the alert worker",
    "<yesterday>": "yesterday (Asia/Shanghai), whose daily reports were built",
}


@dataclass(frozen=True)
class Example:
    page: str
    line: int
    text: str
    variables: str | None
    token: str
    keeps: tuple[tuple[str, str], ...]
    may_be_empty: bool

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def collect() -> list[Example]:
    found: list[Example] = []
    block = re.compile(r"^```graphql\n(.*?)^```\n(?:\n?```json\n(.*?)^```\n)?", re.S | re.M)
    for page in PAGES:
        source = page.read_text()
        for match in block.finditer(source):
            text, variables = match.group(1), match.group(2)
            token = re.search(r"^# as: (\w+)\s*$", text, re.M)
            found.append(Example(
                page=page.relative_to(ROOT).as_posix(),
                line=source.count("\n", 0, match.start()) + 1, text=text, variables=variables,
                token=token.group(1) if token else "",
                keeps=tuple(re.findall(r"^# keep: (\S+) as (<[^>]+>)\s*$", text, re.M)),
                may_be_empty=bool(re.search(r"^# may be empty\b", text, re.M))))
    return found


EXAMPLES = collect()


@dataclass
class World:
    client: TestClient
    tokens: dict[str, str]
    values: dict[str, str]
    kept: dict[str, str] = field(default_factory=dict)

    def fill(self, text: str) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(0)
            known = {**self.values, **self.kept}
            assert name in known, f"no value for {name}: add it to PLACEHOLDERS or keep it earlier"
            return known[name]
        return "\n".join(line if line.startswith("#") else re.sub(r"<[a-z][a-z ]*>", value, line)
                         for line in text.split("\n"))


def test_the_docs_have_executable_examples_each_with_a_token() -> None:
    assert len(EXAMPLES) >= 40
    assert [e.id for e in EXAMPLES if e.token not in ("manager", "staff", "customer", "service")] == []


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_link_between_the_pages_reaches_a_file_and_a_heading() -> None:
    broken = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if target.startswith(("http://", "https://")):
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            headings = ({_anchor(h) for h in re.findall(r"^#+ (.*)$", linked.read_text(), re.M)}
                        if linked.suffix == ".md" and linked.exists() else set())
            if not linked.exists() or (anchor and linked.suffix == ".md" and anchor not in headings):
                broken.append(f"{page.name}: {target}")
    assert broken == []


def _pick(url: str, front: list[str]) -> dict[str, str]:
    """Demo members and customers for the placeholders: the busiest owner of paying friends."""
    with psycopg.connect(url) as conn:
        owned = conn.execute(
            "SELECT o.staff_id, p.customer_id::text FROM customer_ownership o"
            " JOIN customer_profile p USING (customer_id)"
            " WHERE o.until IS NULL AND p.order_count > 0 AND o.staff_id = ANY(p.current_staff_ids)"
            " ORDER BY p.position").fetchall()
        by_staff: dict[str, list[str]] = {}
        for staff_id, customer_id in owned:
            by_staff.setdefault(staff_id, []).append(customer_id)
        staff = max(by_staff, key=lambda s: (len(by_staff[s]), s))
        leaving = next(s for s in sorted(by_staff, key=lambda s: -len(by_staff[s])) if s != staff)
        other = next(s for s in front if s not in (staff, leaving))
        task = conn.execute("SELECT task_id::text FROM marketing_task WHERE staff_id = %s"
                            " AND status = 'open' ORDER BY due_at LIMIT 1", (staff,)).fetchone()
    assert task is not None, "the demo gives every front-line member weekly tasks"
    return {"<staff id>": staff, "<other staff id>": other, "<leaving staff id>": leaving,
            "<customer id>": by_staff[staff][0], "<open task id>": task[0],
            "<segment id>": str(demo.segment_id("已购客户"))}


def _raise_an_alert(app: Siyu, url: str, staff: str, now: datetime) -> str:
    """A staff message with a term of the demo lexicon, and the worker that turns it into an alert."""
    term = TERMS["private_order"][0]
    app.ingestion.record_batch([EventItem("docs-sensitive-1", "MESSAGE_SENT", ("wx_unionid", "oDocsReader"),
                                now - timedelta(minutes=5), staff_id=staff, message_kind="text",
                                text=f"可以{term}吗")], "service:docs")
    catch_up(app)
    run_alert_worker(app, url)
    catch_up(app)
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT alert_id::text FROM staff_alert WHERE kind = 'sensitive_word'"
                           " ORDER BY raised_at DESC LIMIT 1").fetchone()
    assert row is not None
    return str(row[0])


def _build_reports(app: Siyu, url: str, now: datetime) -> date:
    day = now.astimezone(SHANGHAI).date() - timedelta(days=1)
    with ConnectionPool(url, min_size=1, max_size=2) as pool:
        build_daily_reports(ReportDeps(app=app, store=ReportStore(pool),
                                       gateway=FakeStaffGateway()), day)
    catch_up(app)
    return day


@pytest.fixture(scope="module")
def world(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # Given a small demo, every read model caught up, and one token per principal
    reset_schema(pg_server)
    now = datetime.now(UTC)
    app = build_application(pg_server, SECRET)
    loaded = demo.load(app, customers=60, now=now)
    catch_up(app)
    front = [str(s) for s, role in loaded.staff if role in ("sales", "service", "chief_chat_officer")]
    manager = next(str(s) for s, role in loaded.staff if role == "private_domain_manager")
    values = _pick(pg_server, front)
    values["<alert id>"] = _raise_an_alert(app, pg_server, values["<staff id>"], now)
    values["<yesterday>"] = _build_reports(app, pg_server, now).isoformat()
    ensure_token_table(pg_server)
    tokens = {
        "manager": issue_token(pg_server, "staff", manager, "private_domain_manager", "docs"),
        "staff": issue_token(pg_server, "staff", values["<staff id>"], "sales", "docs"),
        "customer": issue_token(pg_server, "customer", values["<customer id>"], None, "docs"),
        "service": issue_token(pg_server, "service", "docs", None, "docs"),
    }
    settings = Settings(database_url=pg_server, broker_url=None,
                        data_dir=tmp_path_factory.mktemp("siyu"), secret=SECRET)
    try:
        with projections_running(app), \
                TestClient(create_app(settings), follow_redirects=False) as client:
            yield World(client=client, tokens=tokens, values=values)
    finally:
        app.close()


def _run(world: World, example: Example) -> dict[str, Any]:
    query = world.fill(example.text)
    variables = json.loads(world.fill(example.variables)) if example.variables else None
    token = world.tokens[example.token]
    if re.search(r"^subscription\b", query, re.M):
        with world.client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
            ws.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
            assert ws.receive_json()["type"] == "connection_ack"
            ws.send_json({"id": "1", "type": "subscribe",
                          "payload": {"query": query, "variables": variables}})
            message = ws.receive_json()
            ws.send_json({"id": "1", "type": "complete"})
        assert message["type"] == "next", message
        body: dict[str, Any] = message["payload"]
        return body
    response = world.client.post("/graphql", json={"query": query, "variables": variables},
                                 headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _at(data: Any, path: str) -> str:
    for part in path.split("."):
        data = data[part]
    return str(data)


@pytest.mark.integration
@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_each_example_answers_with_data(world: World, example: Example) -> None:
    # When the example is sent as its page says
    body = _run(world, example)
    # Then it answers without errors, with the data it shows
    assert not body.get("errors"), body["errors"]
    data = body["data"]
    assert data, body
    for name, value in data.items():
        assert value is not None, f"{name} is null"
        if example.may_be_empty:
            continue
        if isinstance(value, list):
            assert value, f"{name} is empty"
        if isinstance(value, dict) and "edges" in value:
            assert value["edges"], f"{name} has no edges"
    for path, name in example.keeps:
        world.kept[name] = _at(data, path)
