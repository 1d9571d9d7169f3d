"""The ``StaffAlert`` aggregate: one front-line alert, raised once per cause.

Kinds (seed 001's front-line alerts):

* ``win_back`` — a customer deleted a staff member (流失): a task to win them back
  (二次挽回) for the staff member whose friend it was, and the owner if another;
* ``chat_timeout`` — a customer message left unanswered past the first limit: to the
  staff member; ``chat_timeout_escalated`` — past the second limit: to the managers;
* ``sensitive_word`` — a staff message hit the lexicon: to the managers, with the
  category, term and the vault reference of the message (never its text);
* ``customer_sensitive_word`` — a customer's message hit it (abuse of the member, a
  customer proposing a private or diverted order): to the managers of the member
  serving that chat, with the same context.
* ``projection_quarantined`` — a read model set an event aside: to the managers, with
  the read model, the position and the error's class (``quarantine:<view>:<position>``).

An alert's id derives from its **key** (the cause: ``win_back:<customer>:<version>``,
``chat_timeout:<customer>:<staff>:<since>:<level>``, ``sensitive:<customer>:<version>``),
so raising it twice — two schedulers, a redelivered message — records it once. Status:
``open`` → ``acknowledged`` → ``resolved`` (or straight to resolved), each with who and
when; deliveries to each recipient are recorded as they come back from the gateway.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import AlertClosed, InvalidInput

_NS = uuid5(NAMESPACE_URL, "https://siyu.invalid/staff-alert")

WIN_BACK, CHAT_TIMEOUT, CHAT_TIMEOUT_ESCALATED, SENSITIVE_WORD = (
    "win_back", "chat_timeout", "chat_timeout_escalated", "sensitive_word")
CUSTOMER_SENSITIVE_WORD = "customer_sensitive_word"
#: A read model set an event aside (projections/quarantine.py): to the managers, once per
#: (read model, position); ``staff_id`` is :data:`SYSTEM`.
PROJECTION_QUARANTINED = "projection_quarantined"
SYSTEM = "system"
KINDS = frozenset({WIN_BACK, CHAT_TIMEOUT, CHAT_TIMEOUT_ESCALATED, SENSITIVE_WORD,
                   CUSTOMER_SENSITIVE_WORD, PROJECTION_QUARANTINED})
OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"
NOTE_MAX = 500


def alert_id(key: str) -> UUID:
    return uuid5(_NS, key)


class StaffAlert(Aggregate):
    class Event(Aggregate.Event):
        by: str
        occurred_at: datetime

    class Raised(Aggregate.Created):
        """``staff_id``: whose conduct or customer it concerns; ``recipients``: staff ids."""

        alert_key: str
        kind: str
        staff_id: str
        customer_id: str | None
        recipients: list[str]
        context: dict[str, Any]
        by: str
        occurred_at: datetime

    class Delivered(Event):
        recipient: str
        gateway_message_id: str

    class DeliveryFailed(Event):
        recipient: str
        reason: str

    class Acknowledged(Event):
        pass

    class Resolved(Event):
        note: str

    @classmethod
    def raise_for(cls, key: str, kind: str, staff_id: str, customer_id: str | None,
                  recipients: list[str], context: dict[str, Any], by: str,
                  occurred_at: datetime) -> StaffAlert:
        if kind not in KINDS:
            raise InvalidInput(f"unknown alert kind {kind!r}", field="kind")
        return cls._create(cls.Raised, id=alert_id(key), alert_key=key, kind=kind,
                           staff_id=staff_id, customer_id=customer_id,
                           recipients=sorted(set(recipients)), context=context, by=by,
                           occurred_at=occurred_at)

    @event(Raised)
    def __init__(self, alert_key: str, kind: str, staff_id: str, customer_id: str | None,
                 recipients: list[str], context: dict[str, Any], by: str,
                 occurred_at: datetime) -> None:
        self.alert_key = alert_key
        self.kind = kind
        self.staff_id = staff_id
        self.customer_id = customer_id
        self.recipients = list(recipients)
        self.context = dict(context)
        self.status = OPEN
        self.outcomes: dict[str, str] = {}  # recipient -> "delivered" | "failed"

    # == commands ==========================================================================
    def record_delivery(self, recipient: str, gateway_message_id: str | None,
                        failure: str | None, by: str, occurred_at: datetime) -> bool:
        """Record a recipient's outcome once; False if it was recorded already."""
        if recipient in self.outcomes:
            return False
        if failure is None:
            self._delivered(recipient=recipient, gateway_message_id=gateway_message_id or "",
                            by=by, occurred_at=occurred_at)
        else:
            self._failed(recipient=recipient, reason=failure, by=by, occurred_at=occurred_at)
        return True

    def acknowledge(self, by: str, occurred_at: datetime) -> bool:
        if self.status == RESOLVED:
            raise AlertClosed("the alert is resolved", field="alertId")
        if self.status == ACKNOWLEDGED:
            return False
        self._acknowledge(by=by, occurred_at=occurred_at)
        return True

    def resolve(self, note: str, by: str, occurred_at: datetime) -> bool:
        if len(note) > NOTE_MAX:
            raise InvalidInput(f"note must be at most {NOTE_MAX} characters", field="note")
        if self.status == RESOLVED:
            return False
        self._resolve(note=note.strip(), by=by, occurred_at=occurred_at)
        return True

    # == events ==============================================================================
    @event(Delivered)
    def _delivered(self, recipient: str, gateway_message_id: str, by: str,
                   occurred_at: datetime) -> None:
        self.outcomes[recipient] = "delivered"

    @event(DeliveryFailed)
    def _failed(self, recipient: str, reason: str, by: str, occurred_at: datetime) -> None:
        self.outcomes[recipient] = "failed"

    @event(Acknowledged)
    def _acknowledge(self, by: str, occurred_at: datetime) -> None:
        self.status = ACKNOWLEDGED

    @event(Resolved)
    def _resolve(self, note: str, by: str, occurred_at: datetime) -> None:
        self.status = RESOLVED
