"""Truth of numbers: a month of events for 50 staff and 5,000 customers, every KPI of
staff_daily_performance compared with a straightforward recomputation from the events sent —
live (with a mid-month handover, early and late events), and after a rebuild. The month
includes sensitive-word hits, marketing tasks and WeCom mass-send campaigns
(:mod:`tests.support.staff_execution_world`)."""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg.rows import dict_row

from application.app import Siyu
from domain.ingestion import EventItem
from domain.moment_task import MomentTask
from projections.campaigns import CampaignView
from projections.organisation import StaffAssignmentView
from projections.postgres_views import CustomerProfileView
from projections.runner import BatchRunner, Tracker
from projections.staff_performance import SHANGHAI, StaffPerformanceView, business_day
from tests.support.staff_execution_world import (
    Execution,
    assign_tasks,
    change_tasks,
    deliver,
    execution_days,
    generate_execution,
    rate,
    roi_truth,
    run_campaign,
    same_kpis,
)

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 1, tzinfo=SHANGHAI).astimezone(UTC)
HANDOVER_AT = START + timedelta(days=15, hours=4)
END = START + timedelta(days=30)
AS_OF = END + timedelta(days=1)
TIMEOUT = 1800
CHANNELS = ("qr:store-1", "qr:live", "referral")
BY = "service:wecom"
STAFF, CUSTOMERS, GIVERS = 50, 5000, 5
#: The lexicon of the month (category → terms; ``competitor`` is a brand-defined category) and
#: what customers say, with the categories each phrase hits as a reader of it sees them.
LEXICON = {"private_order": ["私单"], "abuse": ["白痴"], "diverted_order": ["别家买"],
           "competitor": ["竞品"]}
SAID: dict[str | None, frozenset[str]] = {
    None: frozenset(), "在吗": frozenset(), "私单能便宜点吗": frozenset({"private_order"}),
    "你这个白痴": frozenset({"abuse"}), "我去别家买了": frozenset({"diverted_order"}),
    "白痴, 私单才便宜": frozenset({"abuse", "private_order"}),
    "竞品更便宜, 白痴": frozenset({"competitor", "abuse"}),
    "竞品送赠品": frozenset({"competitor"})}


@dataclass
class Sent:
    """One item as sent, with what the truth needs to know about it."""

    at: datetime
    item: EventItem
    customer: int
    kind: str
    staff: int | None = None
    amount: int = 0
    hit: bool = False  # a message (staff's or customer's) with a sensitive word
    categories: frozenset[str] = frozenset()  # a customer's message: the categories it hit
    late: bool = False
    early: bool = False


@dataclass
class World:
    staff_ids: list[str] = field(default_factory=list)
    customer_ids: dict[int, UUID] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)
    moments: list[tuple[int, datetime]] = field(default_factory=list)
    #: posts of enterprise moment tasks: (staff, when the sync saw it), each synced twice
    task_posts: list[tuple[int, datetime]] = field(default_factory=list)
    first_staff: dict[int, int] = field(default_factory=dict)
    first_add: dict[int, datetime] = field(default_factory=dict)
    handed: dict[int, int] = field(default_factory=dict)  # customer -> receiver
    execution: Execution = field(default_factory=Execution)


def t(rng: random.Random, low: datetime, high: datetime) -> datetime:
    span = int((high - low).total_seconds() * 1_000_000)
    return low + timedelta(microseconds=rng.randrange(1, max(2, span)))


def generate(seed: int = 5) -> World:
    rng = random.Random(seed)
    words = random.Random(seed + 1)
    world = World()
    n = 0

    def item(kind: str, customer: int, at: datetime, **fields: Any) -> EventItem:
        nonlocal n
        n += 1
        return EventItem(f"e{n}", kind, ("wx_unionid", f"u{customer}"), at, **fields)

    for c in range(CUSTOMERS):
        staff = rng.randrange(STAFF)
        added = t(rng, START, START + timedelta(days=27))
        world.first_staff[c], world.first_add[c] = staff, added
        pairs = [(staff, added)]
        if rng.random() < 0.2:
            pairs.append(((staff + 1 + rng.randrange(STAFF - 1)) % STAFF,
                          added + timedelta(hours=rng.uniform(1, 48))))
        for s, at in pairs:
            world.sent.append(Sent(at, item("FRIEND_ADDED", c, at, staff_id=str(s),
                                            channel=rng.choice(CHANNELS)), c, "add", s))
            if rng.random() < 0.15:  # deleted, sometimes re-added
                gone = at + timedelta(days=rng.uniform(0.1, 12))
                by = rng.choice(("CUSTOMER", "STAFF"))
                world.sent.append(Sent(gone, item("FRIEND_DELETED", c, gone, staff_id=str(s),
                                                  deleted_by=by), c, f"del_{by.lower()}", s,
                                       late=rng.random() < 0.2))
                if rng.random() < 0.3:
                    back = gone + timedelta(days=rng.uniform(0.1, 5))
                    world.sent.append(Sent(back, item("FRIEND_ADDED", c, back, staff_id=str(s),
                                                      channel=rng.choice(CHANNELS)), c, "add", s))
            clock = at
            for _ in range(rng.randrange(4)):  # chats
                clock += timedelta(minutes=rng.uniform(5, 3000))
                for _ in range(rng.randrange(1, 3)):
                    clock += timedelta(seconds=rng.uniform(1, 300))
                    # a customer's words, some hitting the lexicon (their own generator:
                    # the rest of the world stays as it was)
                    said = words.choice(sorted(SAID, key=str))
                    world.sent.append(Sent(clock, item("MESSAGE_RECEIVED", c, clock,
                                                       staff_id=str(s), message_kind="text",
                                                       text=said),
                                           c, "in", s, late=rng.random() < 0.03,
                                           hit=bool(SAID[said]), categories=SAID[said]))
                if rng.random() < 0.85:
                    clock += timedelta(seconds=rng.uniform(5, 7200))
                    hit = rng.random() < 0.05
                    text = "加我私人微信, 私单更便宜" if hit else "您好"
                    world.sent.append(Sent(clock, item("MESSAGE_SENT", c, clock, staff_id=str(s),
                                                       message_kind="text", text=text),
                                           c, "out", s, late=rng.random() < 0.03, hit=hit))
            if rng.random() < 0.1:
                at2 = at + timedelta(hours=rng.uniform(1, 100))
                world.sent.append(Sent(at2, item("HOLIDAY_GREETING_SENT", c, at2, staff_id=str(s),
                                                 occasion="double11"), c, "greet", s))
            if rng.random() < 0.1:
                at2 = at + timedelta(hours=rng.uniform(1, 100))
                world.sent.append(Sent(at2, item("FOLLOW_UP_RECORDED", c, at2, staff_id=str(s),
                                                 follow_up_kind="call"), c, "follow", s))
        for o in range(rng.choice((0, 0, 1, 1, 2))):  # orders after the first add
            paid = t(rng, added + timedelta(minutes=1), END - timedelta(minutes=1))
            amount = rng.randrange(1000, 50000)
            refund = rng.random() < 0.2
            world.sent.append(Sent(paid, item("ORDER_PAID", c, paid, order_id=f"o{c}-{o}",
                                              amount_fen=amount), c, "paid", amount=amount,
                                   late=not refund and rng.random() < 0.05,
                                   early=paid > HANDOVER_AT and rng.random() < 0.05))
            if refund:
                back = t(rng, paid, END)
                part = rng.randrange(100, amount)
                world.sent.append(Sent(back, item("ORDER_REFUNDED", c, back, order_id=f"o{c}-{o}",
                                                  amount_fen=part), c, "refund", amount=part))
    for s in range(STAFF):
        for _ in range(rng.randrange(6)):
            world.moments.append((s, t(rng, START, END)))
    tasks = random.Random(seed + 2)
    world.task_posts = [(tasks.randrange(STAFF), t(tasks, START, END)) for _ in range(40)]
    world.sent.sort(key=lambda x: x.at)
    world.execution = generate_execution(STAFF, START, END)
    return world


def record(app: Siyu, runner: BatchRunner, world: World) -> None:
    """Hire, send in time order in batches (the handover mid-month), then the late events."""
    world.staff_ids = [str(app.staff.hire("sales", "front_office" if s < 30 else "middle_office",
                                          f"s{s}", "staff:m", START - timedelta(days=1)))
                       for s in range(STAFF)]
    app.supervision.define_category("competitor", "竞品", "staff:m", START - timedelta(days=1))
    for category, terms in LEXICON.items():
        app.supervision.add_terms(category, terms, "staff:m", START - timedelta(days=1))
    for x in world.sent:  # staff ids are known only now
        if x.item.staff_id is not None:
            x.item.staff_id = world.staff_ids[int(x.item.staff_id)]
    early = [x for x in world.sent if x.early and not x.late]
    before = [x for x in world.sent if x.at < HANDOVER_AT and not x.late]
    after = [x for x in world.sent if x.at >= HANDOVER_AT and not x.late and not x.early]
    late = [x for x in world.sent if x.late]

    def send(batch: list[Sent]) -> None:
        for start in range(0, len(batch), 1000):
            chunk = batch[start:start + 1000]
            result = app.ingestion.record_batch([x.item for x in chunk], BY)
            for x, outcome in zip(chunk, result.outcomes, strict=True):
                assert outcome.status == "accepted", outcome
                assert outcome.customer_id is not None
                world.customer_ids[x.customer] = outcome.customer_id
            runner.catch_up()

    send(before + early)  # some orders dated after the handover arrive before it
    assign_tasks(app, world.staff_ids, world.execution)
    rng = random.Random(13)
    first, second, december = world.execution.campaigns
    run_campaign(app, rng, world.staff_ids, world.customer_ids, friends(world, first.launched_at),
                 first)
    for s, at in world.moments:
        app.staff.record_moment_posted(UUID(world.staff_ids[s]), f"m-{s}-{at.timestamp()}", BY, at)
    for n, (s, at) in enumerate(world.task_posts):  # through enterprise moment tasks
        task_id, _ = app.moments.plan(f"task {n}", [{"staff_id": world.staff_ids[s],
                                                      "user_id": f"u{s}"}], [], at.date(), 0, 0,
                                      "staff:m", at)
        app.moments.change(task_id, partial(MomentTask.start_submission, by="system",
                                            occurred_at=at))
        app.moments.change(task_id, partial(MomentTask.accept, moment_id=f"mom-{n}",
                                            invalid=[], by="system", occurred_at=at))
        for seen in (at, at + timedelta(hours=30)):  # a re-sync records nothing again
            app.moments.members_posted(task_id, [f"u{s}"], seen)
    for giver in range(GIVERS):
        owned = [c for c, s in world.first_staff.items()
                 if s == giver and world.first_add[c] < HANDOVER_AT]
        receiver = GIVERS + giver
        result = app.staff.hand_over(
            UUID(world.staff_ids[giver]), UUID(world.staff_ids[receiver]),
            [world.customer_ids[c] for c in owned], "reassignment", "staff:m", HANDOVER_AT)
        assert result.transferred == len(owned)
        world.handed.update({c: receiver for c in owned})
    send(after)
    for campaign in (second, december):  # the second one's deliveries come in late
        run_campaign(app, rng, world.staff_ids, world.customer_ids,
                     friends(world, campaign.launched_at), campaign, campaign is december)
    change_tasks(app, world.staff_ids, world.execution)
    send(late)
    deliver(app, world.customer_ids, second)


def friends(world: World, at: datetime) -> dict[int, int]:
    """Customers recorded and added before ``at``, with the staff member who added them."""
    return {c: s for c, s in world.first_staff.items()
            if c in world.customer_ids and world.first_add[c] < at}


# -- the truth, straight from what was sent ----------------------------------------------
def owner(world: World, c: int, at: datetime) -> int | None:
    if at < world.first_add[c]:
        return None
    if c in world.handed and at >= HANDOVER_AT:
        return world.handed[c]
    return world.first_staff[c]


def percentile(values: list[int], p: float) -> int | None:
    ordered = sorted(values)
    return ordered[math.ceil(p * len(ordered)) - 1] if ordered else None


def truth(world: World) -> tuple[dict[tuple[str, date], dict[str, Any]], dict[str, Any]]:
    days: dict[tuple[int, date], Counter[str]] = defaultdict(Counter)
    responses: dict[tuple[int, date], list[int]] = defaultdict(list)
    pairs: dict[tuple[int, int], list[Sent]] = defaultdict(list)
    paid_customers: dict[int, set[int]] = defaultdict(set)
    counts = {"add": "friends_new", "del_customer": "friends_deleted_by_customer",
              "del_staff": "friends_deleted_by_staff", "in": "messages_received",
              "out": "messages_sent", "greet": "greetings_sent", "follow": "follow_ups"}
    for x in world.sent:
        day = business_day(x.at)
        if x.kind in counts:
            assert x.staff is not None
            days[(x.staff, day)][counts[x.kind]] += 1
            # a member's KPI counts the member's own messages, not the customers' words
            days[(x.staff, day)]["sensitive_word_hits"] += x.hit and x.kind == "out"
            # a customer's hit counts for the member serving that chat (the message's staff,
            # whoever owns the customer): once in the total, once per category it hit
            if x.kind == "in" and x.categories:
                days[(x.staff, day)]["customer_sensitive_word_hits"] += 1
                for category in x.categories:
                    column = (f"customer_{category}_hits" if category in BUILT_IN
                              else "customer_custom_category_hits")
                    days[(x.staff, day)][column] += 1
            pairs[(x.customer, x.staff)].append(x)
        else:
            o = owner(world, x.customer, x.at)
            if o is None:
                continue
            if x.kind == "paid":
                days[(o, day)].update({"orders_paid": 1, "gmv_fen": x.amount})
                paid_customers[o].add(x.customer)
            else:
                days[(o, day)].update({"refunds": 1, "refund_fen": x.amount})
    for s, at in world.moments + world.task_posts:
        days[(s, business_day(at))]["moments_posts"] += 1
    for key, counter in execution_days(world.execution).items():
        days[key].update(counter)
    unanswered: list[tuple[int, datetime]] = []
    for (_, s), events in pairs.items():
        changes = sorted((x for x in events if x.kind in ("add", "del_customer", "del_staff")),
                         key=lambda x: x.at)
        for x in changes:
            if x.kind != "add":
                continue
            for horizon in (7, 30):
                last = [y for y in changes if y.at <= x.at + timedelta(days=horizon)][-1]
                days[(s, business_day(x.at))][f"retained_{horizon}d"] += last.kind == "add"
        opened: datetime | None = None
        for x in sorted((x for x in events if x.kind in ("in", "out")), key=lambda x: x.at):
            if x.kind == "in" and opened is None:
                opened = x.at
            elif x.kind == "out" and opened is not None:
                responses[(s, business_day(opened))].append(int((x.at - opened).total_seconds()))
                opened = None
        if opened is not None:
            days[(s, business_day(opened))]["chats_unanswered"] += 1
            unanswered.append((s, opened))
    rows: dict[tuple[str, date], dict[str, Any]] = {}
    for (s, day), counter in days.items():
        r = responses.get((s, day), [])
        rows[(world.staff_ids[s], day)] = {
            **{k: v for k, v in counter.items() if v}, "first_responses": len(r),
            "response_seconds": sorted(r), "first_response_median_s": percentile(r, 0.5),
            "first_response_p90_s": percentile(r, 0.9)}
    month = {"days": {date(2026, 11, d) for d in range(1, 31)}, "responses": responses,
             "unanswered": unanswered, "paid": paid_customers, "roi": False}
    return rows, month


BUILT_IN = ("abuse", "private_order", "diverted_order")  # the lexicon's own categories
CUSTOMER_HITS = ("customer_sensitive_word_hits", "customer_abuse_hits",
                 "customer_private_order_hits", "customer_diverted_order_hits",
                 "customer_custom_category_hits")
COLUMNS = ("friends_new", "friends_deleted_by_customer", "friends_deleted_by_staff",
           "retained_7d", "retained_30d", "messages_received", "messages_sent", "first_responses",
           "response_seconds", "first_response_median_s", "first_response_p90_s",
           "chats_unanswered", "orders_paid", "gmv_fen", "refunds", "refund_fen",
           "moments_posts", "greetings_sent", "follow_ups", "sensitive_word_hits",
           *CUSTOMER_HITS, "marketing_tasks_assigned", "marketing_tasks_completed", "campaign_tasks_created",
           "campaign_sends_confirmed")


ADDITIVE = tuple(c for c in COLUMNS if c not in (
    "response_seconds", "first_response_median_s", "first_response_p90_s"))


def projected(url: str) -> dict[tuple[str, date], dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        found = conn.execute(f"SELECT staff_id, day, {', '.join(COLUMNS)} "
                             "FROM staff_daily_performance").fetchall()
    return {(r["staff_id"], r["day"]): {c: r[c] for c in COLUMNS if r[c] not in (0, None, [])}
            for r in found}


def expected_rows(rows: dict[tuple[str, date], dict[str, Any]]
                  ) -> dict[tuple[str, date], dict[str, Any]]:
    return {k: {c: v[c] for c in COLUMNS if v.get(c) not in (0, None, [])}
            for k, v in rows.items()}


def rollup(url: str, staff: list[str] | None, department: str | None) -> dict[str, Any]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        row = conn.execute("SELECT * FROM staff_kpi_rollup(%s, %s, %s, %s, %s, %s)",
                           (staff, department, date(2026, 11, 1), date(2026, 11, 30), TIMEOUT,
                            AS_OF)).fetchone()
    assert row is not None
    return dict(row)


def month_truth(world: World, rows: dict[tuple[str, date], dict[str, Any]],
                month: dict[str, Any], staff: set[int]) -> dict[str, Any]:
    ids = {world.staff_ids[s] for s in staff}
    november = set(month["days"])
    mine = [v for (s, d), v in rows.items() if s in ids and d in november]
    total = Counter[str]()
    for v in mine:
        total.update({k: v.get(k, 0) for k in ADDITIVE})
    response = [x for (s, d), r in month["responses"].items() if s in staff and d in november
                for x in r]
    owned = {c for c in world.first_staff
             if world.first_staff[c] in staff or world.handed.get(c) in staff}
    converted = {c for s in staff for c in month["paid"].get(s, set())}
    timed_out = sum(1 for x in response if x > TIMEOUT) + sum(
        1 for s, at in month["unanswered"] if s in staff and business_day(at) in november
        and at + timedelta(seconds=TIMEOUT) < AS_OF)
    orders = [(x.customer, x.at, x.amount) for x in world.sent if x.kind == "paid"]
    roi = roi_truth(world.execution, staff, START, END, orders) if month["roi"] else {}
    return {**roi, "sensitive_word_hits": total["sensitive_word_hits"],
            **{k: total[k] for k in CUSTOMER_HITS},
            "marketing_tasks_assigned": total["marketing_tasks_assigned"],
            "marketing_tasks_completed": total["marketing_tasks_completed"],
            "marketing_task_completion_rate": rate(total["marketing_tasks_completed"],
                                                   total["marketing_tasks_assigned"]),
            "campaign_tasks_created": total["campaign_tasks_created"],
            "campaign_sends_confirmed": total["campaign_sends_confirmed"],
            "campaign_execution_rate": rate(total["campaign_sends_confirmed"],
                                            total["campaign_tasks_created"]),
            "friends_new": total["friends_new"], "retained_7d": total["retained_7d"],
            "retained_30d": total["retained_30d"], "messages_received": total["messages_received"],
            "messages_sent": total["messages_sent"], "first_responses": len(response),
            "first_response_median_s": percentile(response, 0.5),
            "first_response_p90_s": percentile(response, 0.9), "chats_timed_out": timed_out,
            "orders_paid": total["orders_paid"], "gmv_fen": total["gmv_fen"],
            "refunds": total["refunds"], "refund_fen": total["refund_fen"],
            "owned_customers": len(owned), "converted_customers": len(converted),
            "moments_posts": total["moments_posts"], "greetings_sent": total["greetings_sent"],
            "follow_ups": total["follow_ups"],
            "friends_net": total["friends_new"] - total["friends_deleted_by_customer"]
            - total["friends_deleted_by_staff"]}


def check_month(url: str, world: World, rows: dict[tuple[str, date], dict[str, Any]],
                month: dict[str, Any]) -> None:
    for s in (0, GIVERS, 17, 42):  # a giver, its receiver, two others
        want = month_truth(world, rows, month, {s})
        got = rollup(url, [world.staff_ids[s]], None)
        same_kpis(got, want)
    want = month_truth(world, rows, month, set(range(30)))
    got = rollup(url, None, "front_office")
    same_kpis(got, want)
    assert got["staff_count"] == 30
    assert got["sensitive_word_hits"] > 0 and got["marketing_tasks_completed"] > 0
    assert all(got[k] > 0 for k in CUSTOMER_HITS)
    # a message hitting two categories is one hit of the total and one of each category
    assert sum(got[k] for k in CUSTOMER_HITS[1:]) > got["customer_sensitive_word_hits"]
    assert 0 < got["campaign_sends_confirmed"] < got["campaign_tasks_created"]
    # the BI period rollups carry the customer-side hits too (a member's and a department's)
    with psycopg.connect(url, row_factory=dict_row) as conn:
        member = conn.execute(
            "SELECT * FROM staff_performance_by_period('month', %s, %s) WHERE staff_id = %s",
            (date(2026, 11, 1), date(2026, 11, 30), world.staff_ids[17])).fetchone()
        team = conn.execute(
            "SELECT * FROM department_performance_by_period('month', %s, %s) "
            "WHERE department = 'front_office'", (date(2026, 11, 1), date(2026, 11, 30))).fetchone()
    assert member is not None and team is not None
    same_kpis(member, {k: v for k, v in month_truth(world, rows, month, {17}).items()
                       if k in CUSTOMER_HITS})
    same_kpis(team, {k: want[k] for k in CUSTOMER_HITS})
    if month["roi"]:  # both November campaigns, owned by front-office members
        assert got["campaign_cost_fen"] == 130_000 and got["campaign_gmv_fen"] > 0
        with psycopg.connect(url, row_factory=dict_row) as conn:
            periods = conn.execute(
                "SELECT * FROM department_performance_by_period('month', %s, %s) "
                "WHERE department = 'front_office'",
                (date(2026, 11, 1), date(2026, 11, 30))).fetchall()
        assert len(periods) == 1
        same_kpis(periods[0], {k: want[k] for k in ("campaign_cost_fen", "campaign_gmv_fen",
                                                    "roi")})


def test_every_kpi_equals_its_recomputation_from_the_raw_events_live_and_rebuilt(
        pg_app: Siyu, pg_url: str) -> None:
    # Given a month of events (handover mid-month, orders sent before it, late events after)
    world = generate()
    pg_app.clock = lambda: END + timedelta(days=60)  # sent once the month is over
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    runner = BatchRunner(pg_app, StaffPerformanceView(), tracker, page_size=1500)
    BatchRunner(pg_app, StaffAssignmentView(), tracker)
    record(pg_app, runner, world)
    runner.catch_up()
    BatchRunner(pg_app, StaffAssignmentView(), tracker).catch_up()
    rows, month = truth(world)
    # Then every staff member's every day equals the recomputation, and so do month rollups
    live = projected(pg_url)
    assert live == expected_rows(rows)
    check_month(pg_url, world, rows, month)
    # When the read model is rebuilt with other page boundaries
    BatchRunner(pg_app, StaffPerformanceView(), tracker, page_size=777).rebuild()
    # Then it equals the live one
    assert projected(pg_url) == live
    check_month(pg_url, world, rows, month)
    # And once the campaign and profile read models exist, so do campaign cost, GMV and ROI
    for view in (CampaignView(), CustomerProfileView()):
        BatchRunner(pg_app, view, tracker, page_size=5000).catch_up()
    check_month(pg_url, world, rows, {**month, "roi": True})
