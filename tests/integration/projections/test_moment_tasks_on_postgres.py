"""The moment_task read model on PostgreSQL: every event of a task, posts counted from the raw
events by independent code, rebuild == live."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

import pytest

from application.app import Siyu
from domain.moment_task import MomentTask
from projections.moments.view import MomentTaskView
from projections.runner import BatchRunner, Tracker

pytestmark = pytest.mark.integration

AT = datetime(2026, 12, 7, 2, tzinfo=UTC)


def snapshot(app: Siyu) -> list[dict[str, Any]]:
    with app.factory.datastore.transaction() as curs:  # type: ignore[attr-defined]
        curs.execute("SELECT * FROM moment_task ORDER BY task_id")
        return [dict(r) for r in curs.fetchall()]


def test_rebuilding_gives_the_rows_of_the_live_projection(pg_app: Siyu) -> None:
    runner = BatchRunner(pg_app, MomentTaskView(),
                         Tracker(pg_app.factory.datastore),  # type: ignore[attr-defined]
                         page_size=3)
    staff = [pg_app.staff.hire("sales", "front_office", u, "system", AT, wecom_user_id=u)
             for u in ("zhangsan", "lisi", "wangwu")]
    members = [{"staff_id": str(s), "user_id": u}
               for s, u in zip(staff, ("zhangsan", "lisi", "wangwu"), strict=True)]
    moments = pg_app.moments
    # Given tasks through their whole life: accepted and posted, refused, cancelled and stopped
    ids = [moments.plan(f"第{n}条", members, ["vip"] if n else [], date(2026, 12, 7), 5, 0,
                        "staff:m", AT)[0] for n in range(3)]
    for n, task_id in enumerate(ids):
        moments.change(task_id, partial(MomentTask.start_submission, by="system",
                                        occurred_at=AT))
        moments.change(task_id, partial(MomentTask.submitted, jobid=f"job{n}", by="system",
                                        occurred_at=AT))
    moments.change(ids[0], partial(MomentTask.accept, moment_id="mom0", invalid=["wangwu"],
                                   by="system", occurred_at=AT))
    moments.members_posted(ids[0], ["zhangsan"], AT + timedelta(hours=1))
    moments.members_posted(ids[0], ["zhangsan", "lisi"], AT + timedelta(hours=2))
    moments.change(ids[1], partial(MomentTask.refuse, reason="errcode 41008", by="system",
                                   occurred_at=AT))
    moments.change(ids[2], partial(MomentTask.accept, moment_id="mom2", invalid=[],
                                   by="system", occurred_at=AT))
    moments.cancel(ids[2], "staff:m", AT)
    moments.change(ids[2], partial(MomentTask.stopped_at_wecom, by="system", occurred_at=AT))
    # When the view follows the log page by page, then is rebuilt
    runner.catch_up()
    live = snapshot(pg_app)
    runner.rebuild()
    # Then the rows are the same, and as the tasks went
    assert snapshot(pg_app) == live
    rows = {r["task_id"]: r for r in live}
    assert [(rows[i]["status"], rows[i]["moment_id"]) for i in ids] == [
        ("accepted", "mom0"), ("refused", None), ("cancelled", "mom2")]
    assert rows[ids[0]]["invalid_user_ids"] == ["wangwu"]
    assert rows[ids[2]]["stopped_at_wecom"] and rows[ids[1]]["refused_reason"] == "errcode 41008"
    # And the posts are those an independent count of the raw events gives
    raw: Counter[Any] = Counter()
    for notification in pg_app.recorder.select_notifications(0, 10_000):
        event = pg_app.mapper.to_domain_event(notification)
        if isinstance(event, MomentTask.MemberPosted):
            raw[event.originator_id] += 1
    assert {i: rows[i]["posted_count"] for i in ids if rows[i]["posted_count"]} == dict(raw)
    assert raw[ids[0]] == 2
