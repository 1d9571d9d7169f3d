"""The fake's mass sends into customer groups (客户群群发): ``add_msg_template`` with
``chat_type`` ``group``, as WeCom documents it.

* ``sender`` (the member's UserID) is required; ``chat_id_list`` names at most
  :data:`MAX_GROUPS` customer groups (``chat_id``) the task goes into; ``external_userid`` is
  not used. One task carries one text for every group.
* A group the sender does not own (群主; the fake learns owners through the control API,
  ``/fake/campaigns/group_owners``) or does not know is answered in ``fail_list``; the others
  are the task's recipients.
* Like a task to customers, it waits for the member's confirmation; then each group gets
  status 1 and a :class:`~fakes.campaign_records.Receipt` of kind ``group`` (recipient: the
  ``chat_id``, with the exact text) — or 3 when the group already received the period's
  quota (each customer group, like each customer, at most as many mass messages as the
  corp's rule allows: :func:`~fakes.campaign_records.period_of`).
* ``get_groupmsg_list_v2`` lists group tasks under ``chat_type`` ``group`` only, and
  ``get_groupmsg_send_result`` answers ``chat_id`` (no ``external_userid``) per group.
"""

from __future__ import annotations

import secrets
from typing import Any

from fakes.campaign_records import NOT_SENT, Answer, Task, error, fingerprint, request_key

MAX_GROUPS = 2000
GROUP = "group"


def set_owners(state: Any, owners: dict[str, str]) -> None:
    """Customer groups (``chat_id``) and their owners' UserIDs (群主), added or replaced
    (``state``: a :class:`fakes.campaigns.FakeCampaigns`)."""
    with state._lock:
        state.group_owners.update(owners)


def create(state: Any, body: dict[str, Any], sender: str, text: str,
           attachments: list[Any], fault: str | None) -> Answer:
    """A group task (``state``: a :class:`fakes.campaigns.FakeCampaigns`, its lock held,
    the call's faults and limits passed)."""
    if sender.startswith("invalid"):
        return error(40003, "invalid userid")
    chats = body.get("chat_id_list")
    if not isinstance(chats, list) or not chats \
            or not all(isinstance(c, str) and c for c in chats):
        return error(40058, "invalid Request Parameter")
    if len(chats) > MAX_GROUPS:
        return error(40058, f"chat_id_list exceeds {MAX_GROUPS}")
    key = request_key(body) if state.dedupe_extension else None
    digest = fingerprint(GROUP, sender, sorted(set(chats)), text, attachments)
    replayed: Answer | None = state._dedupe.replay(key, digest)
    if replayed is not None:
        return replayed
    fail_list = sorted({c for c in chats if state.group_owners.get(c) != sender})
    kept = tuple(sorted(set(chats) - set(fail_list)))
    msgid = f"msg{secrets.token_hex(12)}"
    task = Task(msgid, sender, kept, state.now(), key or "", text, tuple(attachments),
                chat_type=GROUP)
    task.statuses = dict.fromkeys(kept, NOT_SENT)
    state._keep(task)
    reply = {"errcode": 0, "errmsg": "ok", "fail_list": fail_list, "msgid": msgid}
    state._dedupe.remember(key, digest, reply, state.max_dedupe)
    if fault == "lost_reply":
        return 502, {"error": "bad gateway"}, {}
    return 200, reply, {}
