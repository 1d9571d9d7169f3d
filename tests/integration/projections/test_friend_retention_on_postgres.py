"""``friend_retention_by_channel`` (the manager's 7/30-day retention of WeCom friends) equals
an independent count of the raw log: per add, still a friend of that staff member 7 and 30
days later, by the channel of the add.

The figure is not checkpoint-aware: an add of the last 7 (30) days counts as retained when
nothing removed it yet (docs/funnels.md's cohorts count only checkpoints that have come)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from application.app import Siyu
from projections.runner import BatchRunner, Tracker
from projections.staff_performance import StaffPerformanceView
from tests.integration.projections.test_funnels_on_postgres import raw_log
from tests.support.funnel_history import record_history

pytestmark = pytest.mark.integration
SHANGHAI = ZoneInfo("Asia/Shanghai")


def expected(log: list[tuple[int, Any]], start: date, end: date) -> dict[str, list[int]]:
    facts: dict[tuple[str, str], list[tuple[Any, int, bool]]] = defaultdict(list)
    adds = []
    for position, e in log:
        name = type(e).__qualname__
        if name in ("Customer.FriendAdded", "Customer.FriendDeleted"):
            facts[(str(e.originator_id), e.staff_id)].append(
                (e.occurred_at, position, name == "Customer.FriendAdded"))
            if name == "Customer.FriendAdded":
                adds.append(e)
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for add in adds:
        if not start <= add.occurred_at.astimezone(SHANGHAI).date() <= end:
            continue
        history = sorted(facts[(str(add.originator_id), add.staff_id)])
        counts = out[add.channel]
        counts[0] += 1
        for i, days in ((1, 7), (2, 30)):
            until = add.occurred_at + timedelta(days=days)
            counts[i] += int([f for f in history if f[0] <= until][-1][2])
    return dict(out)


def test_friend_retention_by_channel_is_the_log_recounted(pg_app: Siyu) -> None:
    record_history(pg_app, seed=5, customers=50)
    tracker = Tracker(pg_app.factory.datastore)  # type: ignore[attr-defined]
    BatchRunner(pg_app, StaffPerformanceView(), tracker, page_size=17).catch_up()
    start, end = date(2025, 1, 1), date(2027, 1, 1)
    with pg_app.factory.datastore.transaction() as curs:  # type: ignore[attr-defined]
        curs.execute("SELECT * FROM friend_retention_by_channel(%s, %s)", (start, end))
        got = {r["channel"]: r for r in curs.fetchall()}
    want = expected(raw_log(pg_app), start, end)
    assert {c: [r["friends_new"], r["retained_7d"], r["retained_30d"]]
            for c, r in got.items()} == want
    for channel, (n, r7, r30) in want.items():
        assert got[channel]["retention_7d"] == round(Decimal(r7) / n, 4)
        assert got[channel]["retention_30d"] == round(Decimal(r30) / n, 4)
    assert sum(n for n, _, _ in want.values()) > sum(r for _, _, r in want.values()) > 0
