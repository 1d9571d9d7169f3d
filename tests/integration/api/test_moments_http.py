"""Moments end to end: GraphQL → the moment worker → the fake's moments API; members post,
the sync records each post once on the moments KPI; a lost answer is reconciled, never
repeated; members' own posts are recorded; the daily limit and bad input get typed errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from adapters.moment_client import WeComMoments
from application.app import Siyu
from domain.ingestion import EventItem
from domain.working_time import business_day
from fakes.wecom import FAKE_CORP_ID, FAKE_CORP_SECRET, RunningFakeWeCom
from projections.runner import Tracker
from tests.integration.api.conftest import Api
from workers.lent import opener
from workers.moments import MomentSync

pytestmark = pytest.mark.integration

CREATE = """mutation($input: CreateMomentTaskInput!) { createMomentTask(input: $input) {
  projected task { id status userIds staffIds audience day momentId postedUserIds } } }"""
TASK = """query($id: ID!) { momentTask(id: $id) { id status momentId invalidUserIds
  postedUserIds postedCount } }"""
CANCEL = """mutation($id: ID!) { cancelMomentTask(input: {id: $id}) { task { status } } }"""
PLAN = """query($input: MomentAudienceInput!) { momentTaskPlan(input: $input) {
  audience atLimit userIds } }"""
POSTED = """mutation($posts: [MomentPostedInput!]!) { recordMomentsPosted(input: {posts: $posts})
  { momentId status errorCode } }"""


@pytest.fixture
def sync(pg_app: Siyu, pg_url: str, fake_wecom: RunningFakeWeCom) -> Iterator[MomentSync]:
    client = WeComMoments(fake_wecom.url, FAKE_CORP_ID, FAKE_CORP_SECRET)
    yield MomentSync(pg_app, opener(pg_url), client)
    client.close()


def hire(app: Siyu, user_id: str) -> str:
    return str(app.staff.hire("sales", "front_office", user_id, "system", datetime.now(UTC),
                              wecom_user_id=user_id))


def settle(app: Siyu) -> None:
    tracker = Tracker(app.factory.datastore)  # type: ignore[attr-defined]
    latest = app.recorder.max_notification_id() or 0
    for view in ("moment_task", "customer_profile", "staff_directory",
                 "staff_daily_performance"):
        assert tracker.wait(view, latest, 20), view


def create(api: Api, **fields: Any) -> dict[str, Any]:
    body = api.gql(CREATE, {"input": {"content": "双十二新品上市, 欢迎到店体验", **fields}},
                   as_="manager")
    assert "errors" not in body, body
    task: dict[str, Any] = body["data"]["createMomentTask"]["task"]
    return task


def task(api: Api, task_id: str) -> dict[str, Any]:
    found: dict[str, Any] = api.gql(TASK, {"id": task_id}, as_="manager")["data"]["momentTask"]
    return found


def error(body: dict[str, Any]) -> dict[str, Any]:
    assert body.get("errors"), body
    extensions: dict[str, Any] = body["errors"][0]["extensions"]
    return {k: extensions.get(k) for k in ("code", "field")}


def moments_posts(pg_url: str, staff_id: str) -> int:
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT coalesce(sum(moments_posts), 0) FROM "
                           "staff_daily_performance WHERE staff_id = %s", (staff_id,)).fetchone()
    return int(row[0]) if row else 0


def run(sync: MomentSync, app: Siyu, times: int = 1) -> None:
    for _ in range(times):
        sync.run_once()
        settle(app)


def test_a_task_is_created_at_wecom_and_each_members_post_counts_once(
        api: Api, pg_app: Siyu, pg_url: str, fake_wecom: RunningFakeWeCom,
        sync: MomentSync) -> None:
    zhang, li = hire(pg_app, "zhangsan"), hire(pg_app, "lisi")
    fake_wecom.state.moments.members = {"zhangsan", "lisi"}
    settle(pg_app)
    # Given a task for two members, one by staff id and one by UserID
    created = create(api, staffIds=[zhang], userIds=["lisi"])
    assert created["status"] == "PLANNED" and sorted(created["userIds"]) == ["lisi", "zhangsan"]
    # When the worker submits it and follows the job until WeCom has created it
    run(sync, pg_app, 4)
    accepted = task(api, created["id"])
    assert accepted["status"] == "ACCEPTED" and accepted["momentId"]
    assert fake_wecom.state.moments.add_calls == 1
    # Then nothing is posted until a member posts in their client
    assert accepted["postedUserIds"] == [] and moments_posts(pg_url, zhang) == 0
    assert fake_wecom.state.moments.post(accepted["momentId"], "zhangsan")
    run(sync, pg_app, 3)  # synced three times: still one post
    after = task(api, created["id"])
    assert after["postedUserIds"] == ["zhangsan"]
    assert (moments_posts(pg_url, zhang), moments_posts(pg_url, li)) == (1, 0)
    # And a cancelled task is stopped at WeCom: the other member can no longer post it
    assert api.gql(CANCEL, {"id": created["id"]}, as_="manager")["data"][
        "cancelMomentTask"]["task"]["status"] == "CANCELLED"
    run(sync, pg_app)
    assert not fake_wecom.state.moments.post(accepted["momentId"], "lisi")


def test_a_task_whose_answer_was_lost_is_reconciled_not_created_twice(
        api: Api, pg_app: Siyu, fake_wecom: RunningFakeWeCom, sync: MomentSync) -> None:
    hire(pg_app, "zhangsan")
    settle(pg_app)
    created = create(api, userIds=["zhangsan"])
    # Given WeCom creates the task but its answer is lost
    fake_wecom.state.moments.inject("lost_reply")
    run(sync, pg_app)
    assert task(api, created["id"])["status"] == "UNKNOWN"
    # When the worker comes back after the reconciliation delay
    sync.clock = lambda: datetime.now(UTC) + timedelta(minutes=5)
    run(sync, pg_app)
    # Then it adopted WeCom's moment: accepted, and one task at WeCom
    [moment] = fake_wecom.state.moments.moments.values()
    assert task(api, created["id"])["momentId"] == moment.moment_id
    assert fake_wecom.state.moments.add_calls == 1


def test_members_own_posts_are_recorded_once_from_wecom_and_from_a_source(
        api: Api, pg_app: Siyu, pg_url: str, fake_wecom: RunningFakeWeCom,
        sync: MomentSync) -> None:
    zhang = hire(pg_app, "zhangsan")
    settle(pg_app)
    fake_wecom.state.moments.post_personal("zhangsan", "今天的店里很热闹")
    run(sync, pg_app, 2)
    assert moments_posts(pg_url, zhang) == 1
    # A source reports a post (by UserID) twice, and one for a stranger
    at = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    posts = [{"staffId": "wecom_user:zhangsan", "momentId": "side-1", "occurredAt": at}] * 2 + [
        {"staffId": "wecom_user:nobody", "momentId": "side-2", "occurredAt": at}]
    results = api.gql(POSTED, {"posts": posts}, as_="service")["data"]["recordMomentsPosted"]
    assert [(r["status"], r["errorCode"]) for r in results] == [
        ("ACCEPTED", None), ("DUPLICATE", None), ("REJECTED", "NOT_A_MEMBER")]
    settle(pg_app)
    assert moments_posts(pg_url, zhang) == 2


def test_a_task_over_the_daily_limit_of_a_customer_is_refused(
        api: Api, pg_app: Siyu) -> None:
    zhang = hire(pg_app, "zhangsan")
    hire(pg_app, "lisi")
    # Given a customer who is friends with zhangsan
    pg_app.ingestion.record_batch([EventItem(
        "f1", "FRIEND_ADDED", ("wecom_external:ww1", "wmA"), datetime.now(UTC), channel="wecom",
        staff_id=zhang)], "service:test")
    settle(pg_app)
    # When three tasks reach them today, a fourth through lisi (no friend of theirs) is fine
    for n in range(3):
        assert create(api, content=f"第{n}条", userIds=["zhangsan"])["audience"] == 1
    assert create(api, userIds=["lisi"])["audience"] == 0
    # Then the plan says so before anything is created
    plan = api.gql(PLAN, {"input": {"userIds": ["zhangsan", "lisi"]}}, as_="manager")[
        "data"]["momentTaskPlan"]
    assert (plan["audience"], plan["atLimit"], sorted(plan["userIds"])) == (
        1, 1, ["lisi", "zhangsan"])
    # And a fourth through zhangsan is refused, and one for tomorrow is planned
    assert error(api.gql(CREATE, {"input": {"content": "第四条", "userIds": ["zhangsan"]}},
                         as_="manager")) == {"code": "MOMENT_DAILY_LIMIT", "field": "members"}
    tomorrow = (business_day(datetime.now(UTC)) + timedelta(days=1)).isoformat()
    assert create(api, userIds=["zhangsan"], day=tomorrow)["status"] == "PLANNED"


def test_bad_input_gets_a_typed_error_and_records_nothing(api: Api, pg_app: Siyu) -> None:
    hire(pg_app, "zhangsan")
    settle(pg_app)
    before = pg_app.recorder.max_notification_id()
    yesterday = (business_day(datetime.now(UTC)) - timedelta(days=1)).isoformat()
    cases: list[tuple[dict[str, Any], dict[str, Any]]] = [
             ({"userIds": ["nobody"]}, {"code": "NOT_A_MEMBER", "field": "userIds"}),
             ({"content": "  ", "userIds": ["zhangsan"]}, {"code": "BAD_INPUT",
                                                           "field": "content"}),
             ({"day": yesterday, "userIds": ["zhangsan"]}, {"code": "BAD_INPUT", "field": "day"}),
             ({"departments": ["nowhere"]}, {"code": "BAD_INPUT", "field": "departments"}),
             ({}, {"code": "BAD_INPUT", "field": "staffIds"}),
             ({"content": "长" * 700, "userIds": ["zhangsan"]}, {"code": "BAD_INPUT",
                                                                "field": "content"})]
    for fields, expected in cases:
        body = api.gql(CREATE, {"input": {"content": "内容", **fields}}, as_="manager")
        assert error(body) == expected, fields
    assert error(api.gql(CREATE, {"input": {"content": "x", "userIds": ["zhangsan"]}},
                         as_="staff"))["code"] == "FORBIDDEN"
    assert error(api.gql(TASK, {"id": "0a6f0000-0000-4000-8000-00000000ffff"},
                         as_="manager"))["code"] == "NOT_FOUND"
    assert pg_app.recorder.max_notification_id() == before


def test_a_task_wecom_never_took_is_submitted_again_after_listing_shows_none(
        api: Api, pg_app: Siyu, fake_wecom: RunningFakeWeCom, sync: MomentSync) -> None:
    hire(pg_app, "zhangsan")
    settle(pg_app)
    created = create(api, userIds=["zhangsan"])
    # Given a 500 before WeCom did anything: the outcome is unknown
    fake_wecom.state.moments.inject("http_500")
    run(sync, pg_app)
    assert task(api, created["id"])["status"] == "UNKNOWN"
    # When the worker reconciles after the delay, the listing shows no such moment
    sync.clock = lambda: datetime.now(UTC) + timedelta(minutes=5)
    run(sync, pg_app, 4)
    # Then it submitted again, once, and WeCom has exactly one task
    assert task(api, created["id"])["status"] == "ACCEPTED"
    assert fake_wecom.state.moments.add_calls == 1 and len(fake_wecom.state.moments.moments) == 1


def test_a_task_for_a_later_day_waits_for_that_day(
        api: Api, pg_app: Siyu, fake_wecom: RunningFakeWeCom, sync: MomentSync) -> None:
    hire(pg_app, "zhangsan")
    settle(pg_app)
    tomorrow = business_day(datetime.now(UTC)) + timedelta(days=1)
    created = create(api, userIds=["zhangsan"], day=tomorrow.isoformat())
    run(sync, pg_app)
    assert task(api, created["id"])["status"] == "PLANNED"
    assert fake_wecom.state.moments.add_calls == 0
    sync.clock = lambda: datetime.now(UTC) + timedelta(days=1)
    run(sync, pg_app)
    assert task(api, created["id"])["status"] == "SUBMITTED"


def test_accepted_tasks_take_turns_and_never_hold_back_a_new_one(
        api: Api, pg_app: Siyu, pg_url: str, fake_wecom: RunningFakeWeCom) -> None:
    hire(pg_app, "zhangsan")
    settle(pg_app)
    client = WeComMoments(fake_wecom.url, FAKE_CORP_ID, FAKE_CORP_SECRET)
    small = MomentSync(pg_app, opener(pg_url), client, batch_size=1)
    try:
        # Given two accepted tasks, both posted by the member
        first, second = (create(api, content=f"第{n}条", userIds=["zhangsan"]) for n in (1, 2))
        run(small, pg_app, 8)
        ids = [task(api, t["id"])["momentId"] for t in (first, second)]
        assert all(ids)
        for moment_id in ids:
            assert fake_wecom.state.moments.post(moment_id, "zhangsan")
        # When the worker takes one task a pass, a new task planned meanwhile still goes first
        third = create(api, content="第3条", userIds=["zhangsan"])
        later = datetime.now(UTC) + timedelta(minutes=6)  # past the accepted tasks' poll period
        small.clock = lambda: later
        run(small, pg_app, 1)
        assert task(api, third["id"])["status"] == "SUBMITTED"
        # Then the accepted ones take turns: both posts are recorded within two passes
        assert sum(task(api, t["id"])["postedCount"] for t in (first, second)) == 1
        run(small, pg_app, 1)
        assert [task(api, t["id"])["postedCount"] for t in (first, second)] == [1, 1]
    finally:
        client.close()
