"""Customer events of conversion: products viewed, carts, coupons, orders and points.

Each is ``Customer.<Name>`` by topic and by name (see :func:`domain.customer_state.customer_event`).
"""

from __future__ import annotations

from typing import Any

from domain.customer_state import CustomerEvent, CustomerFact, CustomerState, customer_event


# -- conversion -------------------------------------------------------------------
@customer_event
class ProductViewed(CustomerFact):
    sku: str
    channel: str


@customer_event
class AddedToCart(CustomerFact):
    sku: str
    quantity: int


@customer_event
class CouponIssued(CustomerEvent):
    coupon_code: str
    value_fen: int

    def apply(self, customer: CustomerState) -> None:
        customer.coupons[self.coupon_code] = False


@customer_event
class CouponRedeemed(CustomerEvent):
    coupon_code: str

    def apply(self, customer: CustomerState) -> None:
        customer.coupons[self.coupon_code] = True


@customer_event
class OrderPlaced(CustomerEvent):
    order_id: str
    amount_fen: int
    items: list[dict[str, Any]]
    channel: str

    def apply(self, customer: CustomerState) -> None:
        customer.placed[self.order_id] = self.amount_fen


@customer_event
class OrderCancelled(CustomerEvent):
    order_id: str

    def apply(self, customer: CustomerState) -> None:
        customer.placed.pop(self.order_id, None)


@customer_event
class OrderPaid(CustomerEvent):
    order_id: str
    amount_fen: int
    items: list[dict[str, Any]]
    channel: str

    def apply(self, customer: CustomerState) -> None:
        customer.placed.pop(self.order_id, None)
        customer.orders[self.order_id] = [self.amount_fen, 0]


@customer_event
class OrderRefunded(CustomerEvent):
    order_id: str
    amount_fen: int

    def apply(self, customer: CustomerState) -> None:
        customer.orders[self.order_id][1] += self.amount_fen


@customer_event
class PointsEarned(CustomerEvent):
    points: int
    reason: str

    def apply(self, customer: CustomerState) -> None:
        customer.points += self.points


@customer_event
class PointsSpent(CustomerEvent):
    points: int
    reason: str

    def apply(self, customer: CustomerState) -> None:
        customer.points -= self.points
