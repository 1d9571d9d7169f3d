"""A customer logs in from the mini-program: their openid (from WeChat's ``code2session``)
resolves to a customer through the blind index; an unknown openid registers a new one.

The unionid, when WeChat gives one, is linked too: a customer already known by it (from
the official account, say) gets the openid linked instead of a new customer being made.
Registration goes through ingestion, so the identities, the vault and OneID behave as for
any other event; client event ids are random (``wechat-login:<uuid>``), never derived from
the openid, so nothing of it is left behind once the customer is erased.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid4

from application.ingestion import Ingestion
from application.unit_of_work import EventStore
from domain.errors import DomainError
from domain.identity import blind_index, parse_identity
from domain.ingestion import EventItem

CHANNEL = "mini_program"


class CustomerLogin:
    def __init__(self, store: EventStore, ingestion: Ingestion) -> None:
        self.store = store
        self.ingestion = ingestion

    def login(self, app_id: str, openid: str, unionid: str | None, occurred_at: datetime
              ) -> tuple[UUID, bool, int | None]:
        """The customer with this openid (registered now if unknown; True then), and the
        log position of what was recorded (None: nothing)."""
        namespace = f"wx_openid:{app_id}"
        mine = blind_index(self.store.blind_key, parse_identity(namespace, openid))
        union = (blind_index(self.store.blind_key, parse_identity("wx_unionid", unionid))
                 if unionid else None)
        owners = self.store.index.owners_of([b for b in (mine, union) if b])
        if mine in owners:
            return owners[mine], False, None
        by = "service:wechat-login"
        if union is not None and union in owners:
            items = [EventItem(f"wechat-login:{uuid4()}", "IDENTITY_LINKED",
                               ("wx_unionid", str(unionid)), occurred_at,
                               link=(namespace, openid))]
        else:
            items = [EventItem(f"wechat-login:{uuid4()}", "REGISTERED", (namespace, openid),
                               occurred_at, channel=CHANNEL)]
            if unionid:
                items.append(EventItem(f"wechat-login:{uuid4()}", "IDENTITY_LINKED",
                                       (namespace, openid), occurred_at,
                                       link=("wx_unionid", unionid)))
        result = self.ingestion.record_batch(items, by, atomic=True)
        outcome = result.outcomes[0]
        if outcome.customer_id is None:
            error = next((o.error for o in result.outcomes if o.error), None)
            raise error or DomainError("the login could not be recorded")
        return outcome.customer_id, union is None or union not in owners, result.last_position
