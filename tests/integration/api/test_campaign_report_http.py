"""The GraphQL campaign ``report``, every figure, against a recomputation from the raw event log.

The recomputation below reads the stored events and nothing else (no read model, no
projection code): who was sent the message, who was held out, their reads, clicks, orders
and harm, each customer's owner over time. A figure the projection gets wrong — harm
kinds swapped, holdout reads counted, an order outside the window — fails the test.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from application.app import Siyu
from application.campaign_launch import launch
from domain.campaign import Campaign
from domain.customer import Customer
from domain.ingestion import EventItem
from projections.runner import Tracker
from tests.integration.api.conftest import Api
from tests.integration.workers.test_campaign_sends_on_postgres import RecordingGateway
from workers.campaign_sending import CampaignDeps, send_chunk
from workers.campaign_store import CampaignStore
from workers.campaigns import CampaignDispatcher

pytestmark = pytest.mark.integration

APP = "wx_openid:wxreport"
STAFF = ("wecom_user:a", "wecom_user:b", "wecom_user:c")
FIGURES = "customers read clicked converted orders gmvFen harmed deleted muted optedOut " \
          "conversionRate harmRate"
REPORT = f"""
query($id: ID!) {{ campaign(id: $id) {{ costFen report {{
  recipients {{ {FIGURES} }} holdout {{ {FIGURES} }} roi conversionLift harmLift
  byStaff {{ staffId orders gmvFen }} }} }} }}"""


@dataclass
class Truth:
    """What the raw events say about one campaign."""

    cost_fen: int = 0
    attribution: timedelta = timedelta(days=7)
    harm_window: timedelta = timedelta(days=7)
    launched_at: datetime | None = None
    sent_at: dict[UUID, datetime] = field(default_factory=dict)
    holdout: set[UUID] = field(default_factory=set)
    read: set[UUID] = field(default_factory=set)
    clicked: set[UUID] = field(default_factory=set)
    orders: dict[UUID, list[tuple[datetime, int]]] = field(default_factory=lambda: defaultdict(list))
    harm: dict[UUID, list[tuple[datetime, str]]] = field(default_factory=lambda: defaultdict(list))
    owners: dict[UUID, list[tuple[datetime, str | None]]] = field(
        default_factory=lambda: defaultdict(list))


def truth_of(app: Siyu, campaign_id: UUID) -> Truth:
    """Fold the whole stored log with plain Python."""
    truth = Truth()
    start = 1
    while True:
        page = app.recorder.select_notifications(start, 1000)
        if not page:
            break
        for stored in page:
            _fold(truth, campaign_id, app.mapper.to_domain_event(stored))
        start = page[-1].id + 1
    return truth


def _fold(t: Truth, campaign_id: UUID, e: Any) -> None:
    cid = str(campaign_id)
    if isinstance(e, Campaign.Drafted) and e.originator_id == campaign_id:
        t.cost_fen = e.cost_fen
        t.attribution, t.harm_window = timedelta(days=e.attribution_days), timedelta(
            days=e.harm_days)
    elif isinstance(e, Campaign.Launched) and e.originator_id == campaign_id:
        t.launched_at = e.planned_at
    elif isinstance(e, Campaign.RecipientsExcluded) and e.originator_id == campaign_id:
        t.holdout |= {UUID(c) for c, reason in e.excluded if reason == "HOLDOUT"}
    elif isinstance(e, Customer.CampaignMessageSent) and e.campaign_id == cid:
        t.sent_at.setdefault(e.originator_id, e.occurred_at)
    elif isinstance(e, Customer.CampaignMessageRead) and e.campaign_id == cid:
        t.read.add(e.originator_id)
    elif isinstance(e, Customer.CampaignLinkClicked) and e.campaign_id == cid:
        t.clicked.add(e.originator_id)
    elif isinstance(e, Customer.OrderPaid):
        t.orders[e.originator_id].append((e.occurred_at, e.amount_fen))
    elif isinstance(e, Customer.FriendDeleted) and e.deleted_by == "customer":
        t.harm[e.originator_id].append((e.occurred_at, "deleted"))
    elif isinstance(e, Customer.StaffMuted):
        t.harm[e.originator_id].append((e.occurred_at, "muted"))
    elif isinstance(e, Customer.DoNotDisturbSet) or (
            isinstance(e, Customer.ConsentWithdrawn) and e.purpose == "marketing"):
        t.harm[e.originator_id].append((e.occurred_at, "opted_out"))
    elif isinstance(e, Customer.OwnerChanged):
        t.owners[e.originator_id].append((e.occurred_at, e.staff_id))


def expected_group(t: Truth, refs: dict[UUID, datetime], recipients: bool) -> dict[str, Any]:
    converted = orders = gmv = harmed = 0
    kinds: dict[str, int] = {"deleted": 0, "muted": 0, "opted_out": 0}
    for customer, ref in refs.items():
        won = [a for at, a in t.orders[customer] if ref <= at < ref + t.attribution]
        converted += bool(won)
        orders += len(won)
        gmv += sum(won)
        hurt = {kind for at, kind in t.harm[customer] if ref <= at < ref + t.harm_window}
        harmed += bool(hurt)
        for kind in hurt:
            kinds[kind] += 1
    n = len(refs)
    return {"customers": n,
            "read": len(t.read & set(refs)) if recipients else None,
            "clicked": len(t.clicked & set(refs)) if recipients else None,
            "converted": converted, "orders": orders, "gmvFen": gmv, "harmed": harmed,
            "deleted": kinds["deleted"], "muted": kinds["muted"], "optedOut": kinds["opted_out"],
            "conversionRate": converted / n, "harmRate": harmed / n}


def expected_by_staff(t: Truth) -> list[dict[str, Any]]:
    credit: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for customer, ref in t.sent_at.items():
        for at, amount in t.orders[customer]:
            if ref <= at < ref + t.attribution:
                owner = [s for since, s in sorted(t.owners[customer], key=lambda o: o[0])
                         if since <= at]
                cell = credit[(owner[-1] if owner else None) or ""]
                cell[0] += 1
                cell[1] += amount
    return [{"staffId": s, "orders": o, "gmvFen": g}
            for s, (o, g) in sorted(credit.items(), key=lambda kv: (-kv[1][1], kv[0]))]


def _who(n: int) -> tuple[str, str]:
    return (APP, f"oRep{n:04d}")


def _send_everything(app: Siyu, pg_url: str) -> None:
    store = CampaignStore.connect(pg_url)
    messages: list[tuple[str, int, list[str]]] = []
    try:
        CampaignDispatcher(store, lambda c, s, i: messages.append((c, s, i))).run_once()
        deps = CampaignDeps(app=app, store=store, gateway=RecordingGateway())
        for c, s, ids in messages:
            send_chunk(deps, UUID(c), s, [UUID(x) for x in ids])
    finally:
        store.close()


def _wait(app: Siyu, tracker: Tracker) -> None:
    last = app.recorder.max_notification_id() or 0
    for view in ("customer_profile", "campaign", "customer_ownership"):
        assert tracker.wait(view, last, 15), view


def test_every_figure_of_the_campaign_report_matches_the_raw_events(
        api: Api, pg_app: Siyu, pg_url: str) -> None:
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    # Given 120 buyers, friends of three staff members, and a campaign to them with a holdout
    month_ago = datetime.now(UTC) - timedelta(days=30)
    items = []
    for n in range(120):
        items += [EventItem(f"f{n}", "FRIEND_ADDED", _who(n), month_ago, channel="qr",
                            staff_id=STAFF[n % 3]),
                  EventItem(f"o{n}", "ORDER_PAID", _who(n), month_ago + timedelta(hours=1),
                            order_id=f"old-{n}", amount_fen=100)]
    pg_app.ingestion.record_batch(items, "service:test")
    segment_id, _ = pg_app.segments.define("buyers", "", {"ordered": {"atLeast": 1}},
                                           "staff:m", month_ago)
    campaign_id, _ = pg_app.campaigns.draft(
        "report", "staff:m", "mini_program", segment_id, [{"variant_id": "a", "text": "hi"}],
        "staff:m", month_ago, holdout_percent=30, cost_fen=12_345, attribution_days=7,
        harm_days=3)
    _wait(pg_app, tracker)
    launch(pg_app, tracker, campaign_id, "staff:m",
           datetime.now(UTC).replace(hour=4, minute=0) - timedelta(days=1))
    _send_everything(pg_app, pg_url)
    # When everyone (holdout too) reports reads, clicks, orders in and out of the window,
    # and harm of every kind, some of it after the harm window
    now = datetime.now(UTC)
    later = now + timedelta(seconds=2)
    facts: list[EventItem] = []
    for n in range(120):
        w = _who(n)
        if n % 3 == 0:
            facts.append(EventItem(f"r{n}", "CAMPAIGN_MESSAGE_READ", w, later,
                                   campaign_id=str(campaign_id)))
        if n % 6 == 0:
            facts.append(EventItem(f"c{n}", "CAMPAIGN_LINK_CLICKED", w, later,
                                   campaign_id=str(campaign_id)))
        if n % 4 == 0:
            facts.append(EventItem(f"p{n}", "ORDER_PAID", w, later, order_id=f"new-{n}",
                                   amount_fen=500 + n))
        if n % 8 == 0:
            facts.append(EventItem(f"q{n}", "ORDER_PAID", w, later, order_id=f"two-{n}",
                                   amount_fen=70))
        if n % 7 == 0:
            facts.append(EventItem(f"d{n}", "FRIEND_DELETED", w, later,
                                   staff_id=STAFF[n % 3], deleted_by="customer"))
        if n % 10 == 1:
            facts.append(EventItem(f"s{n}", "FRIEND_DELETED", w, later,
                                   staff_id=STAFF[n % 3], deleted_by="staff"))  # not harm
        if n % 3 == 0:  # over twice as many as deletions: the two counts cannot coincide
            facts.append(EventItem(f"m{n}", "STAFF_MUTED", w, later, staff_id=STAFF[n % 3]))
        if n % 11 == 0:
            facts.append(EventItem(f"n{n}", "DND_SET", w, later))
        if n % 13 == 0:
            facts += [EventItem(f"g{n}", "CONSENT_GIVEN", w, month_ago, purpose="marketing",
                                wording_version="v1"),
                      EventItem(f"w{n}", "CONSENT_WITHDRAWN", w, later, purpose="marketing")]
    pg_app.ingestion.record_batch(facts, "service:test")
    _wait(pg_app, tracker)
    body = api.gql(REPORT, {"id": str(campaign_id)}, as_="manager")
    assert "errors" not in body, body
    got = body["data"]["campaign"]["report"]
    # Then every figure is what the raw events say
    truth = truth_of(pg_app, campaign_id)
    assert truth.launched_at is not None and truth.holdout and truth.sent_at
    recipients = expected_group(truth, truth.sent_at, recipients=True)
    holdout = expected_group(truth, dict.fromkeys(truth.holdout, truth.launched_at),
                             recipients=False)
    assert got["recipients"] == recipients
    assert got["holdout"] == holdout
    assert got["roi"] == recipients["gmvFen"] / truth.cost_fen
    assert got["conversionLift"] == recipients["conversionRate"] - holdout["conversionRate"]
    assert got["harmLift"] == recipients["harmRate"] - holdout["harmRate"]
    assert got["byStaff"] == expected_by_staff(truth)
    # And the world is rich enough that a swapped or dropped figure shows
    for figure in ("read", "clicked", "converted", "deleted", "muted", "optedOut"):
        assert recipients[figure] > 0, figure
    assert recipients["deleted"] != recipients["muted"]
    assert holdout["deleted"] > 0 and holdout["muted"] > 0 and holdout["deleted"] != holdout["muted"]
    assert len(got["byStaff"]) == 3


def test_a_campaign_with_a_cost_and_nobody_to_send_to_has_a_roi_of_zero(
        api: Api, pg_app: Siyu) -> None:
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    # Given a campaign with a cost whose whole audience set do-not-disturb
    then = datetime.now(UTC) - timedelta(days=2)
    pg_app.ingestion.record_batch(
        [item for n in range(5) for item in (
            EventItem(f"o{n}", "ORDER_PAID", _who(n), then, order_id=f"o{n}", amount_fen=100),
            EventItem(f"n{n}", "DND_SET", _who(n), then))], "service:test")
    segment_id, _ = pg_app.segments.define("buyers", "", {"ordered": {"atLeast": 1}},
                                           "staff:m", then)
    campaign_id, _ = pg_app.campaigns.draft(
        "nobody", "staff:m", "mini_program", segment_id, [{"variant_id": "a", "text": "hi"}],
        "staff:m", then, cost_fen=50_000)
    _wait(pg_app, tracker)
    launch(pg_app, tracker, campaign_id, "staff:m", datetime.now(UTC))
    _wait(pg_app, tracker)
    # When its report is read
    body = api.gql(REPORT, {"id": str(campaign_id)}, as_="manager")
    assert "errors" not in body, body
    report = body["data"]["campaign"]["report"]
    # Then nobody received it, and its cost bought nothing: ROI 0, not "no cost"
    assert report["recipients"] is None and report["holdout"] is None
    assert report["roi"] == 0.0
