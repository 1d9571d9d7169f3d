"""The fake's moments behave as WeCom documents: asynchronous jobs, nothing posted until a
member posts, cancelled tasks closed, listing windows of at most 30 days."""

from __future__ import annotations

from typing import Any

from fakes.moments import FakeMoments

NOW = 1_765_000_000.0


def fake() -> FakeMoments:
    return FakeMoments(members={"zhangsan", "lisi"}, clock=lambda: NOW)


def add(state: FakeMoments, users: list[str], text: str = "新品") -> str:
    status, body = state.call("add", {"text": {"content": text},
                                      "visible_range": {"sender_list": {"user_list": users}}})
    assert status == 200 and body["errcode"] == 0, body
    return str(body["jobid"])


def result(state: FakeMoments, jobid: str) -> dict[str, Any]:
    return state.call("result", {"jobid": jobid})[1]


def test_a_job_reports_started_creating_then_done_with_the_invalid_members() -> None:
    state = fake()
    jobid = add(state, ["zhangsan", "wangwu"])
    assert [result(state, jobid)["status"] for _ in range(2)] == [1, 2]
    done = result(state, jobid)
    assert done["status"] == 3 and done["result"]["moment_id"].startswith("mom")
    assert done["result"]["invalid_sender_list"]["user_list"] == ["wangwu"]
    assert state.call("result", {"jobid": "nope"})[1]["errcode"] == 40058


def test_nothing_is_posted_until_a_member_posts_and_a_cancelled_task_takes_no_post() -> None:
    state = fake()
    jobid = add(state, ["zhangsan", "lisi"])
    for _ in range(3):
        moment_id = result(state, jobid).get("result", {}).get("moment_id")
    listed = state.call("task", {"moment_id": moment_id})[1]["task_list"]
    assert [r["publish_status"] for r in listed] == [0, 0]
    assert state.post(moment_id, "zhangsan") and not state.post(moment_id, "wangwu")
    assert state.call("cancel", {"moment_id": moment_id})[1]["errcode"] == 0
    assert not state.post(moment_id, "lisi")
    listed = state.call("task", {"moment_id": moment_id})[1]["task_list"]
    assert {r["userid"]: r["publish_status"] for r in listed} == {"zhangsan": 1, "lisi": 0}


def test_listing_separates_enterprise_and_personal_posts_within_30_days() -> None:
    state = fake()
    add(state, ["zhangsan"])
    own = state.post_personal("lisi", "店里上新")
    window = {"start_time": int(NOW) - 60, "end_time": int(NOW) + 60}
    mine = state.call("list", {**window, "filter_type": 1})[1]["moment_list"]
    assert [(m["moment_id"], m["creator"], m["create_type"]) for m in mine] == [(own, "lisi", 1)]
    assert len(state.call("list", {**window, "filter_type": 2})[1]["moment_list"]) == 2
    too_long = {"start_time": int(NOW) - 31 * 86400, "end_time": int(NOW)}
    assert state.call("list", too_long)[1]["errcode"] == 40058


def test_an_empty_text_is_refused_and_a_lost_reply_still_creates_the_task() -> None:
    state = fake()
    status, body = state.call("add", {"text": {"content": ""}})
    assert body["errcode"] != 0
    state.inject("lost_reply")
    status, _ = state.call("add", {"text": {"content": "x"},
                                   "visible_range": {"sender_list": {"user_list": ["lisi"]}}})
    assert status == 502 and len(state.moments) == 1
