"""Moment tasks: lifecycle, the daily limit, the read-model row, posts recorded once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import pytest

from application.app import Siyu
from domain.errors import InvalidInput, MomentDailyLimit, MomentTaskClosed
from domain.moment_task import PER_CUSTOMER_DAY, MomentTask, check_daily_limit
from domain.staff import Staff
from projections.moments.view import apply

AT = datetime(2026, 12, 7, 2, tzinfo=UTC)
DAY = date(2026, 12, 7)


def plan(app: Siyu, staff: list[tuple[UUID, str]]) -> UUID:
    members = [{"staff_id": str(s), "user_id": u} for s, u in staff]
    return app.moments.plan("新品上市", members, ["tag-vip"], DAY, 10, 0, "staff:m", AT)[0]


def hire(app: Siyu, user_id: str) -> UUID:
    return app.staff.hire("sales", "front_office", user_id, "system", AT, wecom_user_id=user_id)


def test_a_task_goes_from_planned_to_accepted_and_counts_each_post_once(
        memory_app: Siyu) -> None:
    zhang, li = hire(memory_app, "zhangsan"), hire(memory_app, "lisi")
    task_id = plan(memory_app, [(zhang, "zhangsan"), (li, "lisi")])
    moments = memory_app.moments
    moments.change(task_id, lambda t: t.start_submission("system", AT))
    moments.change(task_id, lambda t: t.submitted("job1", "system", AT))
    moments.change(task_id, lambda t: t.accept("mom1", ["lisi"], "system", AT))
    # When WeCom reports zhangsan's post on three syncs
    first = moments.members_posted(task_id, ["zhangsan"], AT + timedelta(hours=1))
    again = [moments.members_posted(task_id, ["zhangsan"], AT + timedelta(hours=h))
             for h in (2, 3)]
    # Then one staff post is recorded, at the time it was first seen
    assert (first, again) == (1, [0, 0])
    posts = [e for e in memory_app.repository.event_store.get(zhang)
             if isinstance(e, Staff.MomentPosted)]
    assert [(p.moment_id, p.occurred_at) for p in posts] == [("mom1", AT + timedelta(hours=1))]
    assert moments.task(task_id).posted == {"zhangsan": str(zhang)}


def test_a_crash_between_the_task_and_the_staff_post_is_repaired_by_the_next_sync(
        memory_app: Siyu) -> None:
    zhang = hire(memory_app, "zhangsan")
    task_id = plan(memory_app, [(zhang, "zhangsan")])
    moments = memory_app.moments
    moments.change(task_id, lambda t: t.start_submission("system", AT))
    moments.change(task_id, lambda t: t.accept("mom1", [], "system", AT))
    # Given the task recorded the post but the process died before the staff post
    moments.change(task_id, lambda t: t.member_posted("zhangsan", "system", AT))
    # When the next sync sees the same post
    assert moments.members_posted(task_id, ["zhangsan"], AT + timedelta(hours=1)) == 1
    assert moments.members_posted(task_id, ["zhangsan"], AT + timedelta(hours=2)) == 0


def test_a_busy_answer_plans_again_and_a_cancelled_task_is_never_submitted(
        memory_app: Siyu) -> None:
    zhang = hire(memory_app, "zhangsan")
    task_id = plan(memory_app, [(zhang, "zhangsan")])
    moments = memory_app.moments
    moments.change(task_id, lambda t: t.start_submission("system", AT))
    moments.change(task_id, lambda t: t.defer("errcode -1", "system", AT))
    assert moments.task(task_id).status == "planned"
    assert moments.cancel(task_id, "staff:m", AT) is not None
    assert moments.cancel(task_id, "staff:m", AT) is None  # cancelled already
    with pytest.raises(MomentTaskClosed):
        moments.change(task_id, lambda t: t.start_submission("system", AT))


def test_a_task_needs_members_and_a_text_wecom_accepts() -> None:
    members = [{"staff_id": "s", "user_id": "u"}]
    with pytest.raises(InvalidInput):
        MomentTask.plan(" ", members, [], DAY, 0, "m", AT)
    with pytest.raises(InvalidInput):
        MomentTask.plan("长" * 667, members, [], DAY, 0, "m", AT)  # 2,001 bytes
    with pytest.raises(InvalidInput):
        MomentTask.plan("ok", [], [], DAY, 0, "m", AT)
    assert MomentTask.plan("长" * 666, members, [], DAY, 0, "m", AT).day == "2026-12-07"


def test_the_daily_limit_refuses_a_task_any_customer_would_see_too_often() -> None:
    check_daily_limit(0, 500)
    with pytest.raises(MomentDailyLimit) as refused:
        check_daily_limit(2, 500)
    assert refused.value.code == "MOMENT_DAILY_LIMIT" and PER_CUSTOMER_DAY == 3


def test_the_row_follows_the_task_and_ignores_an_event_folded_twice(memory_app: Siyu) -> None:
    zhang = hire(memory_app, "zhangsan")
    task_id = plan(memory_app, [(zhang, "zhangsan")])
    moments = memory_app.moments
    moments.change(task_id, lambda t: t.start_submission("system", AT))
    moments.change(task_id, lambda t: t.accept("mom1", [], "system", AT))
    moments.members_posted(task_id, ["zhangsan"], AT)
    moments.cancel(task_id, "staff:m", AT)
    moments.change(task_id, lambda t: t.stopped_at_wecom("system", AT))
    events = list(memory_app.repository.event_store.get(task_id))
    row = None
    for n, event in enumerate(events + events, 1):
        row = apply(row, event, n)
    assert row is not None
    assert (row["status"], row["moment_id"], row["posted_user_ids"], row["stopped_at_wecom"],
            row["day"], row["audience_staff"]) == (
        "cancelled", "mom1", ["zhangsan"], True, DAY, sorted([str(zhang),
                                                              "wecom_user:zhangsan"]))


def test_a_task_cancelled_while_wecom_creates_it_records_the_jobs_moment_to_stop_it(
        memory_app: Siyu) -> None:
    zhang = hire(memory_app, "zhangsan")
    task_id = plan(memory_app, [(zhang, "zhangsan")])
    moments = memory_app.moments
    # Given a task WeCom is creating (add_moment_task answered a job id)
    moments.change(task_id, lambda t: t.start_submission("system", AT))
    moments.change(task_id, lambda t: t.submitted("job1", "system", AT))
    # When a manager cancels it, then the job finishes
    assert moments.cancel(task_id, "staff:m", AT) is not None
    assert moments.task(task_id).awaiting_wecom
    moments.change(task_id, lambda t: t.accept("mom1", [], "system", AT))
    # Then it stays cancelled, with the moment WeCom made, to be stopped there
    task = moments.task(task_id)
    assert (task.status, task.moment_id, task.awaiting_wecom) == ("cancelled", "mom1", False)
    moments.change(task_id, lambda t: t.stopped_at_wecom("system", AT))
    assert moments.task(task_id).stopped
    # And the row says the same (a rebuild folds the same events)
    row = None
    for n, event in enumerate(memory_app.repository.event_store.get(task_id), 1):
        row = apply(row, event, n)
    assert row is not None
    assert (row["status"], row["jobid"], row["moment_id"], row["cancelled_creating"],
            row["stopped_at_wecom"]) == ("cancelled", "job1", "mom1", True, True)


def test_a_task_cancelled_while_being_submitted_that_wecom_refuses_has_nothing_to_stop(
        memory_app: Siyu) -> None:
    zhang = hire(memory_app, "zhangsan")
    task_id = plan(memory_app, [(zhang, "zhangsan")])
    moments = memory_app.moments
    moments.change(task_id, lambda t: t.start_submission("system", AT))
    moments.cancel(task_id, "staff:m", AT)  # while the add call is in flight
    moments.change(task_id, lambda t: t.refuse("errcode 40003", "system", AT))
    task = moments.task(task_id)
    assert (task.status, task.stopped, task.awaiting_wecom) == ("cancelled", True, False)
    with pytest.raises(MomentTaskClosed):
        moments.change(task_id, lambda t: t.start_submission("system", AT))
