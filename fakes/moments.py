"""The fake's enterprise moments (客户朋友圈), as WeCom documents them.

* ``POST /cgi-bin/externalcontact/add_moment_task`` — ``text.content`` (≤ 2,000 bytes) and/or
  ``attachments`` (one of them required), ``visible_range.sender_list`` (``user_list``,
  ``department_list``; empty: every member) and ``visible_range.external_contact_list.tag_list``
  → ``jobid``. Creation is **asynchronous**: the job is ``status`` 1 (started) until the next
  ``get_moment_task_result``, 2 (creating) once, then 3 (done) with ``result``: ``moment_id``,
  ``invalid_sender_list.user_list`` (UserIDs that are not members, when the fake knows its
  members) and ``invalid_external_contact_list.tag_list``. A job id is answered for 24 hours.
* ``get_moment_task`` (``moment_id``, ``cursor``, ``limit`` ≤ 1000) → ``task_list`` of
  ``{userid, publish_status}``: 0 until the member posts, 1 once they have. Nothing is posted
  until a member posts (control API below): there is no auto-confirm.
* ``get_moment_customer_list`` / ``get_moment_send_result`` (``moment_id``, ``userid``) →
  the customers in range / the customers it reached (those the fake was told the member has).
* ``cancel_moment_task`` (``moment_id``) stops a task: members who have not posted can no longer
  post it; an unknown id is 40058.
* ``get_moment_list`` (``start_time``/``end_time`` ≤ 30 days apart, ``creator``, ``filter_type``
  0 enterprise / 1 personal / 2 all, ``cursor``, ``limit`` ≤ 100) → ``moment_list`` with
  ``moment_id``, ``creator``, ``create_time``, ``create_type`` (0 enterprise, 1 personal),
  ``visible_type`` and ``text``.
* Every answer needs a live access token (40014 / 42001 otherwise).

Control API (not WeCom's): ``POST /fake/moments/members`` ``{"user_ids": [...]}`` (who is a
member; unset: anyone); ``/fake/moments/customers`` ``{"userid", "external_userids"}`` (whom a
member can reach); ``/fake/moments/post`` ``{"moment_id", "userid"}`` (a member posts the task
in their client); ``/fake/moments/personal`` ``{"userid", "text"}`` (a member posts their own
moment, create_type 1) → ``moment_id``; ``/fake/moments/faults`` ``{"kind":
"lost_reply"|"http_500"|"busy", "count"}`` (a ``lost_reply`` applies the call, then answers 502).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fakes.wecom_endpoint import wecom_endpoint

TEXT_MAX_BYTES = 2000
JOB_SECONDS = 24 * 3600
LIST_MAX_SECONDS = 30 * 86400
Answer = tuple[int, dict[str, Any]]
_OK = {"errcode": 0, "errmsg": "ok"}
_BAD = {"errcode": 40058, "errmsg": "invalid Request Parameter"}
_FAULTS: dict[str, Answer] = {"http_500": (500, {"error": "internal server error"}),
                              "busy": (200, {"errcode": -1, "errmsg": "system busy"})}


@dataclass
class Moment:
    moment_id: str
    creator: str
    create_type: int  # 0 enterprise, 1 personal
    text: str
    senders: list[str]
    tags: list[str]
    created_at: float
    posted: dict[str, float] = field(default_factory=dict)  # userid -> when
    cancelled: bool = False


@dataclass
class Job:
    body: dict[str, Any]
    created_at: float
    polls: int = 0
    moment_id: str | None = None
    invalid: list[str] = field(default_factory=list)


@dataclass
class FakeMoments:
    """State of the moments; thread-safe."""

    members: set[str] | None = None
    reach: dict[str, list[str]] = field(default_factory=dict)  # userid -> external_userids
    jobs: dict[str, Job] = field(default_factory=dict)
    moments: dict[str, Moment] = field(default_factory=dict)
    add_calls: int = 0
    clock: Callable[[], float] = time.time
    _faults: deque[str] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self._lock:
            self.members = None
            self.reach.clear()
            self.jobs.clear()
            self.moments.clear()
            self._faults.clear()
            self.add_calls = 0

    def inject(self, kind: str, count: int = 1) -> None:
        if kind not in (*_FAULTS, "lost_reply"):
            raise ValueError(f"unknown fault {kind!r}")
        with self._lock:
            self._faults.extend([kind] * count)

    def call(self, method: str, body: Any) -> Answer:
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
            if fault in _FAULTS:
                return _FAULTS[fault]
            handler: Callable[[dict[str, Any]], Answer] = getattr(self, "_" + method)
            answer = handler(body if isinstance(body, dict) else {})
            return (502, {"error": "bad gateway"}) if fault == "lost_reply" else answer

    # -- the API -----------------------------------------------------------------------------
    def _add(self, body: dict[str, Any]) -> Answer:
        self.add_calls += 1
        text = (body.get("text") or {}).get("content", "") if isinstance(
            body.get("text"), dict) else ""
        attachments = body.get("attachments") or []
        if not isinstance(text, str) or len(text.encode()) > TEXT_MAX_BYTES or not (
                text or attachments):
            return 200, {"errcode": 41008 if not text else 40058, "errmsg": "invalid text"}
        visible = body.get("visible_range") or {}
        senders = (visible.get("sender_list") or {}).get("user_list") or []
        if not isinstance(senders, list) or not all(isinstance(u, str) for u in senders):
            return 200, _BAD
        jobid = "job" + secrets.token_hex(12)
        job = self.jobs[jobid] = Job(body, self.clock())
        self._create(job)  # WeCom creates it in the background; the job reports it later
        return 200, {**_OK, "jobid": jobid}

    def _create(self, job: Job) -> None:
        visible = job.body.get("visible_range") or {}
        wanted = list((visible.get("sender_list") or {}).get("user_list") or [])
        tags = list((visible.get("external_contact_list") or {}).get("tag_list") or [])
        job.invalid = [u for u in wanted if self.members is not None and u not in self.members]
        valid = [u for u in wanted if u not in job.invalid]
        if not wanted:
            valid = sorted(self.members or self.reach)
        job.moment_id = "mom" + secrets.token_hex(12)
        self.moments[job.moment_id] = Moment(
            job.moment_id, "", 0, str((job.body.get("text") or {}).get("content", "")),
            valid, tags, self.clock())

    def _result(self, body: dict[str, Any]) -> Answer:
        job = self.jobs.get(str(body.get("jobid")))
        if job is None or self.clock() - job.created_at > JOB_SECONDS:
            return 200, _BAD
        job.polls += 1
        if job.polls < 3:  # 1 started, 2 creating, then done
            return 200, {**_OK, "status": job.polls, "type": "add_moment_task"}
        return 200, {**_OK, "status": 3, "type": "add_moment_task", "result": {
            **_OK, "moment_id": job.moment_id,
            "invalid_sender_list": {"user_list": job.invalid, "department_list": []},
            "invalid_external_contact_list": {"tag_list": []}}}

    def _task(self, body: dict[str, Any]) -> Answer:
        moment = self.moments.get(str(body.get("moment_id")))
        if moment is None or moment.create_type != 0:
            return 200, _BAD
        rows = [{"userid": u, "publish_status": int(u in moment.posted)}
                for u in moment.senders]
        return 200, {**_OK, **self._page(body, rows, "task_list", 1000)}

    def _customers(self, body: dict[str, Any], sent_only: bool) -> Answer:
        moment = self.moments.get(str(body.get("moment_id")))
        user = str(body.get("userid"))
        if moment is None or user not in moment.senders:
            return 200, _BAD
        if sent_only and user not in moment.posted:
            return 200, {**_OK, "customer_list": []}
        rows = [{"userid": user, "external_userid": e} for e in self.reach.get(user, [])]
        if sent_only:
            rows = [{"external_userid": r["external_userid"]} for r in rows]
        return 200, {**_OK, **self._page(body, rows, "customer_list", 1000)}

    def _customer_list(self, body: dict[str, Any]) -> Answer:
        return self._customers(body, sent_only=False)

    def _send_result(self, body: dict[str, Any]) -> Answer:
        return self._customers(body, sent_only=True)

    def _cancel(self, body: dict[str, Any]) -> Answer:
        moment = self.moments.get(str(body.get("moment_id")))
        if moment is None or moment.create_type != 0:
            return 200, _BAD
        moment.cancelled = True
        return 200, dict(_OK)

    def _list(self, body: dict[str, Any]) -> Answer:
        start, end = body.get("start_time"), body.get("end_time")
        limit = body.get("limit", 20)
        if not isinstance(start, int) or not isinstance(end, int) or not isinstance(
                limit, int) or not 0 < end - start <= LIST_MAX_SECONDS or not 0 < limit <= 100:
            return 200, _BAD
        kind = body.get("filter_type", 2)
        creator = body.get("creator")
        found = sorted((m for m in self.moments.values()
                        if start <= m.created_at <= end and kind in (2, m.create_type)
                        and (not creator or m.creator == creator)),
                       key=lambda m: (m.created_at, m.moment_id))
        rows = [{"moment_id": m.moment_id, "creator": m.creator, "create_time": int(m.created_at),
                 "create_type": m.create_type, "visible_type": 1,
                 "text": {"content": m.text}} for m in found]
        return 200, {**_OK, **self._page(body, rows, "moment_list", 100)}

    @staticmethod
    def _page(body: dict[str, Any], rows: list[dict[str, Any]], key: str, most: int
              ) -> dict[str, Any]:
        limit = body.get("limit", most)
        limit = limit if isinstance(limit, int) and 0 < limit <= most else most
        offset = int(body.get("cursor") or 0)
        page: dict[str, Any] = {key: rows[offset:offset + limit]}
        page["next_cursor"] = str(offset + limit) if offset + limit < len(rows) else ""
        return page

    # -- members in their WeCom client --------------------------------------------------------
    def post(self, moment_id: str, userid: str) -> bool:
        """A member posts the enterprise task; False if they cannot (not theirs, cancelled)."""
        with self._lock:
            moment = self.moments.get(moment_id)
            if moment is None or moment.cancelled or userid not in moment.senders:
                return False
            moment.posted.setdefault(userid, self.clock())
            return True

    def post_personal(self, userid: str, text: str) -> str:
        with self._lock:
            moment_id = "mom" + secrets.token_hex(12)
            now = self.clock()
            self.moments[moment_id] = Moment(moment_id, userid, 1, text, [userid], [], now,
                                             {userid: now})
            return moment_id


def routes(state: FakeMoments, token_error: Callable[[str], dict[str, Any] | None]
           ) -> list[Route]:
    """WeCom's moments API and its control API, over ``state``."""

    def api(method: str) -> Callable[[Request], Any]:
        return wecom_endpoint(state.call, method, token_error)

    async def control(request: Request) -> JSONResponse:
        body = await request.json()
        name = request.path_params["name"]
        try:
            if name == "members":
                state.members = {str(u) for u in body["user_ids"]}
            elif name == "customers":
                state.reach[str(body["userid"])] = [str(e) for e in body["external_userids"]]
            elif name == "post":
                return JSONResponse({"ok": state.post(str(body["moment_id"]),
                                                      str(body["userid"]))})
            elif name == "personal":
                return JSONResponse({"moment_id": state.post_personal(
                    str(body["userid"]), str(body.get("text", "")))})
            elif name == "faults":
                state.inject(str(body.get("kind")), int(body.get("count", 1)))
            else:
                return JSONResponse({"error": "unknown control"}, status_code=404)
        except (KeyError, ValueError, TypeError) as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        return JSONResponse({"ok": True})

    base = "/cgi-bin/externalcontact/"
    return [
        Route(f"{base}add_moment_task", api("add"), methods=["POST"]),
        Route(f"{base}get_moment_task_result", api("result"), methods=["GET"]),
        Route(f"{base}get_moment_task", api("task"), methods=["POST"]),
        Route(f"{base}get_moment_customer_list", api("customer_list"), methods=["POST"]),
        Route(f"{base}get_moment_send_result", api("send_result"), methods=["POST"]),
        Route(f"{base}cancel_moment_task", api("cancel"), methods=["POST"]),
        Route(f"{base}get_moment_list", api("list"), methods=["POST"]),
        Route("/fake/moments/{name}", control, methods=["POST"]),
    ]
