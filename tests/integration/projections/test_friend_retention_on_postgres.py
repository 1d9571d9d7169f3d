"""``friend_retention_by_channel`` (the manager's 7/30-day retention of WeCom friends) equals
an independent count of the raw log: per add, still a friend of that staff member 7 and 30
days later, by the channel of the add.

Only windows that have come count: an add is due at 7 (30) days once its whole add day plus
7 (30) days lies before the as-of day, and only due adds can be retained (docs/bi.md)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from application.app import Siyu
from projections.organisation import StaffAssignmentView
from projections.private_domain import queries
from projections.reads import Row
from projections.runner import BatchRunner, Tracker
from projections.staff_performance import StaffPerformanceView
from tests.integration.projections.test_funnels_on_postgres import raw_log
from tests.support.funnel_history import record_history

pytestmark = pytest.mark.integration
SHANGHAI = ZoneInfo("Asia/Shanghai")


def expected(log: list[tuple[int, Any]], start: date, end: date, as_of: date
             ) -> dict[str, list[int]]:
    """Per channel: adds, due at 7 days, retained at 7, due at 30 days, retained at 30."""
    facts: dict[tuple[str, str], list[tuple[Any, int, bool]]] = defaultdict(list)
    adds = []
    for position, e in log:
        name = type(e).__qualname__
        if name in ("Customer.FriendAdded", "Customer.FriendDeleted"):
            facts[(str(e.originator_id), e.staff_id)].append(
                (e.occurred_at, position, name == "Customer.FriendAdded"))
            if name == "Customer.FriendAdded":
                adds.append(e)
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    as_of_start = datetime.combine(as_of, time(0), SHANGHAI)
    for add in adds:
        day = add.occurred_at.astimezone(SHANGHAI).date()
        if not start <= day <= end:
            continue
        history = sorted(facts[(str(add.originator_id), add.staff_id)])
        counts = out[add.channel]
        counts[0] += 1
        for i, days in ((1, 7), (3, 30)):
            day_end = datetime.combine(day + timedelta(days=1), time(0), SHANGHAI)
            if day_end + timedelta(days=days) > as_of_start:
                continue  # the window of some add that day has not passed: not due
            until = add.occurred_at + timedelta(days=days)
            counts[i] += 1
            counts[i + 1] += int([f for f in history if f[0] <= until][-1][2])
    return dict(out)


def test_friend_retention_by_channel_counts_only_windows_that_have_come(pg_app: Siyu) -> None:
    # Given eight months of adds and deletions up to an hour ago
    record_history(pg_app, seed=5, customers=50)
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    BatchRunner(pg_app, StaffPerformanceView(), tracker, page_size=17).catch_up()
    start, end = date(2025, 1, 1), date(2027, 1, 1)
    log = raw_log(pg_app)
    today = datetime.now(SHANGHAI).date()
    for as_of in (today, today - timedelta(days=20), None):
        # When the retention is read as of a day (None: the default, today)
        with pg_app.factory.datastore.transaction() as curs:  # type: ignore[attr-defined]
            if as_of is None:
                curs.execute("SELECT * FROM friend_retention_by_channel(%s, %s)", (start, end))
            else:
                curs.execute("SELECT * FROM friend_retention_by_channel(%s, %s, %s)",
                             (start, end, as_of))
            got = {r["channel"]: r for r in curs.fetchall()}
        # Then only adds whose window has come are due, and retained among those
        want = expected(log, start, end, as_of or today)
        assert {c: [r["friends_new"], r["due_7d"], r["retained_7d"], r["due_30d"],
                    r["retained_30d"]] for c, r in got.items()} == want
        for channel, (_, d7, r7, d30, r30) in want.items():
            assert got[channel]["retention_7d"] == (round(Decimal(r7) / d7, 4) if d7 else None)
            assert got[channel]["retention_30d"] == (
                round(Decimal(r30) / d30, 4) if d30 else None)
        totals = [sum(v[i] for v in want.values()) for i in range(5)]
        assert totals[0] >= totals[1] >= totals[3] > 0
        assert totals[1] > totals[2] > 0 and totals[3] > totals[4]
        if as_of == today - timedelta(days=20):
            # the adds of the 20 days before were counted as retained by the old figure
            assert totals[0] > totals[1] > totals[3]


def test_the_manager_overview_counts_retention_by_the_same_due_windows(
        pg_app: Siyu, pg_url: str) -> None:
    # Given eight months of adds and deletions up to an hour ago
    record_history(pg_app, seed=7, customers=40)
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    for view in (StaffPerformanceView(), StaffAssignmentView()):
        BatchRunner(pg_app, view, tracker, page_size=23).catch_up()
    start, end = date(2025, 1, 1), date(2027, 1, 1)
    log = raw_log(pg_app)
    today = datetime.now(SHANGHAI).date()

    async def read(as_of: date) -> list[Row]:
        async with AsyncConnectionPool(pg_url, connection_class=AsyncConnection[DictRow],
                                       kwargs={"row_factory": dict_row}, open=False) as pool:
            return await queries.retention_by_channel(pool, start, end, None, as_of)

    for as_of in (today, today - timedelta(days=3), today - timedelta(days=20)):
        # When the manager overview's retention per channel is read as of a day
        got = {r["channel"]: [r["friends_new"], r["due_7d"], r["retained_7d"], r["due_30d"],
                              r["retained_30d"]] for r in asyncio.run(read(as_of))}
        # Then an add counts only once its whole window has passed, as recomputed from the log
        want = expected(log, start, end, as_of)
        assert got == want, as_of
        new, due7, _, due30, _ = (sum(v[i] for v in want.values()) for i in range(5))
        assert new > due7 > 0 and due7 >= due30 > 0, "some windows are still open"
