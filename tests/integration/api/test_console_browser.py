"""The staff console in a real headless browser (Debian's chromium driven by Playwright):
every page renders with data from the demo, the live leaderboard updates when an event is
recorded, and a front-line token sees only what it may — the rest shows as forbidden.

The fixture installs chromium with apt-get when it is missing and the tests run as root
(as CI does); Playwright never downloads a browser of its own."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from domain.ingestion import EventItem
from siyu import demo
from tests.support.console_demo import DemoServer, demo_server

pytestmark = pytest.mark.integration

WAIT_MS = 30_000  # pages answer in well under a second; the suite may run under load


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=True, env=env,
                       capture_output=True)
        path = shutil.which("chromium")
    if path is None:
        pytest.skip("chromium is missing: `apt-get install chromium` (the test installs it as root)")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = _chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True,
                                              args=["--no-sandbox", "--disable-gpu"])
        yield launched
        launched.close()


def _gql(server: DemoServer, query: str, variables: dict[str, Any] | None = None) -> Any:
    response = httpx.post(f"{server.url}/graphql", json={"query": query, "variables": variables},
                          headers={"Authorization": f"Bearer {server.tokens['manager']}"},
                          timeout=60)
    body = response.json()
    assert not body.get("errors"), body
    return body["data"]


@pytest.fixture(scope="module")
def server(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    # Given the demo, with an activity planned and a campaign launched over it
    with demo_server(pg_server, tmp_path_factory.mktemp("siyu")) as running:
        now = datetime.now(UTC)
        _gql(running, """mutation P($s: DateTime!, $e: DateTime!) { planActivity(input: {
            name: "双十二大促", kind: PROMOTION, startsAt: $s, endsAt: $e,
            channels: ["qr:store-shanghai-01", "qr:douyin-ad"], products: [],
            targetGmvFen: 5000000, targetUsers: 200, targetAovFen: 50000}) { projected } }""",
             {"s": (now - timedelta(days=30)).isoformat(), "e": (now + timedelta(days=2)).isoformat()})
        drafted = _gql(running, """mutation D($seg: ID!) { draftCampaign(input: {name: "双十二",
            segmentId: $seg, channel: "wecom_mass", holdoutPercent: 10, costFen: 500000,
            attributionDays: 7, harmDays: 7, variants: [{variantId: "all", text: "双十二见"}]})
            { campaignId } }""", {"seg": str(demo.segment_id("已购客户"))})
        _gql(running, "mutation L($id: ID!) { launchCampaign(campaignId: $id) { __typename } }",
             {"id": drafted["draftCampaign"]["campaignId"]})
        yield running


def _open(browser: Browser, server: DemoServer, who: str) -> Page:
    page = browser.new_context().new_page()
    page.goto(f"{server.url}/console")
    page.fill("#token", server.tokens[who])
    page.click("#token-form button")
    return page


def _show(page: Page, route: str) -> str:
    page.evaluate("route => { location.hash = route; }", route)
    name = route.split("?")[0]
    section = page.locator(f"#page[data-page='{name}']:not([data-state='loading'])")
    expect(section).to_be_attached(timeout=WAIT_MS)
    return str(section.get_attribute("data-state"))


def _names(server: DemoServer) -> dict[str, str]:
    """Every staff member's display name, as the company manager reads them (in clear)."""
    rows = _gql(server, "{ staffMembers(includeLeft: true) { id displayName } }")
    return {r["id"]: r["displayName"] for r in rows["staffMembers"]}


def _shown_names(page: Page, where: str) -> dict[str, str]:
    cells = page.locator(f"{where} .staff[data-staff-id]")
    return {str(cells.nth(i).get_attribute("data-staff-id")): cells.nth(i).inner_text()
            for i in range(cells.count())}


def test_each_page_renders_with_data_from_the_demo(browser: Browser, server: DemoServer) -> None:
    page = _open(browser, server, "manager")
    last_month = (datetime.now(UTC) - timedelta(days=28)).date().isoformat()
    names = _names(server)
    # Then the leaderboard ranks the front line, by name
    assert _show(page, "leaderboard?kpi=friendsNew&kind=MONTH") == "ready"
    expect(page.locator("table.leaderboard tbody tr")).not_to_have_count(0)
    assert page.locator("svg.bar-chart rect").count() > 0
    shown = _shown_names(page, "table.leaderboard")
    assert shown and shown == {s: names[s] for s in shown}
    assert all(len(n) > 1 and "*" not in n for n in shown.values())
    # And the overview draws the daily series per touchpoint and the role KPI sets, by name
    assert _show(page, f"overview?kind=MONTH&start={last_month}") == "ready"
    assert page.locator("svg.line-chart path[data-series]").count() >= 5
    assert page.locator("svg.line-chart circle").count() > 20
    expect(page.locator("table.role")).not_to_have_count(0)
    shown = _shown_names(page, "table.role")
    assert shown and shown == {s: names[s] for s in shown}
    # And the activity's KPI tree, a segment's size over time and the campaign report
    assert _show(page, "activity") == "ready"
    expect(page.locator(".activity-tree .tile")).to_have_count(5)
    assert _show(page, "segments") == "ready"
    assert page.locator("svg.line-chart circle").count() > 1
    assert _show(page, "campaign") == "ready"
    expect(page.locator("table.report tbody tr")).to_have_count(9)
    # And funnel and cohorts render, or say they are not on this server yet
    for name in ("funnel", "cohorts"):
        assert _show(page, name) in ("ready", "unavailable")
    # And a figure opens to its events, which add up to it
    _show(page, f"overview?kind=MONTH&start={last_month}")
    # (a member with orders: the demo's staff ids, and so the table's order, vary per run)
    page.locator("table.role a.figure[href*='kpi=ordersPaid']").filter(
        has_not_text=re.compile(r"^0$")).first.click()
    expect(page.locator("#page[data-page='lineage'][data-state='ready']")).to_be_attached(
        timeout=WAIT_MS)
    rows = page.locator("table.lineage tbody tr")
    expect(rows).not_to_have_count(0)
    assert float(page.locator(".lineage-value").inner_text()) == rows.count()  # +1 per order
    # And nothing was kept in a cookie
    assert page.context.cookies() == []


def _row_of(page: Page, staff_id: str) -> Any:
    return page.locator("table.leaderboard tbody tr",
                        has=page.locator(f"[data-staff-id='{staff_id}']"))


def _value_of(page: Page, staff_id: str) -> float:
    row = _row_of(page, staff_id)
    return float(row.locator("td").nth(2).inner_text().replace(",", "") or 0)


def test_the_leaderboard_updates_in_the_page_when_a_friend_is_added(
        browser: Browser, server: DemoServer) -> None:
    # Given today's friendsNew board open in the browser
    page = _open(browser, server, "manager")
    assert _show(page, "leaderboard?kpi=friendsNew&kind=DAY") == "ready"
    staff = server.front[0]
    before = _value_of(page, staff)
    updates = int(page.locator("#page").get_attribute("data-updates") or 0)
    # When one of the front line adds a friend now
    result = server.app.ingestion.record_batch([EventItem(
        "console-live-1", "FRIEND_ADDED", ("wx_unionid", "u-console-live"), datetime.now(UTC),
        staff_id=staff, channel="qr:store-shanghai-01")], "service:console-tests")
    assert result.count("accepted") == 1
    # Then the page shows the new ranking without a reload
    expect(page.locator("#page")).not_to_have_attribute("data-updates", str(updates),
                                                       timeout=WAIT_MS)
    expect(_row_of(page, staff).locator("td").nth(2)
           ).to_have_text(str(int(before + 1)), timeout=WAIT_MS)


def test_a_front_line_token_sees_only_what_it_may(browser: Browser, server: DemoServer) -> None:
    page = _open(browser, server, "staff")
    # The team's leaderboard is everyone's: their own name in clear, colleagues' masked
    assert _show(page, "leaderboard?kpi=gmvFen&kind=MONTH") == "ready"
    names, own = _names(server), server.staff["staff"]
    shown = _shown_names(page, "table.leaderboard")
    assert own in shown and len(shown) > 1
    assert shown == {s: names[s] if s == own else names[s][:1] + "*" * (len(names[s]) - 1)
                     for s in shown}
    # The manager's overview and the campaigns are not: the pages say so
    for route in ("overview", "campaign"):
        assert _show(page, route) == "forbidden"
        expect(page.locator("[data-code='FORBIDDEN']")).to_be_visible()
    # Their own figures open to their events; another member's do not
    assert _show(page, f"lineage?kpi=friendsNew&staffId={own}&kind=MONTH") == "ready"
    other = next(s for s in server.front if s != own)
    assert _show(page, f"lineage?kpi=friendsNew&staffId={other}&kind=MONTH") == "forbidden"


def test_the_console_is_served_with_its_assets_and_a_strict_policy(server: DemoServer) -> None:
    page = httpx.get(f"{server.url}/console", timeout=30)
    assert page.status_code == 200 and "set-cookie" not in page.headers
    assert "connect-src 'self'" in page.headers["content-security-policy"]
    for name in ("data.js", "charts.js", "pages.js", "reports.js", "console.js", "console.css"):
        asset = httpx.get(f"{server.url}/console/{name}", timeout=30)
        assert asset.status_code == 200 and asset.content == (
            Path(__file__).parents[3] / "api" / "console" / name).read_bytes()
    assert httpx.get(f"{server.url}/console/../app.py", timeout=30).status_code == 404
