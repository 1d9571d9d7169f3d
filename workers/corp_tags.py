"""Keeping the platform's copy of the corp's WeCom tag library (企业客户标签) up to date.

Brands manage their customer tags in WeCom's admin console; moment tasks (and anything else
that names customers by tag at WeCom) need each platform tag's WeCom tag id.
:class:`CorpTagSync` lists the library (``get_corp_tag_list``, outside any transaction) and
records what differs from the last listing as ``CorpTagLibrary.Listed`` — nothing when
nothing changed, so repeated passes and restarts record nothing new. It lists every
:data:`LIST_EVERY`, and at its next pass when WeCom's callback said the library changed
(``CorpTagLibrary.TagChanged`` after the last listing). An answer that is not a listing
(busy, token, network) records nothing and is tried again at the next pass; the loop
itself backs off on a lost database (:mod:`workers.polling`). Unlike the channel-code and
moment syncs it borrows no read-model connection (:mod:`workers.lent`): it reads only the
library's own stream, through the application.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

from adapters.contact_ways import Answer
from adapters.corp_tags import CorpTagGateway
from application.app import Siyu
from workers.polling import PollingLoop

log = logging.getLogger(__name__)

#: The library is listed this often even without a callback (callbacks can be lost).
LIST_EVERY = timedelta(minutes=10)


class CorpTagSync(PollingLoop):
    """Each pass lists the corp's tags if due and records what changed."""

    name = "corp-tag sync"

    def __init__(self, app: Siyu, corp_id: str, gateway: CorpTagGateway, *,
                 poll_interval: float = 15.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        super().__init__(poll_interval, batch_size=2)  # one pass at most: never "more at once"
        self.app = app
        self.corp_id = corp_id
        self.gateway = gateway
        self.clock = clock
        self._listed_at: datetime | None = None
        self._seen_version = 0

    def _version(self) -> int:
        library = self.app.corp_tags.library(self.corp_id)
        return 0 if library is None else library.version

    def due(self, now: datetime) -> bool:
        """Never listed by this process, listed :data:`LIST_EVERY` ago, or the library's
        stream moved since it was read before the last listing (a callback's ``TagChanged``
        — or that listing's own events: one more listing, which records nothing)."""
        if self._listed_at is None or now - self._listed_at >= LIST_EVERY:
            return True
        return self._version() > self._seen_version

    def run_once(self) -> int:
        """1 when a listing recorded a change, else 0."""
        now = self.clock()
        if not self.due(now):
            return 0
        seen = self._version()  # before the call: a change reported meanwhile is not missed
        answer = self.gateway.listing()
        if answer.answer is not Answer.DONE:
            log.warning("corp tags: get_corp_tag_list %s (%s)", answer.answer.value,
                        answer.reason)
            return 0
        live = [asdict(t) for t in answer.tags if not t.deleted]
        position = self.app.corp_tags.record_listing(self.corp_id, live, now)
        self._listed_at, self._seen_version = now, seen
        if position is None:
            return 0
        log.info("corp tags: %d live tags listed, changes recorded", len(live))
        return 1
