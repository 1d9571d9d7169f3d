"""A seeded customer history over eight months of business time, for the funnel tests:
friends added and deleted, groups, personal WeChat, members, engagement, orders and refunds,
surveys, referrals and invite codes — some of it imported late, older than what the log
already holds, so acquisition days move after the fact."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from application.app import Siyu
from domain.items import EventItem, OrderItem

CHANNELS = ["qr:store-01", "qr:store-02", "h5:ad", "mini_program"]
STAFF_IDS = ["0a6f0000-0000-4000-8000-0000000000f1", "0a6f0000-0000-4000-8000-0000000000f2"]


def _items(seed: int, customers: int, now: datetime, staff: list[str]
           ) -> tuple[list[EventItem], list[EventItem]]:
    rng = random.Random(seed)
    live: list[EventItem] = []
    late: list[EventItem] = []
    latest = now - timedelta(hours=1)

    def add(into: list[EventItem], kind: str, who: tuple[str, str], at: datetime,
            **fields: Any) -> None:
        into.append(EventItem(f"f{seed}-{len(live) + len(late)}", kind, who, min(at, latest),
                              **fields))

    for n in range(customers):
        who = ("wx_unionid", f"oFun{seed}-{n}")
        t0 = now - timedelta(days=rng.uniform(3, 240), hours=rng.uniform(0, 24))
        channel = rng.choice(CHANNELS)
        add(live, "FRIEND_ADDED", who, t0, channel=channel, staff_id=staff[0])
        if rng.random() < 0.3:
            add(live, "FRIEND_ADDED", who, t0 + timedelta(days=2), channel=channel,
                staff_id=staff[1])
        if rng.random() < 0.45:
            gone = rng.choice([rng.uniform(0.2, 12), rng.uniform(12, 120)])
            add(live, "FRIEND_DELETED", who, t0 + timedelta(days=gone),
                staff_id=staff[0], deleted_by="customer")
        for kind, key, attr in (("GROUP", "g1", "group_id"),
                                ("PERSONAL_WECHAT_FRIEND", staff[1], "staff_id")):
            if rng.random() < 0.45:
                joined = t0 + timedelta(days=rng.uniform(0, 15))
                join = "GROUP_JOINED" if kind == "GROUP" else f"{kind}_ADDED"
                add(live, join, who, joined, **{attr: key})
                if rng.random() < 0.5:
                    leave = "GROUP_LEFT" if kind == "GROUP" else f"{kind}_DELETED"
                    add(live, leave, who, joined + timedelta(days=rng.uniform(0.5, 90)),
                        **{attr: key})
        if rng.random() < 0.4:
            add(live, "MEMBER_REGISTERED", who, t0 + timedelta(days=rng.uniform(0, 10)),
                channel="mini_program", member_level="silver")
        for _ in range(rng.randint(0, 4)):
            at = t0 + timedelta(days=rng.uniform(0, 200))
            if rng.random() < 0.5:
                add(live, "PRODUCT_VIEWED", who, at, sku="A", channel=rng.choice(CHANNELS))
            else:
                add(live, "MESSAGE_RECEIVED", who, at, staff_id=staff[0], message_kind="text",
                    text_length=5)
        for k in range(rng.choice([0, 0, 1, 1, 2, 3])):
            at = t0 + timedelta(days=rng.uniform(0, 150))
            amount = rng.randint(10, 900) * 100
            order = f"fo{seed}-{n}-{k}"
            add(live, "ORDER_PAID", who, at, order_id=order, amount_fen=amount,
                items=[OrderItem("A", 1, amount)], channel=rng.choice(CHANNELS))
            if rng.random() < 0.25:
                add(live, "ORDER_REFUNDED", who, at + timedelta(days=1), order_id=order,
                    amount_fen=amount // 2)
        if rng.random() < 0.5:
            kind = rng.choice(["CSAT", "NPS"])
            add(live, "SURVEY_ANSWERED", who, t0 + timedelta(days=rng.uniform(0, 30)),
                survey_kind=kind, score=rng.randint(1, 5) if kind == "CSAT" else rng.randint(0, 10),
                staff_id=rng.choice(staff))
        if n > 3 and rng.random() < 0.2:
            inviter = ("wx_unionid", f"oFun{seed}-{rng.randrange(n)}")
            add(late, "REFERRED", who, t0, inviter=inviter, campaign_id="fission-1")
        if rng.random() < 0.15:  # history imported later: an older order moves acquisition
            at = t0 - timedelta(days=rng.uniform(1, 60))
            add(late, "ORDER_PAID", who, at, order_id=f"old{seed}-{n}", amount_fen=5000,
                items=[OrderItem("B", 1, 5000)], channel="store")
    return live, late


def record_history(app: Siyu, seed: int = 7, customers: int = 60,
                   now: datetime | None = None, staff: list[str] | None = None) -> list[UUID]:
    """Record the history through the application, in business-time order, then the late
    import; a referral campaign hands invite codes to a few customers on the way. Returns
    the customers, in the order of their identities."""
    now = now or datetime.now(UTC)
    live, late = _items(seed, customers, now, staff or STAFF_IDS)
    live.sort(key=lambda i: (i.type == "ORDER_REFUNDED", i.occurred_at))
    ids: dict[tuple[str, str], UUID] = {}
    for start in range(0, len(live), 40):
        result = app.ingestion.record_batch(live[start:start + 40], "service:test")
        for outcome in result.outcomes:
            assert outcome.status == "accepted", outcome
            assert outcome.customer_id is not None
            ids[live[start + outcome.index].identity] = outcome.customer_id  # type: ignore[index]
    assert app.ingestion.record_batch(late, "service:import").count("accepted") == len(late)
    at = now - timedelta(days=100)
    campaign, _ = app.referrals.draft_campaign(
        "邀请有礼", now - timedelta(days=300), None, {"kind": "points", "value": 10},
        "staff:m", at)
    app.referrals.activate_campaign(campaign, "staff:m", at)
    for identity in sorted(ids)[::7]:
        app.referrals.invite_code(campaign, ids[identity], "staff:m", at)
    return [ids[identity] for identity in sorted(ids)]


def record_merges(app: Siyu, customers: list[UUID], now: datetime | None = None) -> None:
    """OneID over the history: pairs merged at various business times, a survivor absorbed
    in turn (a chain of three), and one merge undone."""
    now = now or datetime.now(UTC)
    for k in range(0, 24, 4):
        app.identity.merge(customers[k], customers[k + 1], "staff:m",
                           now - timedelta(days=10 + 12 * k))
    app.identity.merge(customers[30], customers[0], "staff:m", now - timedelta(days=5))
    app.identity.unmerge(customers[5], "staff:m", now - timedelta(days=2))

