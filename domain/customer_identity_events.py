"""Customer events of identity and personal data, and of OneID merges.

Each is ``Customer.<Name>`` by topic and by name (see :func:`domain.customer_state.customer_event`).
"""

from __future__ import annotations

from domain.customer_state import CustomerEvent, CustomerFact, CustomerState, customer_event


# -- identity and personal data --------------------------------------------
@customer_event
class IdentityLinked(CustomerEvent):
    namespace: str
    blind_index: str

    def apply(self, customer: CustomerState) -> None:
        customer.identities[self.blind_index] = self.namespace


@customer_event
class PersonalDataRecorded(CustomerFact):
    """Fields written to the vault (names only; the values are encrypted there)."""

    fields: list[str]

# -- one customer id (OneID) --------------------------------------------------
@customer_event
class CustomerMerged(CustomerEvent):
    """This customer absorbed ``absorbed_id``: its identities (blind indexes) and the
    state its commands decide on (orders, placed orders, coupons, points)."""

    absorbed_id: str
    blind_indexes: list[str]
    orders: dict[str, list[int]]
    placed: dict[str, int]
    coupons: dict[str, bool]
    points: int

    def apply(self, customer: CustomerState) -> None:
        customer.absorbed[self.absorbed_id] = self.blind_indexes
        for blind in self.blind_indexes:
            customer.identities[blind] = "merged"
        customer.orders.update({k: list(v) for k, v in self.orders.items()})
        customer.placed.update(self.placed)
        customer.coupons.update(self.coupons)
        customer.points += self.points


@customer_event
class MergedInto(CustomerEvent):
    """This customer was absorbed by ``survivor_id``; its identities lead there now."""

    survivor_id: str

    def apply(self, customer: CustomerState) -> None:
        customer.merged_into = self.survivor_id


@customer_event
class CustomerUnmerged(CustomerEvent):
    """A merge was undone: ``absorbed_id``, its identities and what it brought are its own
    again (orders, placed orders and coupons it brought; the points it brought)."""

    absorbed_id: str
    blind_indexes: list[str]
    orders: list[str]
    placed: list[str]
    coupons: list[str]
    points: int

    def apply(self, customer: CustomerState) -> None:
        customer.absorbed.pop(self.absorbed_id, None)
        for blind in self.blind_indexes:
            customer.identities.pop(blind, None)
        for order_id in self.orders:
            customer.orders.pop(order_id, None)
        for order_id in self.placed:
            customer.placed.pop(order_id, None)
        for code in self.coupons:
            customer.coupons.pop(code, None)
        customer.points -= self.points


@customer_event
class Erased(CustomerEvent):
    """Personal data erased (PIPL): vault keys destroyed, identities unlinked.

    ``subjects``: this stream and the streams it absorbed. The history stays, so every KPI
    stays true; ``reason`` is a code of :data:`domain.privacy.ERASURE_REASONS`, ``ticket``
    the privacy team's case reference."""

    reason: str
    ticket: str | None
    subjects: list[str]

    def apply(self, customer: CustomerState) -> None:
        customer.erased = True
        customer.identities = {}
        customer.absorbed = {k: [] for k in customer.absorbed}


@customer_event
class UnmergedFrom(CustomerEvent):
    survivor_id: str

    def apply(self, customer: CustomerState) -> None:
        customer.merged_into = None
