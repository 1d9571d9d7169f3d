"""``coupon_ledger``: one row per coupon with a redemption code (see ``coupons.sql``).

Coupons reported by clients with their own codes (``COUPON_ISSUED`` items) are
counted on the customer profile, not here: this ledger is the platform's own
coupons, whose codes it verifies.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from psycopg import Cursor
from psycopg.rows import DictRow

from domain.coupon import Coupon
from projections.postgres_views import fold_page

VERSION = 1

Row = dict[str, Any]


def fold(row: Row | None, event: Any, position: int) -> Row | None:
    """A coupon's row after ``event``; an event already folded changes nothing."""
    if isinstance(event, Coupon.Issued):
        if row is not None:
            return row
        kind, _, campaign = event.source.partition(":")
        return {"coupon_id": event.originator_id, "customer_id": UUID(event.customer_id),
                "value_fen": event.value_fen, "source": kind,
                "campaign_id": UUID(campaign) if campaign else None, "issued_by": event.by,
                "issued_at": event.occurred_at, "expires_at": event.expires_at,
                "redeemed_at": None, "redeemed_by": None, "store_id": None,
                "last_version": event.originator_version}
    if row is None or event.originator_version <= row["last_version"]:
        return row
    if isinstance(event, Coupon.Redeemed):
        return dict(row, redeemed_at=event.occurred_at, redeemed_by=event.by,
                    store_id=event.store_id, last_version=event.originator_version)
    return row


class CouponLedgerView:
    name = "coupon_ledger"
    events = (Coupon,)
    version = VERSION

    def bind(self, app: Application[Any]) -> None:
        """Folds events only: needs nothing from the application."""

    def create(self, curs: Cursor[DictRow]) -> None:
        curs.execute((Path(__file__).parent / "coupons.sql").read_text())

    def drop(self, curs: Cursor[DictRow]) -> None:
        curs.execute("DROP TABLE IF EXISTS coupon_ledger CASCADE")

    def clear(self, curs: Cursor[DictRow]) -> None:
        curs.execute("TRUNCATE coupon_ledger")

    def apply_page(self, curs: Cursor[DictRow], events: Sequence[tuple[int, Any]]) -> None:
        fold_page(curs, "coupon_ledger", "coupon_id", events,
                  lambda e: isinstance(e, (Coupon.Issued, Coupon.Redeemed)), fold)
