"""Privacy rules (PIPL): why a customer may be erased, and what a consent is for.

Erasure is crypto-shredding: the customer's vault key is destroyed and their blind-index
entries deleted, while the event log stays as it was (``Customer.Erased`` says who, when
and why). The reason is a code from :data:`ERASURE_REASONS` and an optional ``ticket``
(the privacy team's case reference): free text could carry the very data being erased.
"""

from __future__ import annotations

import re
from datetime import datetime
from uuid import UUID

from domain.customer import Customer
from domain.errors import CustomerErased, InvalidInput

#: Why a customer is erased. ``customer_request``: PIPL Art. 47 (the person asks);
#: ``purpose_fulfilled``: the purpose is achieved or the retention period ended;
#: ``consent_withdrawn``: processing was based on a consent now withdrawn;
#: ``legal_order``: an authority or a court ordered it.
ERASURE_REASONS = frozenset({"customer_request", "purpose_fulfilled", "consent_withdrawn",
                             "legal_order"})

#: What a message is for, by default (campaigns drafted before purposes were recorded,
#: SOP steps): the consent it checks (docs/privacy.md#consent).
DEFAULT_PURPOSE = "marketing"
_PURPOSE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

#: A case reference: letters, digits and ``-_.:/#``, at most 64 characters.
_TICKET = re.compile(r"^[A-Za-z0-9_\-.:/#]{1,64}$")

def check_purpose(purpose: str) -> str:
    """A consent purpose: lower-case letters, digits and ``_``, at most 32 characters."""
    if not _PURPOSE.match(purpose):
        raise InvalidInput("purpose must be 1-32 of a-z, 0-9 and _, starting with a letter",
                           field="purpose")
    return purpose


def check_erasure(reason: str, ticket: str | None) -> None:
    """Refuse a reason outside :data:`ERASURE_REASONS` or a malformed ticket."""
    if reason not in ERASURE_REASONS:
        raise InvalidInput(f"reason must be one of {sorted(ERASURE_REASONS)}", field="reason")
    if ticket is not None and not _TICKET.match(ticket):
        raise InvalidInput("ticket must be 1-64 letters, digits or -_.:/#", field="ticket")


def erase(customer: Customer, absorbed: list[UUID], reason: str, ticket: str | None, by: str,
          occurred_at: datetime) -> list[UUID]:
    """Record ``Customer.Erased`` on ``customer`` for it and ``absorbed`` (every customer
    merged into it, directly or not); returns the subjects whose vault keys and identities
    the caller deletes in the same transaction."""
    check_erasure(reason, ticket)
    refuse_erased(customer, "customerId")
    subjects = [customer.id, *sorted(set(absorbed) - {customer.id})]
    customer.trigger_event(Customer.Erased, reason=reason, ticket=ticket,
                           subjects=[str(s) for s in subjects], by=by, occurred_at=occurred_at)
    return subjects


def refuse_erased(customer: Customer, field: str) -> None:
    """An erased customer is not merged, unmerged nor erased again."""
    if customer.erased:
        raise CustomerErased("this customer's personal data was erased", field=field)
