"""Manager-overview benchmarks.

``private_domain_projection``: events/s the ``private_domain_link`` read model projects
alone, from a log of touchpoint events (group joins and leaves, WeCom and personal-WeChat
friend adds and deletions, memberships) recorded through the application for 5,000
customers over 30 days.

``private_domain_series_ms``: ms to read the 30-day series of ``managerOverview``
(``private_domain_users_daily``) over that read model, company-wide (median of 20);
``private_domain_department_series_ms`` the same for one department: the friends of 20
staff members in two departments, a quarter of them moving department mid-month.
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
from projections.organisation import StaffAssignmentView
from projections.private_domain import PrivateDomainView
from projections.runner import BatchRunner, Tracker
from projections.staff_performance import StaffPerformanceView
from siyu.bootstrap import build_application

START = datetime(2026, 11, 1, tzinfo=UTC)
KINDS = ["GROUP_JOINED", "GROUP_LEFT", "FRIEND_ADDED", "FRIEND_DELETED", "MEMBER_REGISTERED",
         "PERSONAL_WECHAT_FRIEND_ADDED", "PERSONAL_WECHAT_FRIEND_DELETED"]


def _item(n: int, rng: random.Random, staff_ids: list[str]) -> EventItem:
    who = ("wx_unionid", f"u{n % 5000}")
    at = START + timedelta(minutes=rng.randrange(30 * 24 * 60))
    kind = rng.choice(KINDS)
    staff = rng.choice(staff_ids)
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
    staff = [app.staff.hire("sales", ("front_office", "middle_office")[s % 2], f"s{s}",
                            "service:bench", START - timedelta(days=30)) for s in range(20)]
    for s in staff[:5]:
        app.staff.move(s, "back_office", "service:bench", START + timedelta(days=15))
    staff_ids = [str(s) for s in staff]
    for start in range(0, total, 1000):
        app.ingestion.record_batch(
            [_item(n, rng, staff_ids) for n in range(start, start + 1000)], "service:bench")
    tracker = Tracker(app.factory.datastore)  # type: ignore[attr-defined]
    for view in (StaffPerformanceView(), StaffAssignmentView()):  # departments, for the series
        BatchRunner(app, view, tracker).catch_up()
    runner = BatchRunner(app, PrivateDomainView(), tracker)
    last = app.recorder.max_notification_id() or 0
    began = time.perf_counter()
    runner.catch_up()
    rate = last / (time.perf_counter() - began)
    app.close()
    timings: dict[str | None, list[float]] = {None: [], "front_office": []}
    with psycopg.connect(url) as conn:
        for _ in range(20):
            for department, times in timings.items():
                began = time.perf_counter()
                conn.execute("SELECT * FROM private_domain_users_daily(%s, %s, %s)",
                             (date(2026, 11, 1), date(2026, 11, 30), department)).fetchall()
                times.append((time.perf_counter() - began) * 1000)
    return [measure("private_domain_projection", rate, "events/s"),
            measure("private_domain_series_ms", statistics.median(timings[None]), "ms"),
            measure("private_domain_department_series_ms",
                    statistics.median(timings["front_office"]), "ms")]


BENCHMARKS: dict[str, Callable[[bool], list[Measure]]] = {
    "private_domain_projection": private_domain_projection}
