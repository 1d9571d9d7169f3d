"""The fake's mass-send follow-up APIs, as WeCom documents them (客户联系, 消息推送).

Functions over :class:`fakes.campaigns.FakeCampaigns` (its lock, faults, token check and
rate limits), mounted by :mod:`fakes.campaign_routes`:

* ``get_groupmsg_list_v2`` (``chat_type`` single or group: the tasks of that kind;
  ``start_time`` / ``end_time`` in seconds, at most 31 days apart, else 40058;
  ``creator``; ``filter_type`` 0 corp-created, 1 created by the member, 2 both (default);
  ``limit`` ≤ 100, default 50; ``cursor``): the tasks created in the window, oldest first,
  as ``group_msg_list`` of ``msgid``, ``creator``, ``create_time``, ``create_type`` (0: the
  corp's) and ``text`` / ``attachments``.
* ``get_groupmsg_task`` (``msgid``, ``limit`` ≤ 1,000, default 500, ``cursor``): the task's
  members as ``task_list`` of ``userid``, ``status`` (0 not sent yet, 2 sent) and
  ``send_time`` once sent.
* ``get_groupmsg_send_result`` (``msgid``, ``userid``, ``limit`` ≤ 1,000, default 500,
  ``cursor``): the recipients of that member's part, ``send_list`` of ``external_userid``
  (``chat_id`` for a task into customer groups),
  ``userid``, ``status`` (0 not sent, 1 sent, 2 not a friend, 3 already received the
  period's mass messages) and ``send_time`` once sent.
* ``cancel_groupmsg_send`` (``msgid``): a pending task stops; its recipients stay status 0
  and it can no longer be confirmed. Cancelling a finished or cancelled task changes nothing.
* ``remind_groupmsg_send`` (``msgid``): notifies the member again; at most
  :data:`MAX_REMINDERS` per task in any 24 hours — the next gets errcode 45009 (WeCom's
  frequency-limit code; its page states the limit, not the code). Only pending tasks.

An unknown ``msgid`` is errcode 40058 (invalid parameter).

:func:`member_send` (control API, not WeCom's) is a member sending a mass message from the
WeCom client (群发助手): a task created by the member (``create_type`` 1, listed with
``filter_type`` 1 or 2), sent at once, using each customer's quota like any mass message
(status 3 beyond it) — or, with ``chat_type`` group, into groups the member owns, using each
group's quota (listed under ``chat_type`` group, results per ``chat_id``).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from fakes.campaign_records import NOT_SENT, Answer, Task, error
from fakes.campaigns import FakeCampaigns

MAX_REMINDERS = 3
REMINDER_WINDOW = 86_400.0
LIST_SPAN = 31 * 86_400
PAGE_LIMITS = {"list_v2": (100, 50), "get_task": (1000, 500), "send_result": (1000, 500)}

Token = dict[str, Any] | None


def _page(body: dict[str, Any], api: str) -> tuple[int, int] | None:
    """(start, limit) of a paged read, or None for a bad ``limit`` / ``cursor``."""
    most, default = PAGE_LIMITS[api]
    limit, cursor = body.get("limit", default), body.get("cursor") or "0"
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= most \
            or not isinstance(cursor, str) or not cursor.isdigit():
        return None
    return int(cursor), limit


def _reply(fault: str | None, reply: dict[str, Any]) -> Answer:
    if fault == "lost_reply":
        return 502, {"error": "bad gateway"}, {}
    return 200, {"errcode": 0, "errmsg": "ok", **reply}, {}


def send_result(state: FakeCampaigns, token_error: Token, body: Any) -> Answer:
    body = body if isinstance(body, dict) else {}
    userid = body.get("userid")
    with state._lock:
        stop, fault = state._enter("send_result", token_error,
                                   userid if isinstance(userid, str) else None)
        if stop is not None:
            return stop
        state._settle()
        task = state._tasks.get(str(body.get("msgid")))
        page = _page(body, "send_result")
        if task is None or page is None:
            return error(40058, "invalid Request Parameter")
        start, limit = page
        mine = task.recipients if userid == task.sender else ()
        field = "chat_id" if task.chat_type == "group" else "external_userid"
        send_list = [{field: r, "userid": task.sender, "status": task.statuses[r],
                      **({"send_time": task.send_times[r]} if r in task.send_times else {})}
                     for r in mine[start:start + limit]]
        more = start + limit < len(mine)
        reply: dict[str, Any] = {"send_list": send_list,
                                 "next_cursor": str(start + limit) if more else ""}
        if state.task_ttl is not None:  # the test's expiry, said with an extension field
            reply["task_expired"] = task.expired
        return _reply(fault, reply)


def list_v2(state: FakeCampaigns, token_error: Token, body: Any) -> Answer:
    body = body if isinstance(body, dict) else {}
    creator = body.get("creator")
    with state._lock:
        stop, fault = state._enter("list_v2", token_error, None)
        if stop is not None:
            return stop
        start_time, end_time = body.get("start_time"), body.get("end_time")
        filter_type = body.get("filter_type", 2)
        page = _page(body, "list_v2")
        chat_type = body.get("chat_type", "single")
        if chat_type not in ("single", "group") or page is None \
                or not isinstance(start_time, int) or not isinstance(end_time, int) \
                or not 0 <= end_time - start_time <= LIST_SPAN \
                or filter_type not in (0, 1, 2) \
                or (creator is not None and not isinstance(creator, str)):
            return error(40058, "invalid Request Parameter")
        found = [t for t in state._tasks.values()
                 if start_time <= int(t.created_at) <= end_time
                 and filter_type in ((1, 2) if t.by_member else (0, 2))
                 and t.chat_type == chat_type
                 and (not creator or t.sender == creator)]
        found.sort(key=lambda t: (t.created_at, t.msgid))
        start, limit = page
        listed = [{"msgid": t.msgid, "creator": t.sender, "create_time": int(t.created_at),
                   "create_type": 1 if t.by_member else 0,
                   **({"text": {"content": t.text}} if t.text else {}),
                   **({"attachments": list(t.attachments)} if t.attachments else {})}
                  for t in found[start:start + limit]]
        more = start + limit < len(found)
        return _reply(fault, {"group_msg_list": listed,
                              "next_cursor": str(start + limit) if more else ""})


def get_task(state: FakeCampaigns, token_error: Token, body: Any) -> Answer:
    body = body if isinstance(body, dict) else {}
    with state._lock:
        stop, fault = state._enter("get_task", token_error, None)
        if stop is not None:
            return stop
        state._settle()
        task = state._tasks.get(str(body.get("msgid")))
        page = _page(body, "get_task")
        if task is None or page is None:
            return error(40058, "invalid Request Parameter")
        start, _ = page
        members = [{"userid": task.sender, "status": 2 if task.confirmed_at else 0,
                    **({"send_time": int(task.confirmed_at)} if task.confirmed_at else {})}]
        return _reply(fault, {"task_list": members[start:], "next_cursor": ""})


def cancel(state: FakeCampaigns, token_error: Token, body: Any) -> Answer:
    body = body if isinstance(body, dict) else {}
    with state._lock:
        stop, fault = state._enter("cancel", token_error, None)
        if stop is not None:
            return stop
        state._settle()
        task = state._tasks.get(str(body.get("msgid")))
        if task is None:
            return error(40058, "invalid Request Parameter")
        if task.state == "pending":
            task.cancelled_at = state.now()
            state._pending.pop(task.msgid, None)
        return _reply(fault, {})


def remind(state: FakeCampaigns, token_error: Token, body: Any) -> Answer:
    body = body if isinstance(body, dict) else {}
    with state._lock:
        stop, fault = state._enter("remind", token_error, None)
        if stop is not None:
            return stop
        state._settle()
        task = state._tasks.get(str(body.get("msgid")))
        if task is None:
            return error(40058, "invalid Request Parameter")
        if task.state == "pending":
            now = state.now()
            recent = [at for at in task.reminders if now - at < REMINDER_WINDOW]
            if len(recent) >= MAX_REMINDERS:
                return error(45009, "api freq out of limit")
            task.reminders.append(now)
        return _reply(fault, {})


def member_send(state: FakeCampaigns, sender: str, recipients: Sequence[str], text: str,
                chat_type: str = "single") -> Task:
    """A member's own mass send from the WeCom client, sent at once (control API); with
    ``chat_type`` ``group`` the recipients are chat ids, of which the member can send only
    into those they own (群主)."""
    if not sender or not recipients or not text or chat_type not in ("single", "group") \
            or not all(isinstance(r, str) and r for r in recipients):
        raise ValueError("sender, external_userids (or chat ids) and text are required")
    with state._lock:
        kept = tuple(sorted(set(recipients)))
        if chat_type == "group":
            kept = tuple(c for c in kept if state.group_owners.get(c) == sender)
            if not kept:
                raise ValueError("the member owns none of these groups")
        task = Task(f"msg{secrets.token_hex(12)}", sender, kept, state.now(), "", text,
                    by_member=True, chat_type=chat_type)
        task.statuses = dict.fromkeys(kept, NOT_SENT)
        state._tasks[task.msgid] = task
        state._confirm(task, task.created_at)
        return task
