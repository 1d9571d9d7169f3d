"""The customer-group directory from WeCom: names, owners, sizes and dismissals.

WeCom's group callbacks carry no name, and a group created before the platform listened
has no creation callback at all. :class:`GroupDirectorySync` asks WeCom instead, every
``poll_interval`` (10 minutes), on a connection borrowed from the worker's pool
(:mod:`workers.lent`: autocommit, nothing held open across a call):

1. ``groupchat/list`` (:meth:`adapters.group_chats.WeComGroupChats.chats`) for the whole
   visible range; refused with 81017 (more than 1,000 members visible), the same list by the
   owners the platform knows (the staff directory's UserIDs and the directory's owners), 100
   at a time. WeCom lists a departed owner's groups only by name, so the directory's live
   groups not listed are asked for by their owners too.
2. ``groupchat/get`` of every group listed, and of every live directory group still not
   listed: its name, owner, creation time and member counts are recorded as the group's
   facts (:meth:`application.customers.Customers.observe_group`: ``Created`` when never
   recorded, ``Renamed``, ``OwnerChanged``, ``MembersCounted`` — only what changed, so a
   restart or a second pass records nothing new); errcode 40050 (no such chat) for a group
   the directory has as live records it ``Dismissed``.

A pass that cannot list (no answer, busy, refused) records nothing and is tried again at
the next interval; a lost connection is waited out with backoff (:mod:`workers.polling`).
Names and ids are never logged: counts and errcodes only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from adapters.contact_ways import Answer
from adapters.group_chats import NO_SUCH_CHAT, VISIBLE_RANGE_TOO_LARGE, GroupChatGateway
from application.app import Siyu
from projections.customer_groups.queries import known_owners, live_groups
from workers.lent import Connect
from workers.polling import PollingLoop

log = logging.getLogger(__name__)

BY = "service:group-sync"
POLL_INTERVAL = 600.0


class GroupDirectorySync(PollingLoop):
    name = "group directory sync"

    def __init__(self, app: Siyu, connect: Connect, gateway: GroupChatGateway, corp_id: str,
                 *, poll_interval: float = POLL_INTERVAL,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        super().__init__(poll_interval, batch_size=1 << 30)  # one pass per interval
        self.app = app
        self.connect = connect
        self.gateway = gateway
        self.corp_id = corp_id
        self.clock = clock

    def run_once(self) -> int:
        """One pass over every group; how many facts were recorded."""
        with self.connect() as conn:
            answer, listed = self.gateway.chats()
            asked: set[str] = set()
            if answer.answer is Answer.REFUSED and answer.reason == VISIBLE_RANGE_TOO_LARGE:
                asked = known_owners(conn)
                answer, listed = self.gateway.chats(sorted(asked))
            if answer.answer is not Answer.DONE:
                log.info("customer groups not listed: %s", answer.reason)
                return 0
            live = live_groups(conn)
        seen = {c.chat_id for c in listed}
        departed = {o for c, o in live.items() if c not in seen and o and o not in asked}
        if departed:  # a departed owner's groups are listed only when asked for by name
            answer, more = self.gateway.chats(sorted(departed))
            if answer.answer is not Answer.DONE:
                log.info("departed owners' customer groups not listed: %s", answer.reason)
                return 0
            seen |= {c.chat_id for c in more}
        recorded = 0
        for chat_id in sorted(seen | set(live)):
            recorded += self._sync(chat_id, chat_id in live)
        return recorded

    def _sync(self, chat_id: str, live: bool) -> int:
        answer, detail = self.gateway.chat(chat_id)
        if answer.answer is Answer.REFUSED and answer.reason == NO_SUCH_CHAT:
            if live and self.app.customers.record_group_gone(self.corp_id, chat_id, BY,
                                                             self.clock()):
                return 1
            return 0
        if detail is None:
            log.info("a customer group not read: %s", answer.reason)
            return 0
        created = datetime.fromtimestamp(detail.create_time, UTC) if detail.create_time \
            else self.clock()
        changes = self.app.customers.observe_group(
            self.corp_id, chat_id, name=detail.name, owner=detail.owner, created_at=created,
            customers=len(detail.external_userids), staff=detail.staff, by=BY,
            occurred_at=self.clock())
        return len(changes)
