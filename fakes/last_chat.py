"""Who last chatted with each customer, in the fake: the member WeCom delivers a customer's
mass message through.

WeCom's ``add_msg_template`` page: a task reaches an external contact only through the member
who last chatted with them. So a task from any other member cannot carry that customer: the
fake answers them in ``fail_list`` (documented: external_userids that are invalid or cannot
be sent to) and they are not the task's recipients. The fake learns who last chatted with
whom through the control API (``/fake/campaigns/last_chatted``,
``{"last_chatted": {external_userid: UserID}}``, added or replaced); of a customer it was
never told about, it assumes the sender is that member (it keeps no chat history).
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
