"""Who last chatted with each customer, in the fake: the member WeCom delivers a customer's
mass message through.

WeCom's ``add_msg_template`` page (创建企业群发, developer.work.weixin.qq.com/document/path/92135)
says a task 「仅会推送给最后跟客户进行聊天互动的企业成员」: it reaches an external contact
only through the member who last chatted with them. So a task from any other member cannot
carry that customer: the fake answers them in ``fail_list`` (documented: external_userids
that are invalid or cannot be sent to) and they are not the task's recipients. The fake
learns who last chatted with whom through the control API
(``/fake/campaigns/last_chatted``, ``{"last_chatted": {external_userid: UserID}}``, added
or replaced); the rule is read when a task is created. Of a customer it was never told about,
it assumes the sender is that member (it keeps no chat history; a customer with one member
friend has necessarily last chatted with that member) — a test of the rule names the chatter.

Where the rule applies, checked against WeCom's documentation: **only** ``add_msg_template``
with ``chat_type`` ``single``. That page states no other send API's rule; the others document
their own audiences and say nothing of a last chatter:

* ``add_msg_template`` with ``chat_type`` ``group`` names customer groups, not customers: the
  ``sender`` is required and the task goes into the groups that member owns (群主) —
  :mod:`fakes.group_sends` refuses the others in ``fail_list``;
* ``add_moment_task`` (企业发表内容到客户的朋友圈, document/path/96351): the visible range is
  the members in ``sender_list`` and the customer tags in ``external_contact_list``; a member's
  post reaches that member's customers in range (:mod:`fakes.moments`), whoever chatted last;
* ``send_welcome_msg`` (发送新客户欢迎语) answers one friend add by its ``welcome_code``;
* a member's own mass send from the WeCom client is the member's choice of recipients.

The fake is exactly that strict: ``tests/integration/fakes/test_last_chat.py`` fails if it
delivered another member's task, read a stale chatter, or narrowed a moment.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def set_last_chatted(state: Any, last: dict[str, str]) -> None:
    """Customers (``external_userid``) and the UserID of the member who last chatted with
    each (``state``: a :class:`fakes.campaigns.FakeCampaigns`)."""
    if not all(isinstance(k, str) and k and isinstance(v, str) and v for k, v in last.items()):
        raise ValueError("last_chatted must map external_userids to UserIDs")
    with state._lock:
        state.last_chatted.update(last)


def unreachable(last_chatted: dict[str, str], sender: str, recipients: Iterable[str]
                ) -> set[str]:
    """The recipients WeCom delivers through another member than ``sender``."""
    return {r for r in recipients if last_chatted.get(r, sender) != sender}
