"""Client of WeCom's enterprise moments API (客户朋友圈, 企业发表).

WeCom: ``add_moment_task`` (text and attachments, ``visible_range``: the members who post it —
``sender_list.user_list`` — and the customer tags that see it) answers a ``jobid``: creation is
asynchronous. ``get_moment_task_result?jobid=`` (GET) answers ``status`` 1 started / 2 creating
/ 3 done, then ``result.moment_id`` and the invalid members and tags. ``get_moment_task`` lists
each member's ``publish_status`` (0 not yet, 1 posted); ``cancel_moment_task`` stops a task;
``get_moment_list`` lists the moments created in a window of at most 30 days, enterprise
(``create_type`` 0) and members' own (1).

``add_moment_task`` is not idempotent and an answer can be lost after WeCom created the job;
the caller records its intent first and, on an ``UNKNOWN`` answer, reconciles with
:meth:`WeComMoments.moments` (enterprise moments created since the attempt, matched by text)
before it submits again.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from adapters.contact_ways import Answer, classified_call
from adapters.wecom_client import WeComSession

PATH = "/cgi-bin/externalcontact/"
LIST_WINDOW = 30 * 86400 - 1  # get_moment_list: at most 30 days per call
ENTERPRISE, PERSONAL = 0, 1


@dataclass(frozen=True, slots=True)
class MomentAnswer:
    answer: Answer
    reason: str  # machine-readable, no personal data
    jobid: str | None = None
    job_status: int | None = None  # get_moment_task_result: 1, 2, 3
    moment_id: str | None = None
    invalid_users: tuple[str, ...] = ()
    posted: dict[str, bool] = field(default_factory=dict)  # get_moment_task: userid -> posted


@dataclass(frozen=True, slots=True)
class ListedMoment:
    moment_id: str
    creator: str
    create_time: int
    create_type: int
    text: str


class MomentGateway(Protocol):
    def add_task(self, text: str, user_ids: Sequence[str], tags: Sequence[str]
                 ) -> MomentAnswer: ...

    def task_result(self, jobid: str) -> MomentAnswer: ...

    def task_members(self, moment_id: str) -> MomentAnswer: ...

    def cancel(self, moment_id: str) -> MomentAnswer: ...

    def moments(self, since: float, until: float, filter_type: int
                ) -> tuple[MomentAnswer, list[ListedMoment]]: ...


class WeComMoments:
    """The moments client over one :class:`WeComSession` (token cached and refreshed)."""

    def __init__(self, base_url: str, corp_id: str, corp_secret: str, *,
                 timeout: float = 5.0, transport: httpx.BaseTransport | None = None,
                 clock: Any = time.time) -> None:
        self._session = WeComSession(base_url, {"corpid": corp_id, "corpsecret": corp_secret},
                                     timeout=timeout, transport=transport)
        self._clock = clock

    def close(self) -> None:
        self._session.close()

    def _call(self, name: str, payload: dict[str, Any], *, get: bool = False
              ) -> tuple[MomentAnswer, Any]:
        result, body = classified_call(self._session, PATH + name, payload, get=get)
        return MomentAnswer(result.answer, result.reason), body

    def add_task(self, text: str, user_ids: Sequence[str], tags: Sequence[str]
                 ) -> MomentAnswer:
        visible: dict[str, Any] = {"sender_list": {"user_list": list(user_ids)}}
        if tags:
            visible["external_contact_list"] = {"tag_list": list(tags)}
        answer, body = self._call("add_moment_task", {"text": {"content": text},
                                                      "visible_range": visible})
        jobid = body.get("jobid") if answer.answer is Answer.DONE else None
        if answer.answer is Answer.DONE and not isinstance(jobid, str):
            return MomentAnswer(Answer.UNKNOWN, "reply without jobid")
        return MomentAnswer(answer.answer, answer.reason, jobid=jobid)

    def task_result(self, jobid: str) -> MomentAnswer:
        answer, body = self._call("get_moment_task_result", {"jobid": jobid}, get=True)
        if answer.answer is not Answer.DONE:
            return answer
        status = body.get("status")
        result = body.get("result") if isinstance(body.get("result"), dict) else {}
        if status != 3:
            return MomentAnswer(Answer.DONE, "pending", job_status=status)
        errcode = result.get("errcode", 0)
        if errcode != 0:
            return MomentAnswer(Answer.REFUSED, f"errcode {errcode}", job_status=3)
        invalid = (result.get("invalid_sender_list") or {}).get("user_list") or []
        return MomentAnswer(Answer.DONE, "ok", job_status=3, moment_id=result.get("moment_id"),
                            invalid_users=tuple(str(u) for u in invalid))

    def task_members(self, moment_id: str) -> MomentAnswer:
        posted: dict[str, bool] = {}
        cursor = ""
        while True:
            answer, body = self._call("get_moment_task", {"moment_id": moment_id,
                                                          "cursor": cursor, "limit": 1000})
            if answer.answer is not Answer.DONE:
                return answer
            for row in body.get("task_list") or []:
                if isinstance(row, dict) and isinstance(row.get("userid"), str):
                    posted[row["userid"]] = row.get("publish_status") == 1
            cursor = body.get("next_cursor") or ""
            if not cursor:
                return MomentAnswer(Answer.DONE, "ok", moment_id=moment_id, posted=posted)

    def cancel(self, moment_id: str) -> MomentAnswer:
        return self._call("cancel_moment_task", {"moment_id": moment_id})[0]

    def moments(self, since: float, until: float, filter_type: int
                ) -> tuple[MomentAnswer, list[ListedMoment]]:
        """Moments created in [since, until] (windows of ≤ 30 days, every page)."""
        found: list[ListedMoment] = []
        start = int(since)
        while start < until:
            end = min(int(until) + 1, start + LIST_WINDOW)
            cursor = ""
            while True:
                answer, body = self._call("get_moment_list", {
                    "start_time": start, "end_time": end, "filter_type": filter_type,
                    "cursor": cursor, "limit": 100})
                if answer.answer is not Answer.DONE:
                    return answer, found
                for row in body.get("moment_list") or []:
                    text = (row.get("text") or {}).get("content", "")
                    found.append(ListedMoment(str(row.get("moment_id")), str(row.get("creator")),
                                              int(row.get("create_time", 0)),
                                              int(row.get("create_type", 0)), str(text)))
                cursor = body.get("next_cursor") or ""
                if not cursor:
                    break
            start = end
        return MomentAnswer(Answer.DONE, "ok"), found
