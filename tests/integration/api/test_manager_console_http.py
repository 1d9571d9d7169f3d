"""The manager overview and KPI lineage over HTTP, on the demo: who may read what, and
that every KPI with a lineage is recomputed, from its lineage events alone, to the very
figure ``staffKpis`` gives — for every front-line member and every department."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from projections.staff_performance.lineage import LINEAGE_KPIS
from tests.support.console_demo import DemoServer, demo_server

pytestmark = pytest.mark.integration

SHANGHAI = ZoneInfo("Asia/Shanghai")
LINEAGE = """query L($kpi: String!, $period: KpiPeriodInput!, $staffId: ID, $department: String,
                     $after: String) {
  kpiLineage(kpi: $kpi, period: $period, staffId: $staffId, department: $department,
             first: 200, after: $after) {
    value events { position kind staffId customerId at contribution }
    pageInfo { hasNextPage endCursor } } }"""
OVERVIEW = """query O($period: KpiPeriodInput!, $department: String) {
  managerOverview(period: $period, department: $department) {
    department firstDay lastDay gmvFen roi longTermRoi acquiredCustomers
    usersDaily { day miniProgram groups members wecomFriends personalWechat total }
    retentionByChannel { channel friendsNew retained7D retention7D }
    roles { role kpis members { staffId kpis { name value target achievement { ratio } } } } } }"""


@pytest.fixture(scope="module")
def server(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    with demo_server(pg_server, tmp_path_factory.mktemp("siyu")) as running:
        yield running


def gql(server: DemoServer, who: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{server.url}/graphql", json={"query": query, "variables": variables},
                          headers={"Authorization": f"Bearer {server.tokens[who]}"}, timeout=60)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def month(days_ago: int = 0) -> dict[str, str]:
    """The month holding the day ``days_ago`` (the demo covers the last 31 days)."""
    day = datetime.now(SHANGHAI).date() - timedelta(days=days_ago)
    return {"kind": "MONTH", "start": day.isoformat()}


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or []]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def recompute(server: DemoServer, who: str, kpi: str, selection: dict[str, str],
              period: dict[str, str] | None = None) -> tuple[float | None, float, int]:
    """The figure, the sum of its lineage's contributions over every page, and the count."""
    total, count, after, value = 0.0, 0, None, None
    while True:
        body = gql(server, who, LINEAGE, {"kpi": kpi, "period": period or month(),
                                          "after": after, **selection})
        assert not body.get("errors"), body
        page = body["data"]["kpiLineage"]
        value = page["value"]
        total += sum(e["contribution"] for e in page["events"])
        count += len(page["events"])
        if not page["pageInfo"]["hasNextPage"]:
            return value, total, count
        after = page["pageInfo"]["endCursor"]


def test_every_kpi_with_a_lineage_recomputes_to_its_figure(server: DemoServer) -> None:
    # Given the demo month, each front-line member and each department
    selections = [{"staffId": s} for s in server.front[:4]] + [
        {"department": d} for d in ("front_office", "middle_office")]
    opened, per_kpi = 0, dict.fromkeys((_camel(k) for k in LINEAGE_KPIS), 0)
    for kpi in sorted(per_kpi):
        for selection in selections:
            for period in (month(), month(days_ago=28)):  # the demo spans two months
                # When the manager opens the figure's lineage, page by page
                value, total, count = recompute(server, "manager", kpi, selection, period)
                # Then its events add up to the figure
                assert (value or 0) == total, (kpi, selection, period, value, total)
                opened += count
                per_kpi[kpi] += count
    assert opened > 500  # the demo month's facts (~900 with 60 customers), not an empty log
    # customers' sensitive words too (the demo has abuse, private and diverted orders)
    assert all(per_kpi[k] > 0 for k in ("customerSensitiveWordHits", "customerAbuseHits",
                                        "customerPrivateOrderHits",
                                        "customerDivertedOrderHits"))


def test_a_front_line_member_opens_only_their_own_figures(server: DemoServer) -> None:
    own = {"staffId": server.staff["staff"]}
    value, total, count = recompute(server, "staff", "friendsNew", own)
    assert value == total and count > 0
    other = {"staffId": next(s for s in server.front if s != server.staff["staff"])}
    for selection in (other, {"department": "front_office"}):
        body = gql(server, "staff", LINEAGE, {"kpi": "friendsNew", "period": month(),
                                              **selection})
        assert codes(body) == ["FORBIDDEN"]
    ratio = gql(server, "manager", LINEAGE, {"kpi": "conversionRate", "period": month(), **own})
    assert codes(ratio) == ["BAD_INPUT"]


def test_customers_outside_the_readers_scope_are_not_named(server: DemoServer) -> None:
    # Given the department manager of the front office reading a member's orders
    body = gql(server, "department_manager", LINEAGE, {"kpi": "ordersPaid", "period": month(),
                                                       "staffId": server.staff["staff"]})
    events = body["data"]["kpiLineage"]["events"]
    # Then customers of the department are named by id (never by name or phone)
    assert events and all(set(e) == {"position", "kind", "staffId", "customerId", "at",
                                     "contribution"} for e in events)


def test_a_customers_sensitive_words_open_to_their_categories(server: DemoServer) -> None:
    # Given the front office's customer-side abuse hits of the demo's two months
    query = """query L($period: KpiPeriodInput!) {
      kpiLineage(kpi: "customerAbuseHits", period: $period, department: "front_office",
                 first: 500) { value events { kind staffId categories contribution } } }"""
    events = []
    for period in (month(), month(days_ago=28)):
        body = gql(server, "manager", query, {"period": period})
        assert not body.get("errors"), body
        events += body["data"]["kpiLineage"]["events"]
    # Then each is a customer's message in a member's chat, with abuse among its categories
    assert events
    assert all(e["kind"] == "customer_sensitive_word_hit" and "abuse" in e["categories"]
               and e["staffId"] and e["contribution"] == 1 for e in events)
    # And some hit another category too (counted in both breakdowns, once in the total)
    assert any(len(e["categories"]) > 1 for e in events)


def test_the_manager_overview_has_a_daily_series_and_role_kpi_sets(server: DemoServer) -> None:
    body = gql(server, "manager", OVERVIEW, {"period": month(days_ago=28)})
    assert not body.get("errors"), body
    overview = body["data"]["managerOverview"]
    days = overview["usersDaily"]
    assert days[0]["day"] == overview["firstDay"]
    assert max(d["total"] for d in days) > 0 and overview["gmvFen"] > 0
    assert overview["retentionByChannel"]
    roles = {r["role"]: r for r in overview["roles"]}
    assert set(roles) == {"activity_planner", "copywriter", "content_operator", "user_operator",
                          "sales", "service"}
    assert len(roles["sales"]["members"]) == 6
    # And this month's members carry the targets the demo set for it
    now = gql(server, "manager", OVERVIEW, {"period": month()})["data"]["managerOverview"]
    sales = next(r for r in now["roles"] if r["role"] == "sales")
    targeted = [k for m in sales["members"] for k in m["kpis"] if k["target"] is not None]
    assert targeted and all(k["achievement"] is not None for k in targeted)


def test_a_department_manager_sees_their_department_only(server: DemoServer) -> None:
    mine = gql(server, "department_manager", OVERVIEW, {"period": month()})
    assert not mine.get("errors"), mine
    overview = mine["data"]["managerOverview"]
    assert overview["department"] == "front_office" and overview["longTermRoi"] is None
    assert all(d["miniProgram"] is None and d["groups"] is None for d in overview["usersDaily"])
    members = {m["staffId"] for r in overview["roles"] for m in r["members"]}
    assert members and members <= set(server.front)
    other = gql(server, "department_manager", OVERVIEW, {"period": month(),
                                                         "department": "middle_office"})
    assert codes(other) == ["FORBIDDEN"]
    assert codes(gql(server, "staff", OVERVIEW, {"period": month()})) == ["FORBIDDEN"]


def test_the_overview_reads_unrounded_fields_from_the_same_rollup(server: DemoServer) -> None:
    kpis = gql(server, "manager", "query K($p: KpiPeriodInput!) { staffKpis(department: "
               "\"front_office\", period: $p, kpis: [\"gmvFen\"]) { values { value } } }",
               {"p": month()})
    overview = gql(server, "department_manager", OVERVIEW, {"period": month()})
    assert (kpis["data"]["staffKpis"]["values"][0]["value"]
            == overview["data"]["managerOverview"]["gmvFen"])


