"""Content over HTTP: figures per piece, author and kind recomputed from the raw event log,
the cadence against plan, and typed refusals.

The recomputation reads the stored events through the library's mapper and applies the
rules of ``docs/content.md`` ("Figures") with code of its own, no read-model code.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from adapters.tokens import issue_token
from application.app import Siyu
from domain.content import Content
from domain.customer import Customer
from tests.integration.api.conftest import MANAGER_ID, STAFF_ID, Api
from tests.integration.api.test_activities_http import record
from tests.integration.api.test_tag_groups_http import data, error
from tests.support.directory import hire_as

pytestmark = pytest.mark.integration

PUBLISH = """mutation($i: PublishContentInput!) { publishContent(input: $i) {
  piece { contentId kind title authorId topics publishedAt } outcome projected } }"""
FIGURES = """query($by: ContentGrouping!, $from: DateTime!, $to: DateTime!, $kind: ContentKind,
  $author: ID) { contentFigures(by: $by, from: $from, to: $to, kind: $kind, authorId: $author) {
  key produced views readers seconds forwards comments friendAdds follows orders gmvFen } }"""
CADENCE = """mutation($k: ContentKind!, $n: Int!, $a: ID) {
  setContentCadence(kind: $k, perWeek: $n, authorId: $a) }"""
CADENCE_OF = """query($from: DateTime!, $to: DateTime!) { contentCadence(from: $from, to: $to) {
  kind authorId perWeek planned produced achievement } }"""
WITHDRAW = """mutation($c: String!) { withdrawContent(contentId: $c, reason: "下架") {
  piece { withdrawnAt } } }"""
AUTHOR = "0a6f0000-0000-4000-8000-0000000000c5"
PIECES = {"art-1": ("ARTICLE", MANAGER_ID), "art-2": ("ARTICLE", AUTHOR),
          "vid-1": ("VIDEO", AUTHOR)}  # "art-9" is viewed but never registered
FIGURE_NAMES = ("produced", "views", "readers", "seconds", "forwards", "comments",
                "friendAdds", "follows", "orders", "gmvFen")


def publish(api: Api, ref: str, at: datetime, **overrides: Any) -> dict[str, Any]:
    kind, author = PIECES.get(ref, ("ARTICLE", AUTHOR))
    body = api.gql(PUBLISH, {"i": {"contentId": ref, "kind": kind, "title": f"标题 {ref}",
                                   "authorId": author, "publishedAt": at.isoformat(),
                                   "topics": ["茶"], **overrides}})
    return body


def engagement(seed: int, start: datetime) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    for n in range(25):
        who = {"namespace": "wx_unionid", "value": f"oCnt{seed}-{n}"}

        def add(kind: str, at: datetime, who: dict[str, str] = who, **fields: Any) -> None:
            events.append({"eventId": f"cnt-{who['value']}-{len(events)}", "type": kind,
                           "customer": who, "occurredAt": at.isoformat(), **fields})

        at = start + timedelta(hours=rng.uniform(-30, 200))
        for _ in range(rng.randint(1, 4)):
            at += timedelta(hours=rng.uniform(0, 30))
            ref = rng.choice([*PIECES, "art-9"])
            add("CONTENT_VIEWED", at, contentId=ref, seconds=rng.randint(5, 300),
                channel="h5")
            if rng.random() < 0.3:
                add("CONTENT_FORWARDED", at + timedelta(minutes=1), contentId=ref, channel="h5")
            if rng.random() < 0.2:
                add("CONTENT_COMMENTED", at + timedelta(minutes=2), contentId=ref,
                    channel="h5", textLength=12)
            gap = timedelta(hours=rng.choice([1, 20, 30, 100, 200]))
            pick = rng.random()
            if pick < 0.3:
                add("FRIEND_ADDED", at + gap, channel="h5", staffId=STAFF_ID)
            elif pick < 0.45:
                add("OFFICIAL_ACCOUNT_FOLLOWED", at + gap, accountId="gh_brand")
            elif pick < 0.8:
                order = f"c{seed}-{n}-{len(events)}"
                amount = rng.randint(1, 300) * 100
                add("ORDER_PAID", at + gap, orderId=order, amountFen=amount, channel="h5",
                    items=[{"sku": "A", "quantity": 1, "priceFen": amount}])
                if rng.random() < 0.4:
                    add("ORDER_REFUNDED", at + gap + timedelta(hours=1), orderId=order,
                        amountFen=amount // 2)
    return events


def recompute(app: Siyu, start: datetime, end: datetime, key: Callable[[str, Any], Any]
              ) -> dict[Any, dict[str, int]]:
    pieces: dict[str, Any] = {}
    facts: list[tuple[int, Any]] = []
    for n in app.recorder.select_notifications(start=1, limit=1_000_000):
        e = app.mapper.to_domain_event(n)
        if isinstance(e, Content.Published):
            pieces[e.reference] = e
        elif n.topic.startswith("domain.customer:Customer."):
            facts.append((n.id, e))
    refunds: dict[tuple[UUID, str], int] = defaultdict(int)
    for _, e in facts:
        if isinstance(e, Customer.OrderRefunded):
            refunds[(e.originator_id, e.order_id)] += e.amount_fen
    out: dict[Any, dict[str, Any]] = defaultdict(lambda: dict.fromkeys(FIGURE_NAMES, 0))
    readers: dict[Any, set[UUID]] = defaultdict(set)
    for ref, p in pieces.items():
        if start <= p.occurred_at < end:
            out[key(ref, p)]["produced"] += 1
    views = [(e.occurred_at, n, e) for n, e in facts if isinstance(e, Customer.ContentViewed)]
    for _, e in facts:
        if not start <= e.occurred_at < end:
            continue
        if isinstance(e, (Customer.ContentViewed, Customer.ContentForwarded,
                          Customer.ContentCommented)):
            figures = out[key(e.content_id, pieces.get(e.content_id))]
            if isinstance(e, Customer.ContentViewed):
                figures["views"] += 1
                figures["seconds"] += e.seconds or 0
                readers[key(e.content_id, pieces.get(e.content_id))].add(e.originator_id)
            else:
                figures["forwards" if isinstance(e, Customer.ContentForwarded)
                        else "comments"] += 1
            continue
        window = timedelta(days=7) if isinstance(e, Customer.OrderPaid) else timedelta(days=1)
        if not isinstance(e, (Customer.FriendAdded, Customer.OfficialAccountFollowed,
                              Customer.OrderPaid)):
            continue
        touches = [(at, n, v) for at, n, v in views if v.originator_id == e.originator_id
                   and e.occurred_at - window < at <= e.occurred_at]
        if not touches:
            continue
        last = max(touches, key=lambda t: (t[0], t[1]))[2]
        figures = out[key(last.content_id, pieces.get(last.content_id))]
        if isinstance(e, Customer.FriendAdded):
            figures["friendAdds"] += 1
        elif isinstance(e, Customer.OfficialAccountFollowed):
            figures["follows"] += 1
        else:
            figures["orders"] += 1
            figures["gmvFen"] += e.amount_fen - refunds[(e.originator_id, e.order_id)]
    for k, who in readers.items():
        out[k]["readers"] = len(who)
    return dict(out)


def shown(api: Api, **variables: Any) -> dict[Any, dict[str, int]]:
    rows = data(api.gql(FIGURES, variables))["contentFigures"]
    return {r["key"]: {k: r[k] for k in FIGURE_NAMES} for r in rows}


def test_figures_equal_a_recomputation_from_the_raw_log(api: Api, pg_app: Siyu) -> None:
    hire_as(pg_app, AUTHOR, "copywriter", "middle_office")
    start = (datetime.now(UTC) - timedelta(days=20)).replace(microsecond=0)
    end = start + timedelta(days=8)
    events = engagement(3, start)
    record(api, events[: len(events) // 2])  # some events come before their piece
    for n, ref in enumerate(PIECES):
        assert data(publish(api, ref, start + timedelta(days=n * 4)))["publishContent"][
            "outcome"] == "published"
    record(api, events[len(events) // 2:])
    expected = recompute(pg_app, start, end, lambda ref, _: ref)
    period = {"from": start.isoformat(), "to": end.isoformat()}
    for _ in range(200):  # recordCustomerEvents waits for customer_profile only
        got = shown(api, by="PIECE", **period)
        if got == expected:
            break
        time.sleep(0.05)
    assert got == expected
    assert got["art-9"]["views"] > 0 and sum(v["orders"] for v in got.values()) > 0
    assert shown(api, by="AUTHOR", **period) == recompute(
        pg_app, start, end, lambda _, p: p and p.author_id)
    assert shown(api, by="KIND", **period) == recompute(
        pg_app, start, end, lambda _, p: p and p.kind)
    assert shown(api, by="PIECE", kind="VIDEO", **period) == {
        k: v for k, v in expected.items() if k == "vid-1"}
    assert shown(api, by="AUTHOR", author=AUTHOR, **period) == {
        k: v for k, v in recompute(pg_app, start, end,
                                   lambda _, p: p and p.author_id).items() if k == AUTHOR}


def test_cadence_publishing_again_and_refusals(api: Api, pg_app: Siyu, pg_url: str) -> None:
    hire_as(pg_app, AUTHOR, "copywriter", "middle_office")
    start = (datetime.now(UTC) - timedelta(days=14)).replace(microsecond=0)
    for n, ref in enumerate(PIECES):
        data(publish(api, ref, start + timedelta(days=n)))
    # Publishing again records nothing; a new title revises; the kind never changes
    again = data(publish(api, "art-1", start))["publishContent"]
    assert again["outcome"] == "unchanged" and again["projected"] is True
    assert data(publish(api, "art-1", start, title="新标题"))["publishContent"]["outcome"] == \
        "revised"
    for overrides, code, field in [
            ({"kind": "VIDEO"}, "BAD_INPUT", "kind"),
            ({"authorId": "0a6f0000-0000-4000-8000-0000000000ee"}, "UNKNOWN_STAFF", "authorId"),
            ({"authorId": "nope"}, "BAD_INPUT", "authorId"),
            ({"publishedAt": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
             "BAD_INPUT", "publishedAt"),
            ({"title": " "}, "BAD_INPUT", "title"),
            ({"contentId": " "}, "BAD_INPUT", "contentId")]:
        found = error(publish(api, "art-1", start, **overrides))
        assert (found["code"], found.get("field")) == (code, field), overrides
    assert error(api.gql(WITHDRAW, {"c": "none"}))["code"] == "NOT_FOUND"
    assert data(api.gql(WITHDRAW, {"c": "vid-1"}))["withdrawContent"]["piece"]["withdrawnAt"]
    # Cadence: the brand plans 2 articles a week, the author 1 video a week
    assert data(api.gql(CADENCE, {"k": "ARTICLE", "n": 2}))["setContentCadence"] is True
    data(api.gql(CADENCE, {"k": "VIDEO", "n": 1, "a": AUTHOR}))
    assert error(api.gql(CADENCE, {"k": "VIDEO", "n": -1}))["field"] == "perWeek"
    rows = data(api.gql(CADENCE_OF, {"from": start.isoformat(),
                                     "to": (start + timedelta(days=14)).isoformat()}))[
        "contentCadence"]
    assert rows == [
        {"kind": "ARTICLE", "authorId": None, "perWeek": 2, "planned": 4.0, "produced": 2,
         "achievement": 0.5},
        {"kind": "VIDEO", "authorId": AUTHOR, "perWeek": 1, "planned": 2.0, "produced": 1,
         "achievement": 0.5}]
    # Front-line staff neither publish nor read the figures; a copywriter publishes
    staff = api.gql(PUBLISH, {"i": {"contentId": "x", "kind": "ARTICLE", "title": "t",
                                    "authorId": AUTHOR, "publishedAt": start.isoformat()}},
                    as_="staff")
    assert error(staff)["code"] == "FORBIDDEN"
    assert error(api.gql(CADENCE_OF, {"from": start.isoformat(), "to": start.isoformat()},
                         as_="staff"))["code"] == "FORBIDDEN"
    token = issue_token(pg_url, "staff", AUTHOR, None, "tests")
    body = api.gql(PUBLISH, {"i": {"contentId": "art-7", "kind": "ARTICLE", "title": "t",
                                   "authorId": AUTHOR, "publishedAt": start.isoformat()}},
                   token=token)
    assert data(body)["publishContent"]["outcome"] == "published"


OVERVIEW = """query($p: KpiPeriodInput!) { managerOverview(period: $p) { firstDay lastDay
  roles { role kpis members { staffId kpis { name value target } } } } }"""
OPERATOR = "0a6f0000-0000-4000-8000-0000000000c6"


def test_writers_role_sets_carry_their_content_figures(api: Api, pg_app: Siyu) -> None:
    # Given a copywriter authoring two pieces, one run by a content operator, and engagement
    hire_as(pg_app, AUTHOR, "copywriter", "middle_office", wait=False)
    hire_as(pg_app, OPERATOR, "content_operator", "middle_office")
    yesterday = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)
    data(publish(api, "art-2", yesterday, operatorId=OPERATOR))
    data(publish(api, "vid-1", yesterday))
    now = datetime.now(UTC).isoformat()
    record(api, [e for e in engagement(5, yesterday - timedelta(days=5)) if e["occurredAt"] < now])
    # When the manager reads the overview of the month holding yesterday
    month = {"kind": "MONTH", "start": yesterday.date().isoformat()}
    for _ in range(100):
        overview = data(api.gql(OVERVIEW, {"p": month}))["managerOverview"]
        roles = {r["role"]: r for r in overview["roles"]}
        shown_ = {r: {m["staffId"]: {k["name"]: k["value"] for k in m["kpis"]}
                      for m in roles[r]["members"]} for r in ("copywriter", "content_operator")}
        if shown_["copywriter"].get(AUTHOR, {}).get("contentViews"):
            break
        time.sleep(0.05)
    # Then each writer's set holds their content figures over the period's business days
    period = {"from": f"{overview['firstDay']}T00:00:00+08:00",
              "to": (datetime.fromisoformat(overview["lastDay"]) + timedelta(days=1)
                     ).date().isoformat() + "T00:00:00+08:00"}
    for role, by, who in (("copywriter", "AUTHOR", AUTHOR),
                          ("content_operator", "OPERATOR", OPERATOR)):
        figures = shown(api, by=by, **period)[who]
        assert "contentProduced" in roles[role]["kpis"]
        got = shown_[role][who]
        assert {n: got[f"content{n[0].upper()}{n[1:]}"] for n in
                ("produced", "views", "readers", "forwards", "friendAdds", "gmvFen")} == {
            n: float(figures[n]) for n in
            ("produced", "views", "readers", "forwards", "friendAdds", "gmvFen")}, role
        assert got["contentProduced"] >= 1
    assert shown_["copywriter"][AUTHOR]["contentViews"] > 0
