"""The ``coupon_ledger`` read model: its fold and view (:mod:`.view`, ``coupons.sql``) and the
queries the API answers from it (:mod:`.queries`)."""

from projections.coupons.view import CouponLedgerView, fold

__all__ = ["CouponLedgerView", "fold"]
