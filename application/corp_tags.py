"""The corp's customer-tag library at WeCom (企业客户标签), as the platform last listed it.

Brands manage their tag library in WeCom's admin console; WeCom's callbacks say only that
something changed (``CorpTagLibrary.TagChanged``, recorded by :mod:`application.customers`).
The tag sync (:mod:`workers.corp_tags`) lists the library and records here what differs
from the last listing (``CorpTagLibrary.Listed``): nothing when nothing changed, so a
restarted sync records nothing new. The ``wecom_tag`` read model keeps each platform tag's
WeCom tag id from these facts (matched by group name and tag name).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from application.unit_of_work import EventStore, UnitOfWork
from domain.wecom_directory import CorpTagLibrary

#: Who records the listings.
BY = "service:corp-tags"


class CorpTags:
    def __init__(self, store: EventStore) -> None:
        self.store = store

    def library(self, corp_id: str) -> CorpTagLibrary | None:
        """The corp's library as stored now (None: neither listed nor reported yet)."""
        return self.store.find(CorpTagLibrary.create_id(corp_id), CorpTagLibrary, fresh=True)

    def record_listing(self, corp_id: str, tags: Sequence[Mapping[str, Any]],
                       occurred_at: datetime) -> int | None:
        """Record the live tags WeCom listed; the log position, or None if nothing changed."""
        def decide(unit: UnitOfWork[CorpTagLibrary]) -> None:
            library = self.library(corp_id)
            if library is None:
                library = CorpTagLibrary(corp_id=corp_id, by=BY, occurred_at=occurred_at)
            before = library.version
            library.record_listing(tags, BY, occurred_at)
            if library.version != before:
                unit.add(library)

        return self.store.transact(CorpTagLibrary, decide)[1]
