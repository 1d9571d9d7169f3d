"""Manager-overview benchmarks.

``private_domain_projection``: events/s the ``private_domain_link`` read model projects
alone, from a log of touchpoint events (group joins and leaves, WeCom and personal-WeChat
friend adds and deletions, memberships) recorded through the application for 5,000
customers over 30 days.

``private_domain_series_ms``: ms to read the 30-day series of ``managerOverview``
(``private_domain_users_daily``) over that read model, company-wide (median of 20).
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import psycopg

from bench.common import SECRET, Measure, fresh_database, measure
from domain.items import EventItem
from projections.private_domain import PrivateDomainView
from projections.runner import BatchRunner, Tracker
from projections.staff_performance import StaffPerformanceView
from siyu.bootstrap import build_application

START = datetime(2026, 11, 1, tzinfo=UTC)
KINDS = ["GROUP_JOINED", "GROUP_LEFT", "FRIEND_ADDED", "FRIEND_DELETED", "MEMBER_REGISTERED",
         "PERSONAL_WECHAT_FRIEND_ADDED", "PERSONAL_WECHAT_FRIEND_DELETED"]


def _item(n: int, rng: random.Random) -> EventItem:
    who = ("wx_unionid", f"u{n % 5000}")
    at = START + timedelta(minutes=rng.randrange(30 * 24 * 60))
    kind = rng.choice(KINDS)
    staff = f"wecom_user:s{rng.randrange(20)}"
    if kind.startswith("GROUP"):
        return EventItem(f"e{n}", kind, who, at, group_id=f"g{rng.randrange(8)}")
    if kind == "FRIEND_DELETED":
        return EventItem(f"e{n}", kind, who, at, staff_id=staff, deleted_by="CUSTOMER")
    if "FRIEND" in kind:
        return EventItem(f"e{n}", kind, who, at, staff_id=staff, channel="qr")
    return EventItem(f"e{n}", kind, who, at)


def private_domain_projection(quick: bool) -> list[Measure]:
    url = fresh_database()
    app = build_application(url, SECRET)
    total = 20_000 if quick else 100_000
    rng = random.Random(18)
    for start in range(0, total, 1000):
        app.ingestion.record_batch([_item(n, rng) for n in range(start, start + 1000)],
                                   "service:bench")
    tracker = Tracker(app.factory.datastore)  # type: ignore[attr-defined]
    BatchRunner(app, StaffPerformanceView(), tracker)  # staff_department_on, for the series
    runner = BatchRunner(app, PrivateDomainView(), tracker)
    last = app.recorder.max_notification_id() or 0
    began = time.perf_counter()
    runner.catch_up()
    rate = last / (time.perf_counter() - began)
    app.close()
    timings = []
    with psycopg.connect(url) as conn:
        for _ in range(20):
            began = time.perf_counter()
            conn.execute("SELECT * FROM private_domain_users_daily(%s, %s, NULL)",
                         (date(2026, 11, 1), date(2026, 11, 30))).fetchall()
            timings.append((time.perf_counter() - began) * 1000)
    return [measure("private_domain_projection", rate, "events/s"),
            measure("private_domain_series_ms", statistics.median(timings), "ms")]


BENCHMARKS: dict[str, Callable[[bool], list[Measure]]] = {
    "private_domain_projection": private_domain_projection}
