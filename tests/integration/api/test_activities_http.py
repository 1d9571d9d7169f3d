"""Activities over HTTP: the four-level KPI tree, recomputed from the raw event log.

The recomputation below reads the stored events through the library's mapper and applies
the attribution rules of ``docs/activities.md`` with code of its own (no read-model code):
every figure of the whole-activity tree, of each channel and of each day must match.
"""

from __future__ import annotations

import math
import random
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from application.app import Siyu
from domain.customer import Customer
from tests.integration.api.conftest import Api
from tests.integration.api.test_campaigns_http import draft
from tests.integration.api.test_segments_http import define
from tests.integration.api.test_tag_groups_http import data, error

pytestmark = pytest.mark.integration

PLAN = """mutation($input: ActivityPlanInput!) { planActivity(input: $input) {
  activity { id name steps channels } projected } }"""
REVISE = """mutation($id: ID!, $plan: ActivityPlanInput!) {
  reviseActivity(input: {activityId: $id, plan: $plan}) { activity { channels } projected } }"""
CANCEL = """mutation($id: ID!) { cancelActivity(input: {activityId: $id, reason: "停办"}) {
  activity { cancelledAt } } }"""
TREE = """fragment T on ActivityKpiTree { achievementRate gmvFen targetGmvFen users buyers orders
  conversion aovFen ordersPerBuyer gmvPerOrderFen
  journey { step customers rateFromPrevious } contributions { factor actual target gapFen } }
query($id: ID!) { activity(id: $id) { name figures { total { ...T }
  byChannel { key tree { ...T } } byDay { key tree { ...T } } } } }"""
LIST = """query($c: Boolean!) { activities(includeCancelled: $c) { edges { node { name } } } }"""

SHANGHAI = ZoneInfo("Asia/Shanghai")
CHANNELS = ["qr:store-01", "qr:store-02", "qr", "qrcode", "h5:ad", None]
STEPS = ["reach", "visit", "cart", "order", "pay"]
#: The customer events whose channel counts, and those naming a campaign (docs/activities.md).
CHANNELLED = (Customer.FriendAdded, Customer.ChannelCodeScanned, Customer.ProductViewed,
              Customer.ContentViewed, Customer.OrderPlaced, Customer.OrderPaid)
CAMPAIGN_FACTS = (Customer.CampaignMessageSent, Customer.CampaignMessageRead,
                  Customer.CampaignLinkClicked)


def plan_input(start: datetime, campaign: str, **overrides: Any) -> dict[str, Any]:
    return {"name": "双十二大促", "kind": "PROMOTION", "startsAt": start.isoformat(),
            "endsAt": (start + timedelta(days=10)).isoformat(), "targetGmvFen": 3_000_000,
            "channels": ["qr"], "campaignIds": [campaign], "products": ["A"],
            "targetUsers": 40, "targetAovFen": 150_000, **overrides}


def journeys(activity_id: str, campaign: str, start: datetime, seed: int) -> list[dict[str, Any]]:
    """Customer events around the period, some inside it, some not, every kind of entry."""
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []

    def at() -> str:
        return (start + timedelta(hours=rng.uniform(-72, 300))).isoformat()

    for n in range(36):
        who = {"namespace": "wx_unionid", "value": f"oAct{seed}-{n}"}
        add = _adder(events, who, at)
        add("FRIEND_ADDED", channel=rng.choice(CHANNELS) or "wecom",
            staffId="0a6f0000-0000-4000-8000-000000000001")
        if rng.random() < 0.25:
            add("ACTIVITY_JOINED", activityId=activity_id, activityKind="promotion")
        if rng.random() < 0.25:
            add("CAMPAIGN_MESSAGE_READ", campaignId=campaign)
        for _ in range(rng.randint(0, 3)):
            add("PRODUCT_VIEWED", sku=rng.choice("AB"), channel=rng.choice(CHANNELS))
        if rng.random() < 0.3:
            add("CONTENT_VIEWED", contentId="article-1", channel=rng.choice(CHANNELS))
        for _ in range(rng.randint(0, 2)):
            add("ADDED_TO_CART", sku=rng.choice("AB"), quantity=1)
        for k in range(rng.randint(0, 2)):
            order_id, sku = f"o{seed}-{n}-{k}", rng.choice("AB")
            amount = rng.randint(50, 500) * 100
            items = [{"sku": sku, "quantity": 1, "priceFen": amount}]
            channel = rng.choice(CHANNELS)
            if rng.random() < 0.7:
                add("ORDER_PLACED", orderId=order_id, amountFen=amount, items=items,
                    channel=channel)
            if rng.random() < 0.8:
                add("ORDER_PAID", orderId=order_id, amountFen=amount, items=items,
                    channel=channel)
                if rng.random() < 0.3:
                    add("ORDER_REFUNDED", orderId=order_id, amountFen=amount // 4)
    return events


def _adder(events: list[dict[str, Any]], who: dict[str, str], at: Callable[[], str]
           ) -> Callable[..., None]:
    def add(kind: str, **fields: Any) -> None:
        events.append({"eventId": f"act-{who['value']}-{len(events)}", "type": kind,
                       "customer": who, "occurredAt": at(), **fields})
    return add


def record(api: Api, events: list[dict[str, Any]]) -> None:
    for i in range(0, len(events), 100):
        body = data(api.gql("""mutation($e: [CustomerEventInput!]!) { recordCustomerEvents(
            input: {events: $e, waitForProjection: true}) { results { status error { code } } } }""",
                            {"e": events[i:i + 100]}))
        results = body["recordCustomerEvents"]["results"]
        # refunds and payments of orders that were never paid/placed are refused: fine
        assert all(r["status"] == "ACCEPTED" or r["error"]["code"] == "UNKNOWN_ORDER"
                   for r in results), results


# -- the independent recomputation -----------------------------------------------------------
def recompute(app: Siyu, plan: dict[str, Any], activity_id: str
              ) -> dict[tuple[str, str], dict[str, Any]]:
    start, end = (datetime.fromisoformat(plan[k]) for k in ("startsAt", "endsAt"))
    channels, products = plan["channels"], set(plan["products"])
    campaigns = {UUID(c) for c in plan["campaignIds"]}
    facts: list[tuple[int, Any]] = []
    for n in app.recorder.select_notifications(start=1, limit=1_000_000):
        if n.topic.startswith("domain.customer:Customer."):
            facts.append((n.id, app.mapper.to_domain_event(n)))

    def under(channel: str | None) -> bool:
        return channel is not None and any(
            channel == c or channel.startswith(c + ":") for c in channels)

    entries: dict[UUID, tuple[datetime, int, str]] = {}
    refunds: dict[tuple[UUID, str], int] = defaultdict(int)
    for position, e in facts:
        if isinstance(e, Customer.OrderRefunded):
            refunds[(e.originator_id, e.order_id)] += e.amount_fen
        if not start <= e.occurred_at < end:
            continue
        channel = e.first_channel if isinstance(e, Customer.Registered) else \
            e.channel if isinstance(e, CHANNELLED) else None
        campaign = e.campaign_id if isinstance(e, CAMPAIGN_FACTS) else None
        if isinstance(e, Customer.ActivityJoined) and e.activity_id == activity_id:
            how = "activity"
        elif campaign is not None and UUID(campaign) in campaigns:
            how = f"campaign:{campaign}"
        elif under(channel):
            how = str(channel)
        else:
            continue
        rank = (e.occurred_at, position, how)
        if e.originator_id not in entries or rank < entries[e.originator_id]:
            entries[e.originator_id] = rank
    by_slice: dict[tuple[str, str], dict[str, set[UUID]]] = defaultdict(lambda: defaultdict(set))
    money: dict[tuple[str, str], list[tuple[UUID, int]]] = defaultdict(list)

    def day(at: datetime) -> str:
        return at.astimezone(SHANGHAI).date().isoformat()

    def mark(who: UUID, step: str, at: datetime) -> None:
        for key in (("all", ""), ("channel", entries[who][2]), ("day", day(at))):
            by_slice[key][step].add(who)

    for who, (entered, _, _) in entries.items():
        mark(who, "reach", entered)
    for _, e in facts:
        who = e.originator_id
        if who not in entries or not start <= e.occurred_at < end:
            continue
        skus = {e.sku} if isinstance(e, (Customer.ProductViewed, Customer.AddedToCart)) else \
            {i["sku"] for i in getattr(e, "items", [])}
        holds = not products or bool(skus & products)
        if isinstance(e, (Customer.ContentViewed, Customer.LiveStreamWatched)) or (
                isinstance(e, Customer.ProductViewed) and holds) or (
                isinstance(e, Customer.ActivityJoined) and e.activity_id == activity_id) or (
                isinstance(e, Customer.CampaignLinkClicked) and UUID(e.campaign_id) in campaigns):
            mark(who, "visit", e.occurred_at)
        elif isinstance(e, Customer.AddedToCart) and holds:
            mark(who, "cart", e.occurred_at)
        elif isinstance(e, Customer.OrderPlaced) and holds:
            mark(who, "order", e.occurred_at)
        elif isinstance(e, Customer.OrderPaid) and holds:
            mark(who, "order", e.occurred_at)
            mark(who, "pay", e.occurred_at)
            net = e.amount_fen - refunds[(who, e.order_id)]
            for key in (("all", ""), ("channel", entries[who][2]), ("day", day(e.occurred_at))):
                money[key].append((who, net))
    result: dict[tuple[str, str], dict[str, Any]] = {}
    for key in set(by_slice) | set(money):
        paid = money.get(key, [])
        result[key] = {"journey": [len(by_slice[key][s]) for s in STEPS],
                       "buyers": len({w for w, _ in paid}), "orders": len(paid),
                       "gmvFen": sum(n for _, n in paid)}
    return result


def shown(tree: dict[str, Any]) -> dict[str, Any]:
    return {"journey": [s["customers"] for s in tree["journey"]], "buyers": tree["buyers"],
            "orders": tree["orders"], "gmvFen": tree["gmvFen"]}


def figures(api: Api, activity_id: str) -> dict[str, Any]:
    found: dict[str, Any] = data(api.gql(TREE, {"id": activity_id}, as_="staff"))["activity"][
        "figures"]
    return found


def wait_for_journeys(api: Api, activity_id: str, reach_at_least: int) -> None:
    for _ in range(200):  # recordCustomerEvents waits for customer_profile only
        if figures(api, activity_id)["total"]["journey"][0]["customers"] >= reach_at_least:
            return
        time.sleep(0.05)


def test_the_kpi_tree_equals_a_recomputation_from_the_raw_log(api: Api, pg_app: Siyu) -> None:
    # Given an activity with a linked campaign, planned before its customers act
    campaign = draft(api, define(api, "buyers", {"ordered": {"atLeast": 1}}))
    start = (datetime.now(UTC) - timedelta(days=20)).replace(microsecond=0)
    plan = plan_input(start, campaign)
    planned = data(api.gql(PLAN, {"input": plan}, as_="manager"))["planActivity"]
    assert planned["projected"] is True
    activity_id = planned["activity"]["id"]
    assert planned["activity"]["steps"] == ["REACH", "VISIT", "CART", "ORDER", "PAY"]
    # When customers act around its period through every kind of entry
    record(api, journeys(activity_id, campaign, start, seed=7))
    expected = recompute(pg_app, plan, activity_id)
    wait_for_journeys(api, activity_id, expected[("all", "")]["journey"][0])
    got = figures(api, activity_id)
    # Then every figure, whole, per channel and per day, is the recomputation's
    assert shown(got["total"]) == expected[("all", "")]
    assert {s["key"]: shown(s["tree"]) for s in got["byChannel"]} == {
        k: v for (s, k), v in expected.items() if s == "channel"}
    assert {s["key"]: shown(s["tree"]) for s in got["byDay"]} == {
        k: v for (s, k), v in expected.items() if s == "day"}
    # And the levels hold together: GMV = users * conversion * AOV, and the LMDI parts of the
    # gap sum to GMV - target
    total = got["total"]
    assert total["users"] == total["journey"][0]["customers"] > 0
    assert total["buyers"] > 0
    assert math.isclose(total["users"] * total["conversion"] * total["aovFen"],
                        total["gmvFen"])
    assert math.isclose(total["achievementRate"], total["gmvFen"] / 3_000_000)
    assert math.isclose(sum(c["gapFen"] for c in total["contributions"]),
                        total["gmvFen"] - 3_000_000, abs_tol=1e-6)
    assert [c["factor"] for c in total["contributions"]] == ["users", "conversion", "aov"]
    # And 'qr' covers 'qr:store-01' but not 'qrcode'
    assert "qrcode" not in {s["key"] for s in got["byChannel"]}


def test_a_revision_rejudges_history(api: Api, pg_app: Siyu) -> None:
    campaign = draft(api, define(api, "buyers", {"ordered": {"atLeast": 1}}))
    start = (datetime.now(UTC) - timedelta(days=20)).replace(microsecond=0)
    plan = plan_input(start, campaign)
    activity_id = data(api.gql(PLAN, {"input": plan}, as_="manager"))["planActivity"][
        "activity"]["id"]
    record(api, journeys(activity_id, campaign, start, seed=11))
    wait_for_journeys(api, activity_id, recompute(pg_app, plan, activity_id)[("all", "")][
        "journey"][0])
    # When the plan is revised to other channels and every product
    revised_plan = plan_input(start, campaign, channels=["h5"], products=[])
    revised = data(api.gql(REVISE, {"id": activity_id, "plan": revised_plan},
                           as_="manager"))["reviseActivity"]
    assert revised == {"activity": {"channels": ["h5"]}, "projected": True}
    # Then the figures are those of the revised plan, over the same history
    expected = recompute(pg_app, revised_plan, activity_id)
    live = figures(api, activity_id)
    assert shown(live["total"]) == expected[("all", "")]


def test_bad_plans_get_typed_errors_and_only_planners_write(api: Api) -> None:
    campaign = draft(api, define(api, "buyers", {"ordered": {"atLeast": 1}}))
    start = datetime.now(UTC).replace(microsecond=0)
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"endsAt": start.isoformat()}, "BAD_INPUT", "endsAt"),
        ({"steps": ["REACH", "VISIT"]}, "BAD_INPUT", "steps"),
        ({"steps": ["PAY", "REACH"]}, "BAD_INPUT", "steps"),
        ({"targetGmvFen": 0}, "BAD_INPUT", "targetGmvFen"),
        ({"targetUsers": None}, "BAD_INPUT", "targetUsers"),
        ({"targetUsers": 1, "targetAovFen": 100}, "BAD_INPUT", "targetUsers"),
        ({"campaignIds": ["0a6f0000-0000-4000-8000-0000000000ff"]}, "NOT_FOUND", "campaignIds"),
        ({"campaignIds": ["not-an-id"]}, "BAD_INPUT", "campaignIds"),
        ({"channels": [" "]}, "BAD_INPUT", "channels"),
    ]
    for overrides, code, field in cases:
        found = error(api.gql(PLAN, {"input": plan_input(start, campaign, **overrides)},
                              as_="manager"))
        assert (found["code"], found.get("field")) == (code, field), overrides
    assert error(api.gql(PLAN, {"input": plan_input(start, campaign)}, as_="staff"))[
        "code"] == "FORBIDDEN"
    assert error(api.gql(REVISE, {"id": "0a6f0000-0000-4000-8000-0000000000ff",
                                  "plan": plan_input(start, campaign)}, as_="manager"))[
        "code"] == "NOT_FOUND"
    # A cancelled activity is listed only on request and can no longer be revised
    activity_id = data(api.gql(PLAN, {"input": plan_input(start, campaign)}, as_="manager"))[
        "planActivity"]["activity"]["id"]
    assert data(api.gql(CANCEL, {"id": activity_id}, as_="manager"))["cancelActivity"][
        "activity"]["cancelledAt"]
    assert data(api.gql(LIST, {"c": False}, as_="staff"))["activities"]["edges"] == []
    assert len(data(api.gql(LIST, {"c": True}, as_="staff"))["activities"]["edges"]) == 1
    assert error(api.gql(REVISE, {"id": activity_id, "plan": plan_input(start, campaign)},
                         as_="manager"))["code"] == "ACTIVITY_CANCELLED"
