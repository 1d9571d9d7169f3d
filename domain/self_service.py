"""What a customer may record about themself, with their own token (mini-program / H5).

A documented subset of the ingestion types (docs/customers.md#customers-as-clients):
views, cart, shares, consent, do-not-disturb and opt-out. Everything else — orders,
friendships, tags, points, coupons, referrals — is recorded by the brand's systems.
"""

from __future__ import annotations

from domain.errors import DomainError

SELF_SERVICE_TYPES = frozenset({
    "CONTENT_VIEWED", "PRODUCT_VIEWED", "LIVE_STREAM_WATCHED",  # views
    "ADDED_TO_CART",  # cart
    "CONTENT_FORWARDED",  # shares
    "CONSENT_GIVEN", "CONSENT_WITHDRAWN",  # consent (withdrawing marketing: opting out)
    "DND_SET", "DND_CLEARED",  # do-not-disturb
})


class NotSelfService(DomainError):
    """A customer token recorded a type only the brand's systems may record."""

    code = "NOT_SELF_SERVICE"


def check_self_service(event_type: str) -> None:
    if event_type not in SELF_SERVICE_TYPES:
        raise NotSelfService(f"customers may record only {sorted(SELF_SERVICE_TYPES)}",
                             field="type")
