"""The HTTP side of the fake's campaign APIs: WeCom / WeChat's routes and the control API.

Mounted into :func:`fakes.wecom.create_app` (same server, same access tokens); the state
behind them is :class:`fakes.campaigns.FakeCampaigns`.

Control API (not WeCom's; loopback only, like the whole fake):

=======  ========================================  ===================================================
POST     ``/fake/campaigns/config``                 any of ``quota_rule`` (month|week|day),
                                                    ``monthly_quota``, ``task_ttl``,
                                                    ``auto_confirm_after``, ``corp_rate``, ``sender_rate``,
                                                    ``rate_burst`` (null clears), ``dedupe_extension``
                                                    (true/false); answers the config
POST     ``/fake/campaigns/not_friends``            ``{"external_userids": [...]}`` replaces the set
POST     ``/fake/campaigns/group_owners``           ``{"owners": {chat_id: owner's UserID}}``: the
                                                    customer groups a member owns (group sends)
POST     ``/fake/campaigns/last_chatted``           ``{"last_chatted": {external_userid: UserID}}``:
                                                    the member each customer last chatted with,
                                                    the only one a task reaches them through
POST     ``/fake/campaigns/subscriptions``          ``{"touser", "template_id", "count": 1}``
POST     ``/fake/campaigns/faults``                 ``{"kind", "count": 1, "api": null}``
POST     ``/fake/campaigns/member_sends``           ``{"sender", "external_userids", "text"}``: a
                                                    member's own mass send from the WeCom client,
                                                    sent at once (quota applies); answers its
                                                    ``msgid`` and ``statuses``; ``chat_ids``
                                                    instead: into the member's own groups
POST     ``/fake/campaigns/clock``                  ``{"advance": seconds}`` moves the fake's time on
GET      ``/fake/campaigns/tasks``                  every task: msgid, sender, state (pending,
                                                    confirmed, cancelled, expired), text, attachments,
                                                    reminders, counts
POST     ``/fake/campaigns/tasks/{msgid}/confirm``  the member confirms now, as in the WeCom client
                                                    (404 unknown, 409 cancelled or expired)
GET      ``/fake/campaigns/receipts``               what reached whom, with the exact text and
                                                    attachments (mass) or template and data (direct):
                                                    ``receipts``, ``per_recipient`` (count per
                                                    recipient), ``evicted``; filters ``recipient``,
                                                    ``msgid``, ``sender``, ``template_id``, ``kind``,
                                                    and ``key_prefix`` (dedupe keys: only with the
                                                    dedupe extension on)
GET      ``/fake/campaigns/stats``                  calls per API, rate-limited answers
POST     ``/fake/campaigns/reset``                  forget everything but the configuration
=======  ========================================  ===================================================
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fakes import group_sends, groupmsg, last_chat
from fakes.campaign_records import Answer, TaskExpired
from fakes.campaigns import FakeCampaigns

RECEIPT_FILTERS = ("recipient", "msgid", "sender", "template_id", "kind")


async def _body(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None


def _respond(answer: Answer) -> JSONResponse:
    status, reply, headers = answer
    return JSONResponse(reply, status_code=status, headers=headers)


def routes(state: FakeCampaigns,
           token_error: Callable[[str], dict[str, Any] | None]) -> list[Route]:
    """The WeCom/WeChat campaign APIs and the control API, checking tokens with
    ``token_error`` (None for a valid token, else WeCom's error reply)."""

    def api(method: Callable[[dict[str, Any] | None, Any], Answer]
            ) -> Callable[[Request], Awaitable[JSONResponse]]:
        async def endpoint(request: Request) -> JSONResponse:
            body = await _body(request)
            return _respond(method(token_error(request.query_params.get("access_token", "")),
                                   body))
        return endpoint

    def control(action: Callable[[dict[str, Any]], Any]
                ) -> Callable[[Request], Awaitable[JSONResponse]]:
        async def endpoint(request: Request) -> JSONResponse:
            body = await _body(request)
            try:
                result = action(body if isinstance(body, dict) else {})
            except (ValueError, TypeError) as error:
                return JSONResponse({"error": str(error)}, status_code=400)
            return JSONResponse(result if result is not None else {"ok": True})
        return endpoint

    async def confirm(request: Request) -> JSONResponse:
        msgid = request.path_params["msgid"]
        try:
            task = state.confirm(msgid)
        except KeyError:
            return JSONResponse({"error": "unknown msgid"}, status_code=404)
        except TaskExpired:
            return JSONResponse({"error": "task expired"}, status_code=409)
        return JSONResponse({"msgid": task.msgid, "state": task.state,
                             "statuses": dict(task.statuses)})

    async def tasks(_: Request) -> JSONResponse:
        return JSONResponse(state.tasks())

    async def receipts(request: Request) -> JSONResponse:
        prefix = request.query_params.get("key_prefix", "")
        listed = state.receipts(prefix, **{k: request.query_params.get(k)
                                           for k in RECEIPT_FILTERS})
        return JSONResponse({"receipts": [asdict(r) for r in listed],
                             "per_recipient": dict(Counter(r.recipient for r in listed)),
                             "evicted": state.evicted_receipts})

    async def stats(_: Request) -> JSONResponse:
        return JSONResponse(state.stats())

    def faults(body: dict[str, Any]) -> None:
        api_name = body.get("api")
        state.inject(str(body.get("kind")), int(body.get("count", 1)),
                     None if api_name is None else str(api_name))

    def not_friends(body: dict[str, Any]) -> None:
        ids = body.get("external_userids")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ValueError("external_userids must be a list of strings")
        state.set_not_friends(ids)

    def group_owners(body: dict[str, Any]) -> None:
        owners = body.get("owners")
        if not isinstance(owners, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in owners.items()):
            raise ValueError("owners must map chat ids to UserIDs")
        group_sends.set_owners(state, owners)

    def last_chatted(body: dict[str, Any]) -> None:
        last = body.get("last_chatted")
        if not isinstance(last, dict):
            raise ValueError("last_chatted must map external_userids to UserIDs")
        last_chat.set_last_chatted(state, last)

    def subscriptions(body: dict[str, Any]) -> None:
        touser, template_id = body.get("touser"), body.get("template_id")
        if not isinstance(touser, str) or not isinstance(template_id, str):
            raise ValueError("touser and template_id are required")
        state.grant_subscription(touser, template_id, int(body.get("count", 1)))

    def member_sends(body: dict[str, Any]) -> dict[str, Any]:
        group = "chat_ids" in body
        ids = body.get("chat_ids" if group else "external_userids")
        if not isinstance(ids, list):
            raise ValueError("external_userids (or chat_ids) must be a list of strings")
        task = groupmsg.member_send(state, str(body.get("sender") or ""), ids,
                                    str(body.get("text") or ""),
                                    "group" if group else "single")
        return {"msgid": task.msgid, "statuses": dict(task.statuses)}

    def clock(body: dict[str, Any]) -> dict[str, float]:
        state.advance(float(body.get("advance", 0)))
        return {"now": state.now()}

    def reset(_: dict[str, Any]) -> None:
        state.reset()

    return [
        Route("/cgi-bin/externalcontact/add_msg_template", api(state.add_msg_template),
              methods=["POST"]),
        *[Route(f"/cgi-bin/externalcontact/{name}", api(partial(method, state)),
                methods=["POST"])
          for name, method in (("get_groupmsg_send_result", groupmsg.send_result),
                               ("get_groupmsg_list_v2", groupmsg.list_v2),
                               ("get_groupmsg_task", groupmsg.get_task),
                               ("cancel_groupmsg_send", groupmsg.cancel),
                               ("remind_groupmsg_send", groupmsg.remind))],
        Route("/cgi-bin/message/subscribe/send", api(state.subscribe_send), methods=["POST"]),
        Route("/fake/campaigns/config", control(lambda b: state.configure(**b)),
              methods=["POST"]),
        Route("/fake/campaigns/not_friends", control(not_friends), methods=["POST"]),
        Route("/fake/campaigns/group_owners", control(group_owners), methods=["POST"]),
        Route("/fake/campaigns/last_chatted", control(last_chatted), methods=["POST"]),
        Route("/fake/campaigns/subscriptions", control(subscriptions), methods=["POST"]),
        Route("/fake/campaigns/faults", control(faults), methods=["POST"]),
        Route("/fake/campaigns/member_sends", control(member_sends), methods=["POST"]),
        Route("/fake/campaigns/clock", control(clock), methods=["POST"]),
        Route("/fake/campaigns/tasks", tasks),
        Route("/fake/campaigns/tasks/{msgid}/confirm", confirm, methods=["POST"]),
        Route("/fake/campaigns/receipts", receipts),
        Route("/fake/campaigns/stats", stats),
        Route("/fake/campaigns/reset", control(reset), methods=["POST"]),
    ]
