"""Telling WeCom about channel codes, and giving the tags of the codes customers added through.

:class:`ChannelCodeSync` polls the ``channel_code`` read model for codes WeCom must still be
told about and calls the contact-way API outside any transaction, recording WeCom's answer
as the code's event (``Registered``, ``RegistrationRefused``, ``WeComUpdated``,
``WeComRemoved``):

* **add** — ``add_contact_way`` is not idempotent. A code that had an earlier call (counted
  in ``channel_code_wecom_attempt``) is first *reconciled*: the contact ways created since
  the code was decided are listed and the one carrying its state, if any, is recorded as its
  registration — never a blind second add. A refused add (bad member, no 客户联系) is
  recorded as refused; no answer (5xx, lost reply, network) is retried the same way later.
* **update** / **delete** — idempotent at WeCom (same fields; an unknown config id after a
  delete is taken as removed).

Then each add through a code that gives tags gets them (``Tags.tag``, once per add:
event key ``channel-code:<code>:<customer>``; a tag the library refuses is logged by code
and not retried).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg

from adapters.contact_ways import Answer, ContactWayGateway, ContactWaySpec
from application.app import Siyu
from domain.errors import DomainError
from projections.channel_codes import queries
from workers.lent import Connect
from workers.polling import PollingLoop

log = logging.getLogger(__name__)

BY = "service:channel-codes"
#: Contact ways created this long before the code's decision are listed too (clock skew).
RECONCILE_MARGIN = timedelta(minutes=5)


class ChannelCodeSync(PollingLoop):
    name = "channel-code sync"

    def __init__(self, app: Siyu, connect: Connect, gateway: ContactWayGateway, *,
                 poll_interval: float = 2.0, batch_size: int = 50,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        super().__init__(poll_interval, batch_size)
        self.app = app
        self.connect = connect
        self.gateway = gateway
        self.clock = clock

    def run_once(self) -> int:
        with self.connect() as conn:
            work = queries.wecom_work(conn, self.batch_size)
            done = sum(self._sync(conn, w) for w in work)
            return done + self._tag(conn)

    # -- WeCom -------------------------------------------------------------------------
    def _sync(self, conn: psycopg.Connection[Any], work: dict[str, Any]) -> int:
        code_id: UUID = work["code_id"]
        code = self.app.channel_codes.get(code_id)
        job = code.wecom_work
        if job is None:
            return 0  # the read model is behind the code
        spec = ContactWaySpec(code.name, code.state, code.user_ids, code.skip_verify)
        revision = code.revision
        if job == "add":
            result = None
            if work["attempts"]:
                since = (work["created_at"] - RECONCILE_MARGIN).timestamp()
                found = self.gateway.find(code.state, since)
                if found.answer is Answer.DONE:
                    result = found
                elif found.reason != "not found":
                    queries.note_attempt(conn, code_id, found.reason)
                    return 0  # cannot tell yet: never add blindly
            if result is None:
                queries.note_attempt(conn, code_id, None)
                result = self.gateway.add(spec)
            if result.answer is Answer.DONE and result.config_id:
                self.app.channel_codes.record_registered(code_id, result.config_id,
                                                         result.qr_code, revision, self.clock())
            elif result.answer is Answer.REFUSED:
                self.app.channel_codes.record_refused(code_id, result.reason, self.clock())
        elif job == "update" and code.config_id:
            result = self.gateway.update(code.config_id, spec)
            if result.answer is Answer.DONE:
                self.app.channel_codes.record_updated(code_id, revision, self.clock())
        elif job == "delete" and code.config_id:
            result = self.gateway.delete(code.config_id)
            if result.answer is Answer.DONE or result.reason == "errcode 40058":
                self.app.channel_codes.record_removed(code_id, self.clock())
        else:
            return 0
        log.info("channel code %s: %s: %s", code_id, job, result.reason)
        return 1

    # -- tags --------------------------------------------------------------------------
    def _tag(self, conn: psycopg.Connection[Any]) -> int:
        rows = queries.tag_work(conn, self.batch_size)
        for row in rows:
            key = f"channel-code:{row['code_id']}:{row['customer_id']}"
            outcome = "tagged"
            if key not in self.app.index.known_event_keys([key]):
                try:
                    self.app.tags.tag(row["customer_id"], row["tags"], BY,
                                      f"channel code {row['code_id']}", row["added_at"],
                                      event_key=key)
                except DomainError as error:
                    outcome = f"refused:{error.code}"
                    log.warning("channel code %s: tags refused for a customer: %s",
                                row["code_id"], error.code)
            queries.note_tagged(conn, row["code_id"], row["customer_id"], outcome)
        return len(rows)
