"""Demo data: a realistic month of a brand's private domain, deterministic and idempotent.

20 staff (the seeds' roles), ~2,000 customers arriving over the last 30 days
through channel QR codes, the mini-program, H5 and the official account;
friend adds (with welcome codes on WeCom) and some deletions, tags, group
joins, article views, orders with a heavy tail of big spenders, and refunds.
Chats, execution facts, marketing tasks, targets and the demo lexicon come from
:mod:`siyu.demo_staff`. Event ids are stable, so loading twice stores nothing new.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import NAMESPACE_URL, UUID, uuid5

from application.app import Siyu
from domain.ingestion import EventItem, OrderItem
from domain.lexicon import LEXICON_ID, Lexicon
from domain.segment import SegmentAlreadyDefined
from domain.sop import SopAlreadyDefined
from domain.staff import Staff
from domain.working_hours import WORKING_HOURS_ID, WorkingHours
from domain.working_time import WEEKDAYS
from projections.topics import stored_topics
from siyu import demo_staff

log = logging.getLogger(__name__)

CORP = "ww-demo-corp"
APP = "wx-demo-app"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "洋", "艳", "勇", "军", "杰", "娟",
         "涛", "明", "超", "秀兰", "霞", "平", "刚", "桂英", "小红", "晓燕", "欣怡", "子涵", "雨桐"]
STAFF_PLAN = [
    ("private_domain_manager", "middle_office"), ("activity_planner", "middle_office"),
    ("copywriter", "middle_office"), ("product_operator", "back_office"),
    ("designer", "middle_office"), ("content_operator", "middle_office"),
    ("user_operator", "middle_office"), ("data_operator", "back_office"),
    ("chief_chat_officer", "front_office"),
    *[("sales", "front_office")] * 6, *[("service", "front_office")] * 5,
]
CHANNELS = [  # (first channel, weight, is a WeCom friend add)
    ("qr:store-shanghai-01", 18, True), ("qr:store-hangzhou-02", 12, True),
    ("qr:douyin-ad", 14, True), ("qr:live-1111", 10, True), ("referral", 6, True),
    ("mini_program", 20, False), ("h5", 10, False), ("official_account", 10, False),
]
TAGS = ["高意向", "宝妈", "价格敏感", "会员", "VIP", "复购", "新品尝鲜", "母婴", "美妆", "学生"]
GROUPS = [f"group-{name}" for name in ("上海福利群", "杭州福利群", "宝妈交流群", "会员专享群",
                                       "新品体验群", "直播粉丝群", "VIP群", "打卡群")]
SKUS = [("milk-900g", 12_900), ("diaper-l", 8_900), ("serum-30ml", 29_900), ("mask-10p", 9_900),
        ("vitamin-d", 6_800), ("gift-box", 49_900), ("cream-50g", 19_900), ("wipes-80", 2_990)]
CATEGORIES = {"milk-900g": "奶粉", "diaper-l": "纸尿裤", "serum-30ml": "护肤", "mask-10p": "护肤",
              "vitamin-d": "营养", "gift-box": "礼盒", "cream-50g": "护肤", "wipes-80": "纸尿裤"}
TOPICS = ("育儿", "护肤", "营养", "新品", "福利")
#: The seeds' layers (002-004), defined once by the demo (fixed ids: a second run skips them).
SEGMENTS: list[tuple[str, str, dict[str, object], str | None]] = [
    ("留存客户", "Currently a friend of a staff member", {"isFriend": True}, None),
    ("已购客户", "Paid at least once", {"ordered": {"atLeast": 1}}, None),
    ("复购客户", "Paid twice or more in 90 days",
     {"ordered": {"atLeast": 2, "withinDays": 90}}, None),
    ("活跃客户", "Interacted within 7 days", {"activeWithinDays": 7}, None),
    ("高价值沉睡", "GMV ≥ 500 yuan in a year, no interaction for 14 days",
     {"all": [{"gmv": {"atLeastFen": 50000, "withinDays": 365}}, {"inactiveDays": 14}]}, None),
    ("传播达人", "Brought 2 customers or more", {"referralsAtLeast": 2}, "传播达人"),
    ("奶粉复购", "Bought 奶粉 in 2 orders or more",
     {"boughtCategory": {"category": "奶粉", "atLeast": 2}}, "奶粉复购"),
]


@dataclass
class DemoResult:
    staff: list[tuple[UUID, str]]  # (id, role)
    customers: int
    events: int
    accepted: int
    duplicates: int
    rejected: int
    seconds: float
    sample_customer: UUID | None
    friendly_staff: UUID | None


#: The demo hires its staff this long before its "now" (the anchor of every later run).
HIRED_BEFORE = timedelta(days=90)


def _hired_staff(app: Siyu) -> dict[str, tuple[UUID, datetime]]:
    """Demo staff hired by an earlier run, by WeCom UserID: (id, business time of hire)."""
    found: dict[str, tuple[UUID, datetime]] = {}
    start = 0
    while True:
        page = app.recorder.select_notifications(start=start, limit=5000, inclusive_of_start=False,
                                                 topics=sorted(stored_topics(Staff.Hired)))
        if not page:
            return found
        for notification in page:
            event = app.mapper.to_domain_event(notification)
            user = getattr(event, "wecom_user_id", None)
            if isinstance(user, str) and user.startswith("demo-staff-"):
                found.setdefault(user, (event.originator_id, event.occurred_at))  # type: ignore[attr-defined]
        start = page[-1].id


def _hire(app: Siyu, rng: random.Random, now: datetime
          ) -> tuple[list[tuple[UUID, str]], datetime]:
    """The demo staff (hired once each, by their WeCom UserID) and the demo's "now": the
    first run's, so that every later run generates the very same data (nothing new)."""
    hired = _hired_staff(app)
    if hired:
        now = min(at for _, at in hired.values()) + HIRED_BEFORE
    staff: list[tuple[UUID, str]] = []
    for n, (role, department) in enumerate(STAFF_PLAN):
        name = rng.choice(SURNAMES) + rng.choice(GIVEN)  # drawn on every run: stays in step
        user = f"demo-staff-{n:02d}"
        if user in hired:
            staff.append((hired[user][0], role))
            continue
        staff.append((app.staff.hire(role, department, name, "system:demo", now - HIRED_BEFORE,
                                     wecom_user_id=user), role))
    return staff, now


def _customer_events(n: int, rng: random.Random, now: datetime, front: list[UUID],
                     inviters: list[tuple[str, str]] | None = None) -> list[EventItem]:
    channel, _, wecom = rng.choices(CHANNELS, weights=[c[1] for c in CHANNELS])[0]
    first = now - timedelta(seconds=rng.randrange(30 * 86400))
    if wecom:
        who: tuple[str, str] = (f"wecom_external:{CORP}", f"wm{n:06d}{rng.randrange(16**6):06x}")
    elif channel == "mini_program":
        who = (f"wx_openid:{APP}", f"o{n:06d}{rng.randrange(16**8):08x}")
    else:
        who = ("wx_unionid", f"u{n:06d}{rng.randrange(16**8):08x}")
    inviters = [] if inviters is None else inviters
    ids = iter(range(10_000))
    out: list[EventItem] = []

    def add(kind: str, at: datetime, **fields: object) -> None:
        at = min(at, now - timedelta(seconds=1))
        out.append(EventItem(f"demo-{n}-{next(ids)}", kind, who, at, **fields))  # type: ignore[arg-type]

    add("REGISTERED", first, channel=channel)
    if rng.random() < 0.6:
        add("PROFILE_UPDATED", first, nickname=rng.choice(SURNAMES) + rng.choice(GIVEN))
    if rng.random() < 0.3:
        phone = f"1{rng.choice('356789')}{rng.randrange(10**9):09d}"
        add("IDENTITY_LINKED", first + timedelta(minutes=5), link=("phone", phone))
    owner = rng.choice(front)
    if wecom:
        add("FRIEND_ADDED", first, channel=channel, staff_id=str(owner),
            state=channel.split(":", 1)[-1], welcome_code=f"wc-{n}-{rng.randrange(10**8)}")
    elif rng.random() < 0.3:
        add("FRIEND_ADDED", first + timedelta(hours=rng.randrange(1, 72)), channel="wecom",
            staff_id=str(owner), state="mp-guide")
    span = max((now - first).total_seconds(), 60.0)

    def later() -> datetime:
        return first + timedelta(seconds=rng.random() * span)

    def after(at: datetime) -> datetime:
        return at + timedelta(seconds=rng.random() * max((now - at).total_seconds(), 1.0))

    for tag in rng.sample(TAGS, k=min(len(TAGS), int(rng.expovariate(1.2)))):
        add("TAGGED", later(), tag=tag)
    if rng.random() < 0.4:
        group = rng.choice(GROUPS)
        joined = later()
        add("GROUP_JOINED", joined, group_id=group)
        if rng.random() < 0.12:
            add("GROUP_LEFT", after(joined), group_id=group)
    for _ in range(int(rng.paretovariate(1.3)) + rng.randrange(3)):
        add("CONTENT_VIEWED", later(), channel=rng.choice(["mini_program", "h5",
                                                            "official_account"]),
            content_id=f"article-{(article := rng.randrange(40)):02d}",
            topic=TOPICS[article % len(TOPICS)])
    orders = 0 if rng.random() < 0.62 else min(int(rng.paretovariate(1.6)), 12)
    for k in range(orders):
        lines = [OrderItem(sku, q, price, CATEGORIES[sku])
                 for sku, price in rng.sample(SKUS, rng.randint(1, 3))
                 for q in [rng.randint(1, 3)]]
        amount = sum(line.quantity * line.price_fen for line in lines)
        order_id = f"demo-order-{n}-{k}"
        paid = later()
        add("ORDER_PAID", paid, channel=rng.choice(["mini_program", "h5"]), order_id=order_id,
            amount_fen=amount, items=lines)
        if rng.random() < 0.08:
            add("ORDER_REFUNDED", after(paid), order_id=order_id,
                amount_fen=max(1, amount // rng.choice([1, 2, 3])))
    friended = [e.occurred_at for e in out if e.type == "FRIEND_ADDED"]
    if friended:
        chats = random.Random(f"chats-{n}")
        out.extend(demo_staff.conversations(n, chats, now, friended[0], who, owner))
        out.extend(demo_staff.courtesies(n, chats, now, friended[0], who, owner,
                                         [e.occurred_at for e in out if e.type == "ORDER_PAID"]))
    if friended and rng.random() < 0.07:
        add("FRIEND_DELETED", after(friended[0]), staff_id=str(owner),
            deleted_by="customer" if rng.random() < 0.85 else "staff")
    out.extend(_engagement(n, random.Random(f"engagement-{n}"), now, first, who, owner,
                           bool(friended), inviters))
    inviters.append(who)
    # a refund or deletion dated before its cause would be refused: keep business order
    out.sort(key=lambda e: e.occurred_at)  # stable: ties keep their causal order
    return out


def _engagement(n: int, rng: random.Random, now: datetime, first: datetime,
                who: tuple[str, str], owner: UUID, friend: bool,
                inviters: list[tuple[str, str]]) -> list[EventItem]:
    """Messages, coupons, points, consent, referrals… (ids of their own: demo data versions)."""
    out: list[EventItem] = []
    ids = iter(range(10_000))

    def at() -> datetime:
        span = max((now - first).total_seconds() - 2, 1.0)
        return first + timedelta(seconds=1 + rng.random() * span)

    def add(kind: str, when: datetime, **fields: object) -> None:
        out.append(EventItem(f"demo-e-{n}-{next(ids)}", kind, who, when, **fields))  # type: ignore[arg-type]

    if inviters and rng.random() < 0.08:
        add("REFERRED", first, inviter=rng.choice(inviters[-300:]), campaign_id="double11-fission")
    if friend:  # mini-program cards shared in chats (conversations: siyu.demo_staff)
        for _ in range(int(rng.random() < 0.2)):
            add("MESSAGE_SENT", at(), staff_id=str(owner), message_kind="mini_program",
                text_length=0)
    if rng.random() < 0.5:
        add("CONSENT_GIVEN", first, purpose="marketing", wording_version="2026-10")
    if rng.random() < 0.03:
        add("DND_SET", at())
    if rng.random() < 0.35:
        add("OFFICIAL_ACCOUNT_FOLLOWED", first, account_id="gh_demo_brand")
    if rng.random() < 0.15:
        add("ACTIVITY_JOINED", at(), activity_id=f"quiz-{rng.randrange(5)}",
            activity_kind=rng.choice(["quiz", "task", "friend_boost"]))
    if rng.random() < 0.1:
        add("LIVE_STREAM_WATCHED", at(), stream_id="live-1111",
            watch_seconds=rng.randrange(30, 3600))
    if rng.random() < 0.3:
        sku = rng.choice(SKUS)[0]
        viewed = at()
        add("PRODUCT_VIEWED", viewed, channel="mini_program", sku=sku)
        if rng.random() < 0.4:
            add("ADDED_TO_CART", viewed + timedelta(seconds=30), sku=sku,
                quantity=rng.randint(1, 3))
    if rng.random() < 0.3:
        code, issued = f"CPN-{n:05d}", at()
        add("COUPON_ISSUED", issued, coupon_code=code, amount_fen=rng.choice([500, 1000, 2000]))
        if rng.random() < 0.4:
            add("COUPON_REDEEMED", issued + timedelta(hours=rng.randrange(1, 48)),
                coupon_code=code)
    if rng.random() < 0.2:
        joined = at()
        add("MEMBER_REGISTERED", joined, member_level=rng.choice(["silver", "gold", "platinum"]))
        earned = rng.randrange(100, 2000, 10)
        add("POINTS_EARNED", joined, points=earned, reason="welcome")
        if rng.random() < 0.5:
            add("POINTS_SPENT", joined + timedelta(hours=1), points=rng.randrange(10, earned),
                reason="redeem gift")
    return [e for e in out if e.occurred_at < now]


def load(app: Siyu, *, customers: int = 2000, seed: int = 2026,
         now: datetime | None = None, batch: int = 1000) -> DemoResult:
    """Record the demo month, once: a later run (a restart) takes the first run's "now"
    (from the staff it hired), generates the same items under the same ids and records
    nothing; settings a manager may change since (working hours, lexicon, targets) are
    only ever set where none exist, so a restart never reverts them."""
    rng = random.Random(seed)
    started = time.perf_counter()
    staff, now = _hire(app, random.Random(seed + 1), now or datetime.now(UTC))
    if app.find(WORKING_HOURS_ID, WorkingHours, fresh=True) is None:
        # Service hours 09:00-21:00 every day, in force before the demo month
        app.working_hours.set({day: [("09:00", "21:00")] for day in WEEKDAYS}, "service:demo",
                              now - timedelta(days=31))
    front = [sid for sid, role in staff if role in ("sales", "service", "chief_chat_officer")]
    if app.find(LEXICON_ID, Lexicon, fresh=True) is None:
        demo_staff.lexicon(app, now)
    items: list[EventItem] = []
    inviters: list[tuple[str, str]] = []
    for n in range(customers):
        items.extend(_customer_events(n, rng, now, front, inviters))
    accepted = duplicates = rejected = 0
    sample: UUID | None = None
    for i in range(0, len(items), batch):
        result = app.ingestion.record_batch(items[i:i + batch], "service:demo")
        accepted += result.count("accepted")
        duplicates += result.count("duplicate")
        rejected += result.count("rejected")
        for outcome in result.outcomes:
            if outcome.status == "rejected" and outcome.error is not None:
                log.warning("demo item %s rejected: %s", outcome.event_id, outcome.error.code)
        if sample is None:  # a customer with an order makes the nicer demo token
            chunk = items[i:i + batch]
            sample = next((o.customer_id for o in result.outcomes
                           if o.customer_id and chunk[o.index].type == "ORDER_PAID"), None)
    friendly = next((sid for sid, role in staff if role == "sales"), None)
    demo_staff.execution(app, random.Random(seed + 2), now, front)
    demo_staff.targets(app, now, front)
    _define_segments(app, now)
    _define_sop(app, now)
    return DemoResult(staff=staff, customers=customers, events=len(items), accepted=accepted,
                      duplicates=duplicates, rejected=rejected,
                      seconds=time.perf_counter() - started, sample_customer=sample,
                      friendly_staff=friendly)


def segment_id(name: str) -> UUID:
    """The fixed id of the demo segment ``name`` (one of :data:`SEGMENTS`)."""
    return uuid5(NAMESPACE_URL, f"https://siyu.invalid/demo/segment/{name}")


def _define_segments(app: Siyu, now: datetime) -> None:
    for name, description, rule, tag in SEGMENTS:
        with contextlib.suppress(SegmentAlreadyDefined):  # an earlier demo run defined it
            app.segments.define(name, description, rule, "service:demo", now, tag,
                                segment_id=segment_id(name))


WELCOME_SOP = uuid5(NAMESPACE_URL, "https://siyu.invalid/demo/sop/welcome")


def _define_sop(app: Siyu, now: datetime) -> None:
    """A welcome SOP for new friends: day 0, day 3 guide, day 7 coupon (WeCom, from the owner).

    Defined after the history, so only friends added from now on are enrolled."""
    def step(hours: int, text: str) -> dict[str, object]:
        return {"offset_hours": hours, "channel": "wecom_mass",
                "variants": [{"variant_id": "all", "text": text}]}

    with contextlib.suppress(SopAlreadyDefined):  # an earlier demo run defined it
        app.sops.define("新好友欢迎 SOP", "service:demo", {"kind": "friend_added"}, [
            step(0, "欢迎加入, 您当前积分 {points_balance}"),
            step(72, "新手指南 - 会员等级 {member_level} 的专属权益"),
            step(168, "送您一张 {favourite_category} 品类优惠券")],
            "service:demo", now, sop_id=WELCOME_SOP)


def write_tokens(path: Path, tokens: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(tokens, indent=2) + "\n")
    path.chmod(0o600)
