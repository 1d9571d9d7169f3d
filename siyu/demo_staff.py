"""Demo data for the staff views: chats, execution facts, tasks, targets and a lexicon.

Chats are conversations: a customer writes (mostly in the day, Asia/Shanghai) and the owner
answers within minutes, later outside service hours, or not at all; a few staff messages
carry a term of the demo lexicon (私单 / 飞单), and so do a few customers' (abuse too), so alerts
and both sides' sensitive-word KPIs have data.
Execution: holiday greetings and follow-ups per customer, moments posts and weekly
marketing tasks per front-line member; targets for the current month. Everything is keyed
(event ids, moment ids, assignment keys, target periods), so loading twice adds nothing.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from uuid import UUID

from application.app import Siyu
from domain.items import EventItem
from domain.target import Target, period_start
from domain.working_time import SHANGHAI

BY = "system:demo"
#: Demo lexicon: category → terms (the categories are the lexicon's own).
TERMS = {"private_order": ["私下转账", "加我私人微信"], "diverted_order": ["去别家店买"],
         "abuse": ["你烦不烦"]}
REPLIES = ["您好, 我看一下订单", "好的, 马上为您安排", "这款现在有活动哦", "已经帮您登记了",
           "明天上午发货", "可以的, 给您备注了", "稍等, 我问下仓库"]
FLAGGED = ["这单私下转账给我, 便宜点", "加我私人微信, 下次直接找我", "这款去别家店买更划算"]
#: Customers' words hitting the demo lexicon (one hits two categories).
CUSTOMER_FLAGGED = ["你烦不烦, 还不发货", "能私下转账便宜点吗", "我去别家店买了",
                    "你烦不烦, 私下转账行不行"]
OUTREACH = ["新品上市, 给您留了试用装", "本周会员日, 满 299 减 50", "上次的宝宝用得还好吗?"]


def conversations(n: int, rng: random.Random, now: datetime, first: datetime,
                  who: tuple[str, str], owner: UUID) -> list[EventItem]:
    """A friend's chats with their owner since ``first``."""
    out: list[EventItem] = []
    ids = iter(range(10_000))
    staff = str(owner)

    def add(kind: str, at: datetime, **fields: object) -> None:
        if first < at < now:
            out.append(EventItem(f"demo-c-{n}-{next(ids)}", kind, who, at,
                                 staff_id=staff, **fields))  # type: ignore[arg-type]

    days = max((now - first).days, 1)
    for i in range(int(rng.expovariate(0.5))):
        day = (first + timedelta(days=rng.randrange(days))).astimezone(SHANGHAI).date()
        start = datetime.combine(day, time(rng.choice(range(8, 23)), rng.randrange(60)),
                                 SHANGHAI).astimezone(UTC)
        if rng.random() < 0.2:  # the member reaches out
            add("MESSAGE_SENT", start, message_kind="text", text=rng.choice(OUTREACH))
            continue
        kind = rng.choices(["text", "image", "voice"], [80, 12, 8])[0]
        length = rng.randrange(2, 80)
        said = (CUSTOMER_FLAGGED[(n + i) % len(CUSTOMER_FLAGGED)]
                if kind == "text" and (n + i) % 3 == 0 else None)  # no draw: same demo
        add("MESSAGE_RECEIVED", start, message_kind=kind, text_length=length, text=said)
        if rng.random() < 0.07:
            continue  # left unanswered
        local = start.astimezone(SHANGHAI)
        if local.hour >= 21 or local.hour < 9:  # answered when service opens
            opens = local.date() + timedelta(days=1 if local.hour >= 21 else 0)
            reply = datetime.combine(opens, time(9, rng.randrange(30)), SHANGHAI)
        else:
            reply = local + timedelta(seconds=rng.expovariate(1 / 300) if rng.random() < 0.85
                                      else rng.uniform(1800, 3 * 3600))
        text = rng.choice(FLAGGED) if rng.random() < 0.006 else rng.choice(REPLIES)
        add("MESSAGE_SENT", reply.astimezone(UTC), message_kind="text", text=text)
    return out


def courtesies(n: int, rng: random.Random, now: datetime, first: datetime,
               who: tuple[str, str], owner: UUID, orders: Sequence[datetime]) -> list[EventItem]:
    """A holiday greeting on member day and follow-ups after orders (a friend's)."""
    out: list[EventItem] = []
    member_day = datetime.combine((now - timedelta(days=12)).astimezone(SHANGHAI).date(),
                                  time(10, rng.randrange(60)), SHANGHAI).astimezone(UTC)
    if first < member_day and rng.random() < 0.6:
        out.append(EventItem(f"demo-g-{n}", "HOLIDAY_GREETING_SENT", who, member_day,
                             staff_id=str(owner), occasion="member_day"))
    for k, paid in enumerate(orders):
        follow = paid + timedelta(days=rng.uniform(1, 4))
        if rng.random() < 0.4 and first < follow < now:
            out.append(EventItem(f"demo-f-{n}-{k}", "FOLLOW_UP_RECORDED", who, follow,
                                 staff_id=str(owner),
                                 follow_up_kind=rng.choice(["call", "wechat", "visit"])))
    return out


def lexicon(app: Siyu, now: datetime) -> None:
    """The demo's sensitive terms, in force before the demo month."""
    for category, terms in TERMS.items():
        app.supervision.add_terms(category, terms, BY, now - timedelta(days=32))


def execution(app: Siyu, rng: random.Random, now: datetime,
              front: Sequence[UUID]) -> None:
    """Moments posts and weekly marketing tasks of the front-line members, last 4 weeks."""
    monday = (now.astimezone(SHANGHAI) - timedelta(days=now.astimezone(SHANGHAI).weekday()))
    for member in front:
        for d in range(30):
            if rng.random() < 0.45:
                at = now - timedelta(days=d, hours=rng.uniform(1, 10))
                app.staff.record_moment_posted(member, f"demo-moment-{d}", BY, at)
        for week in range(4):
            start = datetime.combine((monday - timedelta(weeks=week)).date(), time(9),
                                     SHANGHAI).astimezone(UTC)
            for kind, title in (("moments_post", "本周朋友圈 3 条"),
                                ("follow_up", "回访上周下单客户")):
                task_id, position = app.marketing_tasks.assign(
                    f"demo:{member}:{start.date()}:{kind}", title, kind, member,
                    start + timedelta(days=5), BY, start)
                done = start + timedelta(days=rng.uniform(1, 5))
                completes = rng.random() < 0.75  # drawn on every run: a re-run stays in step
                if position is not None and done < now and completes:
                    app.marketing_tasks.complete(task_id, member, None, [], BY, done)


def targets(app: Siyu, now: datetime, front: Sequence[UUID]) -> None:
    """This month's targets: GMV and new friends per member, GMV for the front office.

    Each is defined only if absent: one a manager revised since stays as they left it."""
    today = now.astimezone(SHANGHAI).date()
    at = now - timedelta(days=now.astimezone(SHANGHAI).day - 1)
    month = period_start("month", today).isoformat()
    wanted = [("staff", str(member), kpi, value) for member in front
              for kpi, value in (("gmv_fen", 1_500_000), ("friends_new", 60))]
    wanted.append(("department", "front_office", "gmv_fen", 20_000_000))
    for scope, subject, kpi, value in wanted:
        if app.find(Target.create_id(scope, subject, "month", month, kpi), Target,
                    fresh=True) is None:
            app.targets.set(scope, subject, "month", today, kpi, value, BY, at)
